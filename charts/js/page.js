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
    /* The heatmap series first: series draw in the order they were added, candles on top. */
    var heat = scene.heatmap && scene.candles.n ? window.LiqHeatmap.add(chart) : null;
    var series = chart.addCandlestickSeries();
    var handle = window.LiqLevels.mount(chart, series, scene, main, panes);
    state.chart = chart;
    state.series = series;
    if (heat) {
      state.heatmap = window.LiqHeatmap.fill(heat, scene, handle, series, main);
      container.dataset.heatmapCells = String(state.heatmap.cells);
    }
    window.LiqLevels.report(container, handle.counts);
  } catch (err) {
    state.error = String((err && err.stack) || err);
    throw err;
  }
})();
