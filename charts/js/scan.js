;/* The scan's page: one small Lightweight Charts chart per card; text only as textContent. */
(function () {
  'use strict';
  var state = window.__liqlevels = { ready: false, error: null, cards: 0, bands: 0, marks: 0 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bars(c) {
    var out = [], t = c.t0;
    for (var i = 0; i < c.n; i++) {
      if (i) t += c.dt[i - 1];
      out.push({ time: t, open: c.o[i], high: c.h[i], low: c.l[i], close: c.c[i] });
    }
    return out;
  }

  function card(grid, data, theme) {
    var box = el('div', 'card');
    var head = el('div', 'card-head');
    head.appendChild(el('span', 'card-title', data.title));
    box.appendChild(head);
    data.lines.forEach(function (line) { box.appendChild(el('div', 'card-sub', line)); });
    var holder = el('div', 'card-chart');
    box.appendChild(holder);
    grid.appendChild(box);
    var chart = LightweightCharts.createChart(holder, {
      autoSize: true,
      layout: { background: { color: theme.background }, textColor: theme.text, fontSize: 10 },
      grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, timeVisible: true },
      handleScroll: false, handleScale: false
    });
    var series = chart.addCandlestickSeries({
      upColor: theme.up, downColor: theme.down, wickUpColor: theme.up,
      wickDownColor: theme.down, borderVisible: false, priceFormat: data.candles.format
    });
    series.setData(bars(data.candles));
    data.bands.forEach(function (b) {
      series.createPriceLine({ price: b.price, color: theme[b.side + 'Band'], lineWidth: b.width,
        lineStyle: 0, axisLabelVisible: false, title: '' });
      state.bands += 1;
    });
    data.marks.forEach(function (m) {
      series.createPriceLine({ price: m.price, color: theme[m.side], lineWidth: 1,
        lineStyle: 2, axisLabelVisible: true, title: m.label });
      state.marks += 1;
    });
    /* Keep the nearest clusters in view: the price scale covers the candles and the marks. */
    var prices = data.marks.map(function (m) { return m.price; });
    if (prices.length) {
      var lo = Math.min.apply(null, prices), hi = Math.max.apply(null, prices);
      series.applyOptions({ autoscaleInfoProvider: function (original) {
        var res = original();
        if (res === null) return res;
        res.priceRange.minValue = Math.min(res.priceRange.minValue, lo);
        res.priceRange.maxValue = Math.max(res.priceRange.maxValue, hi);
        return res;
      } });
    }
    chart.timeScale().fitContent();
    state.cards += 1;
  }

  try {
    var scene = JSON.parse(document.getElementById('liqlevels-scene').textContent);
    document.getElementById('liqlevels-title').textContent = scene.title;
    document.getElementById('liqlevels-sub').textContent = scene.subtitle;
    var grid = document.getElementById('liqlevels-grid');
    scene.cards.forEach(function (data) { card(grid, data, scene.theme); });
    grid.dataset.cards = String(state.cards);
    requestAnimationFrame(function () { state.ready = true; });
  } catch (err) {
    state.error = String((err && err.stack) || err);
    throw err;
  }
})();
