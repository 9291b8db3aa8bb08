;/* liqlevels charts: liquidation lines and price-axis profiles for Lightweight Charts v4.
 * Each drawing is a series primitive (attachPrimitive): data -> pane view -> renderer.
 * Text from the scene (titles, symbols, names) only ever reaches the page as textContent.
 */
(function (root) {
  'use strict';

  /* ---------------------------------------------------------------- level lines */

  function groupByStyle(k, count) {
    var groups = [];
    for (var g = 0; g < count; g++) groups.push([]);
    for (var i = 0; i < k.length; i++) groups[k[i]].push(i);
    return groups;
  }

  function LinesRenderer(source) { this._src = source; }
  LinesRenderer.prototype.draw = function (target) {
    var src = this._src, d = src.data;
    if (!src.chart || !src.series || !d || d.s.length === 0) return;
    var ts = src.chart.timeScale(), range = ts.getVisibleLogicalRange();
    if (!range) return;
    target.useBitmapCoordinateSpace(function (scope) {
      for (var g = 0; g < src.groups.length; g++) {
        if (src.groups[g].length) strokeGroup(scope, src, d.styles[g], src.groups[g], range, ts);
      }
    });
  };

  function strokeGroup(scope, src, style, members, range, ts) {
    var ctx = scope.context, hr = scope.horizontalPixelRatio, vr = scope.verticalPixelRatio;
    var d = src.data, height = scope.bitmapSize.height;
    var lw = Math.max(1, Math.round(style.width * vr)), half = (lw % 2) ? 0.5 : 0;
    ctx.lineWidth = lw;
    ctx.strokeStyle = style.color;
    ctx.setLineDash(style.dash ? [Math.round(6 * hr), Math.round(4 * hr)] : []);
    ctx.beginPath();
    for (var m = 0; m < members.length; m++) {
      var i = members[m];
      if (d.e[i] < range.from - 1 || d.s[i] > range.to + 1) continue;
      var y = src.series.priceToCoordinate(d.p[i]);
      if (y === null) continue;
      var yb = Math.round(y * vr) + half;
      if (yb < -lw || yb > height + lw) continue;
      var xa = Math.round(ts.logicalToCoordinate(d.s[i]) * hr);
      var xb = Math.round(ts.logicalToCoordinate(d.e[i]) * hr);
      if (xb - xa < 2) xb = xa + 2;
      ctx.moveTo(xa, yb);
      ctx.lineTo(xb, yb);
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function LinesPaneView(source) { this._renderer = new LinesRenderer(source); }
  LinesPaneView.prototype.zOrder = function () { return 'normal'; };
  LinesPaneView.prototype.renderer = function () { return this._renderer; };

  /** Horizontal segments from bar s[i] to bar e[i] at price p[i], styled by styles[k[i]]. */
  function LevelLines(data) {
    this.chart = null;
    this.series = null;
    this._views = [new LinesPaneView(this)];
    this.setData(data);
  }
  LevelLines.prototype.setData = function (data) {
    this.data = data;
    this.groups = groupByStyle(data.k, data.styles.length);
    if (this._requestUpdate) this._requestUpdate();
  };
  LevelLines.prototype.attached = function (param) {
    this.chart = param.chart;
    this.series = param.series;
    this._requestUpdate = param.requestUpdate;
  };
  LevelLines.prototype.detached = function () { this.chart = this.series = null; };
  LevelLines.prototype.updateAllViews = function () {};
  LevelLines.prototype.paneViews = function () { return this._views; };
  LevelLines.prototype.count = function () { return this.data.s.length; };

  /* ---------------------------------------------------------- price-axis profile */

  function rowTotals(values) {
    var totals = new Array(values.length), max = 0;
    for (var i = 0; i < values.length; i++) {
      var t = 0;
      for (var j = 0; j < values[i].length; j++) t += values[i][j] > 0 ? values[i][j] : 0;
      totals[i] = t;
      if (t > max) max = t;
    }
    return { totals: totals, max: max };
  }

  function ProfileRenderer(source) { this._src = source; }
  ProfileRenderer.prototype.draw = function (target) {
    var src = this._src, p = src.data;
    /* Degenerate input draws nothing: no rows, an all-zero or non-finite maximum. */
    if (!src.series || !p || p.lo.length === 0 || !(src.max > 0) || !isFinite(src.max)) return;
    target.useBitmapCoordinateSpace(function (scope) {
      for (var i = 0; i < p.lo.length; i++) {
        if (src.totals[i] > 0) fillRow(scope, src, i);
      }
    });
  };

  function rowBand(scope, series, lo, hi) {
    var vr = scope.verticalPixelRatio;
    var y1 = series.priceToCoordinate(hi), y2 = series.priceToCoordinate(lo);
    if (y1 === null || y2 === null) return null;
    var top = Math.round(Math.min(y1, y2) * vr), bottom = Math.round(Math.max(y1, y2) * vr);
    var gap = Math.max(1, Math.round(vr));
    if (bottom - top >= 3 * gap) bottom -= gap;
    if (bottom - top < 1) bottom = top + 1;
    if (bottom < 0 || top > scope.bitmapSize.height) return null;
    return { top: top, height: bottom - top };
  }

  function fillRow(scope, src, i) {
    var p = src.data, band = rowBand(scope, src.series, p.lo[i], p.hi[i]);
    if (!band) return;
    var ctx = scope.context, w = scope.bitmapSize.width, full = w * p.width;
    var right = p.edge !== 'left', x = right ? w : 0;
    for (var j = 0; j < p.v[i].length; j++) {
      var v = p.v[i][j];
      if (!(v > 0)) continue;
      var len = Math.max(1, Math.round(v / src.max * full));
      ctx.fillStyle = p.colors[j];
      ctx.fillRect(right ? x - len : x, band.top, len, band.height);
      x += right ? -len : len;
    }
  }

  function ProfilePaneView(source) { this._renderer = new ProfileRenderer(source); }
  ProfilePaneView.prototype.zOrder = function () { return 'bottom'; };
  ProfilePaneView.prototype.renderer = function () { return this._renderer; };

  /** Bars between prices lo[i] and hi[i], stacked v[i][j] in colors[j], pinned to an edge. */
  function PriceProfile(data) {
    this.series = null;
    this._views = [new ProfilePaneView(this)];
    this.setData(data);
  }
  PriceProfile.prototype.setData = function (data) {
    var sums = rowTotals(data.v);
    this.data = data;
    this.totals = sums.totals;
    this.max = sums.max;
    if (this._requestUpdate) this._requestUpdate();
  };
  PriceProfile.prototype.attached = function (param) {
    this.series = param.series;
    this._requestUpdate = param.requestUpdate;
  };
  PriceProfile.prototype.detached = function () { this.series = null; };
  PriceProfile.prototype.updateAllViews = function () {};
  PriceProfile.prototype.paneViews = function () { return this._views; };
  PriceProfile.prototype.count = function () {
    if (!(this.max > 0) || !isFinite(this.max)) return 0;
    return this.totals.filter(function (t) { return t > 0; }).length;
  };

  /* ------------------------------------------------- a line by bar, as a primitive */

  function PolylineRenderer(source) { this._src = source; }
  PolylineRenderer.prototype.draw = function (target) {
    var src = this._src, v = src.values;
    if (!src.chart || !src.series || !v.length) return;
    var ts = src.chart.timeScale(), range = ts.getVisibleLogicalRange();
    if (!range) return;
    var from = Math.max(0, Math.floor(range.from) - 1), to = Math.min(v.length - 1, Math.ceil(range.to) + 1);
    target.useBitmapCoordinateSpace(function (scope) {
      var ctx = scope.context, hr = scope.horizontalPixelRatio, vr = scope.verticalPixelRatio;
      ctx.lineWidth = Math.max(1, Math.round(src.width * vr));
      ctx.strokeStyle = src.color;
      ctx.beginPath();
      var pen = false;
      for (var i = from; i <= to; i++) {
        var y = v[i] === null ? null : src.series.priceToCoordinate(v[i]);
        if (y === null) { pen = false; continue; }
        var x = ts.logicalToCoordinate(i) * hr;
        if (pen) ctx.lineTo(x, y * vr); else ctx.moveTo(x, y * vr);
        pen = true;
      }
      ctx.stroke();
    });
  };

  function PolylinePaneView(source) { this._renderer = new PolylineRenderer(source); }
  PolylinePaneView.prototype.renderer = function () { return this._renderer; };

  /**
   * values[i] (or null) at bar i, on the price scale of the series it is attached to: one
   * more line without one more series (each series over 100k bars costs a merge of times).
   */
  function Polyline(values, color, width) {
    this.values = values;
    this.color = color;
    this.width = width || 1;
    this.chart = this.series = null;
    this._views = [new PolylinePaneView(this)];
  }
  Polyline.prototype.attached = function (param) {
    this.chart = param.chart;
    this.series = param.series;
  };
  Polyline.prototype.detached = function () { this.chart = this.series = null; };
  Polyline.prototype.updateAllViews = function () {};
  Polyline.prototype.paneViews = function () { return this._views; };
  Polyline.prototype.autoscaleInfo = function (from, to) {
    var lo = Infinity, hi = -Infinity, v = this.values;
    for (var i = Math.max(0, Math.floor(from)); i <= Math.min(v.length - 1, Math.ceil(to)); i++) {
      if (v[i] === null) continue;
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
    return hi >= lo ? { priceRange: { minValue: lo, maxValue: hi } } : null;
  };

  /* -------------------------------------------------------------------- legend */

  var CSS = [
    '.liqlevels-legend{position:absolute;left:10px;top:8px;z-index:3;pointer-events:none;',
    'font:12px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;',
    'background:rgba(14,17,23,0.55);border-radius:4px;padding:6px 9px;max-width:60%}',
    '.liqlevels-legend .ll-title{font-size:14px;font-weight:600}',
    '.liqlevels-legend .ll-sub{opacity:0.75}',
    '.liqlevels-legend .ll-row{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px}',
    '.liqlevels-legend .ll-item{display:inline-flex;align-items:center;gap:4px;white-space:nowrap}',
    '.liqlevels-legend .ll-line{display:inline-block;width:18px;height:0;border-top:3px solid}',
    '.liqlevels-legend .ll-box{display:inline-block;width:10px;height:10px;border-radius:2px}',
    '.ll-pane{position:relative;min-height:0;border-top:1px solid rgba(255,255,255,0.08)}',
    '.ll-pane-label{position:absolute;left:10px;top:3px;z-index:3;pointer-events:none;',
    'font:11px -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;opacity:0.75}'
  ].join('');

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function item(swatch, text) {
    var node = el('span', 'll-item');
    node.appendChild(swatch);
    node.appendChild(el('span', null, text));
    return node;
  }

  function lineSwatch(color, dashed) {
    var s = el('span', 'll-line');
    s.style.borderTopColor = color;
    if (dashed) s.style.borderTopStyle = 'dashed';
    return s;
  }

  function boxSwatch(color) {
    var s = el('span', 'll-box');
    s.style.background = color;
    return s;
  }

  function row(parent, items) {
    var r = el('div', 'll-row');
    items.forEach(function (x) { r.appendChild(x); });
    parent.appendChild(r);
    return r;
  }

  function lineRows(box, lines, theme) {
    if (!lines.leverages.length) {
      row(box, [el('span', 'll-sub', 'no liquidation lines')]);
      return;
    }
    row(box, lines.leverages.map(function (l) { return item(lineSwatch(l.color), l.label); }));
    row(box, [
      item(lineSwatch(theme.text), 'long'),
      item(lineSwatch(theme.text, true), 'short'),
      el('span', 'll-sub', 'width = tier 1 / 2 / 3')
    ]);
    if (lines.drawn < lines.total) {
      row(box, [el('span', 'll-sub', 'newest ' + lines.drawn + ' of ' + lines.total + ' lines')]);
    }
  }

  function ensureStyle() {
    if (document.getElementById('liqlevels-style')) return;
    var style = el('style', null, CSS);
    style.id = 'liqlevels-style';
    document.head.appendChild(style);
  }

  function buildLegend(container, scene) {
    var box = el('div', 'liqlevels-legend');
    box.style.color = scene.theme.text;
    if (scene.title) box.appendChild(el('div', 'll-title', scene.title));
    if (scene.subtitle) box.appendChild(el('div', 'll-sub', scene.subtitle));
    lineRows(box, scene.lines, scene.theme);
    scene.profiles.forEach(function (p) {
      var items = p.label ? [el('span', 'll-sub', p.label)] : [];
      p.names.forEach(function (n, j) { items.push(item(boxSwatch(p.colors[j]), n)); });
      row(box, items);
    });
    if (scene.oi) {
      var tiers = scene.theme.tiers.map(function (c, t) { return item(boxSwatch(c), 'tier ' + t); });
      row(box, [el('span', 'll-sub', 'OI delta')].concat(tiers));
    }
    container.appendChild(box);
    return box;
  }

  /* ------------------------------------------------------------- chart set-up */

  /* Bar times (epoch seconds) from the first bar's time and the gaps between bars. */
  function barTimes(c) {
    var t = new Array(c.n);
    if (c.n) t[0] = c.t0;
    for (var i = 1; i < c.n; i++) t[i] = t[i - 1] + c.dt[i - 1];
    return t;
  }

  function candleData(c, times) {
    var out = new Array(c.n);
    for (var i = 0; i < c.n; i++) {
      out[i] = { time: times[i], open: c.o[i], high: c.h[i], low: c.l[i], close: c.c[i] };
    }
    return out;
  }

  function valueData(times, values, colors) {
    var out = new Array(times.length);
    for (var i = 0; i < times.length; i++) {
      var v = values[i];
      out[i] = v === null ? { time: times[i] } : { time: times[i], value: v };
      if (colors && v !== null) out[i].color = colors[i];
    }
    return out;
  }

  var SCALE_WIDTH = 76;

  function chartOptions(theme) {
    return {
      layout: { background: { type: 'solid', color: theme.background }, textColor: theme.text },
      grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      rightPriceScale: { borderVisible: false, minimumWidth: SCALE_WIDTH },
      crosshair: { mode: 0 }
    };
  }

  function applyTheme(chart, series, theme, format, withPanes) {
    var opts = chartOptions(theme);
    if (withPanes) opts.timeScale.visible = false;
    chart.applyOptions(opts);
    series.applyOptions({
      upColor: theme.up, downColor: theme.down, borderUpColor: theme.up,
      borderDownColor: theme.down, wickUpColor: theme.up, wickDownColor: theme.down,
      priceLineVisible: false, priceFormat: format
    });
    series.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.08 } });
  }

  /* Compact numbers for OI axes: 1.2K, 3.4M, 5.6B. */
  function compact(v) {
    var a = Math.abs(v), units = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) return (v / units[i][0]).toFixed(2) + units[i][1];
    }
    return a >= 100 ? v.toFixed(0) : v.toPrecision(3);
  }

  function paneChart(parent, theme, weight, label, showTime) {
    var box = el('div', 'll-pane');
    box.style.flex = weight + ' 1 0';
    parent.appendChild(box);
    var opts = chartOptions(theme);
    opts.autoSize = true;
    opts.timeScale.visible = showTime;
    var chart = root.LightweightCharts.createChart(box, opts);
    var tag = el('div', 'll-pane-label', label);
    tag.style.color = theme.text;
    box.appendChild(tag);
    return chart;
  }

  /* Two panes under the candles: open interest; OI delta coloured by tier with its baseline. */
  function addOiPanes(parent, times, oi, theme) {
    var quiet = { priceLineVisible: false, lastValueVisible: false,
      priceFormat: { type: 'custom', formatter: compact, minMove: 1e-9 } };
    var oiChart = paneChart(parent, theme, 2, 'open interest', false);
    var line = oiChart.addLineSeries(Object.assign({ color: theme.oi, lineWidth: 1 }, quiet));
    line.setData(valueData(times, oi.oi));
    var dChart = paneChart(parent, theme, 3, 'OI delta by tier, baseline', true);
    var colors = oi.tier.map(function (t) { return theme.tiers[Math.min(t || 0, 3)]; });
    var bars = dChart.addHistogramSeries(quiet);
    bars.setData(valueData(times, oi.delta, colors));
    bars.attachPrimitive(new Polyline(oi.baseline, theme.baseline, 1));
    return [oiChart, dChart];
  }

  /* Keep the panes' time scales on the same bars as the main chart. */
  function syncTimeScales(charts) {
    var busy = false;
    charts.forEach(function (c) {
      c.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
        if (busy || !range) return;
        busy = true;
        try {
          charts.forEach(function (o) { if (o !== c) o.timeScale().setVisibleLogicalRange(range); });
        } finally { busy = false; }
      });
    });
  }

  function frame(chart, count, view) {
    if (!count) return;
    var shown = view.bars ? Math.min(view.bars, count) : count;
    var room = view.profileWidth > 0 ? view.profileWidth / (1 - view.profileWidth) : 0;
    var right = Math.ceil(shown * room) + 3;
    chart.timeScale().setVisibleLogicalRange({ from: count - shown - 0.5, to: count - 1 + right });
  }

  /**
   * Draw a scene (the JSON charts.Scene writes) on an existing chart and candle series; the
   * legend goes in `container`, the OI panes (if the scene has them) in the flex box `panes`.
   * Returns {counts: {candles, lines, bars}, lines, profiles, oi: [pane charts], legend (its
   * element), times (bar times, epoch seconds)}.
   */
  function mount(chart, series, scene, container, panes) {
    var withPanes = !!(scene.oi && panes);
    ensureStyle();
    applyTheme(chart, series, scene.theme, scene.candles.format, withPanes);
    var times = barTimes(scene.candles);
    series.setData(candleData(scene.candles, times));
    var lines = new LevelLines(scene.lines);
    series.attachPrimitive(lines);
    var profiles = scene.profiles.map(function (p) {
      var prim = new PriceProfile(p);
      series.attachPrimitive(prim);
      return prim;
    });
    var oi = withPanes ? addOiPanes(panes, times, scene.oi, scene.theme) : [];
    if (withPanes) syncTimeScales([chart].concat(oi));
    frame(chart, times.length, scene.view);
    var legend = buildLegend(container, scene);
    var bars = profiles.reduce(function (a, p) { return a + p.count(); }, 0);
    var counts = { candles: times.length, lines: lines.count(), bars: bars };
    return { counts: counts, lines: lines, profiles: profiles, oi: oi, legend: legend,
             times: times };
  }

  /** Publish counts for tests and tools: window.__liqlevels and data-* on the container. */
  function report(container, counts) {
    var state = root.__liqlevels = root.__liqlevels || {};
    Object.keys(counts).forEach(function (k) {
      state[k] = counts[k];
      container.dataset[k] = String(counts[k]);
    });
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        state.ready = true;
        container.dataset.ready = 'true';
      });
    });
    return state;
  }

  /** Draw a scene in lightweight-charts' window, on its chart handler `h` (h.chart, h.series). */
  function mountWindow(h, scene) {
    var panes = null;
    if (scene.oi) {
      h.scale.height = 0.7;
      h.reSize();
      panes = el('div');
      panes.style.cssText = 'position:fixed;left:0;right:0;bottom:0;height:30%;' +
        'display:flex;flex-direction:column;z-index:2';
      document.body.appendChild(panes);
    }
    var handle = mount(h.chart, h.series, scene, document.body, panes);
    report(document.body, handle.counts);
    return handle;
  }

  root.LiqLevels = {
    buildLegend: buildLegend,
    frame: frame,
    LevelLines: LevelLines,
    Polyline: Polyline,
    PriceProfile: PriceProfile,
    mount: mount,
    mountWindow: mountWindow,
    report: report
  };
})(window);
