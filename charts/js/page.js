;/* Boot the self-contained page: read the scene JSON, build the chart, publish the counts. */
(function () {
  'use strict';
  var state = window.__liqlevels = { ready: false, error: null };
  try {
    var scene = JSON.parse(document.getElementById('liqlevels-scene').textContent);
    var container = document.getElementById('liqlevels');
    var main = document.getElementById('liqlevels-main');
    var panes = document.getElementById('liqlevels-panes');
    if (scene.oi) panes.style.display = 'flex';
    var chart = LightweightCharts.createChart(main, { autoSize: true });
    var series = chart.addCandlestickSeries();
    var handle = window.LiqLevels.mount(chart, series, scene, main, panes);
    state.chart = chart;
    state.series = series;
    window.LiqLevels.report(container, handle.counts);
  } catch (err) {
    state.error = String((err && err.stack) || err);
    throw err;
  }
})();
