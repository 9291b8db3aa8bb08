;/* liqlevels heatmap: a Lightweight Charts v4 custom series drawn behind the candles.
 * data (packed columns, charts/_heatmap.py) -> pane view (one item per column) -> renderer.
 * Text reaches the page only as textContent.
 */
(function (root) {
  'use strict';

  /* ------------------------------------------------------------------ colours */

  function hexRgb(c) { return [1, 3, 5].map(function (i) { return parseInt(c.substr(i, 2), 16); }); }

  /* 256 fill styles along the ramp, opacity rising with the value. */
  function colorTable(ramp, alpha) {
    var stops = ramp.map(function (r) { return { at: r[0], rgb: hexRgb(r[1]) }; });
    var table = new Array(256);
    for (var i = 0; i < 256; i++) {
      var f = i / 255, j = 1;
      while (j < stops.length - 1 && stops[j].at < f) j++;
      var a = stops[j - 1], b = stops[j], w = (f - a.at) / ((b.at - a.at) || 1);
      var rgb = a.rgb.map(function (v, m) { return Math.round(v + (b.rgb[m] - v) * w); });
      var op = alpha[0] + (alpha[1] - alpha[0]) * f;
      table[i] = 'rgba(' + rgb.join(',') + ',' + op.toFixed(3) + ')';
    }
    return table;
  }

  /* ------------------------------------------------------------------ the data */

  /** The packed heatmap with its totals and colour index per cell; `drawable` cells > 0. */
  function HeatData(h) {
    var n = h.k.length, tot = new Float64Array(n), shade = new Uint8Array(n), drawable = 0;
    var ok = h.vmax > 0 && isFinite(h.vmax) && h.bin > 0, rows = 0;
    for (var i = 0; i < n; i++) {
      if (h.k[i] >= rows) rows = h.k[i] + 1;
      tot[i] = ((h.l[i] || 0) + (h.s[i] || 0)) * h.scale;
      if (!ok || !(tot[i] > 0)) continue;
      shade[i] = Math.min(255, Math.round(tot[i] / h.vmax * 255));
      drawable++;
    }
    this.h = h;
    this.rows = rows;
    this.total = tot;
    this.shade = shade;
    this.drawable = ok ? drawable : 0;
    this.colors = colorTable(h.ramp, h.alpha);
    this._bitmap = undefined;
  }

  var MAX_BITMAP = 8e6;  /* pixels: beyond this (very sparse, very tall maps) draw rectangles */

  /* One pixel per cell (column c, bin k at row rows - 1 - k), built once: each paint then
   * scales it with a few drawImage calls instead of a fillRect per cell. */
  HeatData.prototype.bitmap = function () {
    if (this._bitmap !== undefined) return this._bitmap;
    var h = this.h, w = h.b.length, rows = this.rows;
    this._bitmap = null;
    if (!this.drawable || w * rows > MAX_BITMAP) return null;
    var canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = rows;
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(w, rows), px = img.data;
    var rgba = this.colors.map(function (c) { return c.slice(5, -1).split(',').map(Number); });
    for (var c = 0; c < w; c++) {
      for (var i = h.off[c]; i < h.off[c + 1]; i++) {
        if (!(this.total[i] > 0)) continue;
        var o = ((rows - 1 - h.k[i]) * w + c) * 4, q = rgba[this.shade[i]];
        px[o] = q[0]; px[o + 1] = q[1]; px[o + 2] = q[2]; px[o + 3] = Math.round(q[3] * 255);
      }
    }
    ctx.putImageData(img, 0, 0);
    this._bitmap = canvas;
    return canvas;
  };

  /* The column holding bar `bar` (the last column starting at or before it), or -1. */
  HeatData.prototype.column = function (bar) {
    var b = this.h.b, lo = 0, hi = b.length - 1, found = -1;
    if (!b.length || bar > this.h.n - 1) return -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (b[mid] <= bar) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };

  /* The cell of column `c` in bin `k`, or -1 (cells are sorted by bin). */
  HeatData.prototype.cell = function (c, k) {
    var k_ = this.h.k, lo = this.h.off[c], hi = this.h.off[c + 1] - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (k_[mid] === k) return mid;
      if (k_[mid] < k) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  };

  /* ------------------------------------------------------------------ renderer */

  function HeatRenderer(view) { this._view = view; }
  HeatRenderer.prototype.draw = function (target, priceToCoordinate) {
    var v = this._view, d = v.data;
    if (!d || !d.drawable || !v.chart) return;
    var ts = v.chart.timeScale(), range = ts.getVisibleLogicalRange();
    if (!range) return;
    target.useBitmapCoordinateSpace(function (scope) {
      drawColumns(scope, d, ts, range, priceToCoordinate, v.axis);
    });
  };

  /* Bitmap x of each column's left edge in view, and of the last one's right edge. Columns
   * start at candles (base bars); `axis` says where a candle's left edge is on the logical
   * scale (a big chart shows buckets of candles, LiqPyramid.BigView). */
  function columnEdges(scope, d, ts, range, axis) {
    var h = d.h, hr = scope.horizontalPixelRatio;
    /* bars are evenly spaced (and logicalToCoordinate takes whole bars only) */
    var x0 = ts.logicalToCoordinate(0), step = ts.options().barSpacing;
    if (x0 === null) return null;
    var from = Math.max(0, Math.floor(axis.base(range.from)));
    var first = Math.max(0, d.column(from)), xs = [], cols = [];
    for (var c = first; c < h.b.length && axis.edge(h.b[c]) <= range.to; c++) {
      cols.push(c);
      xs.push(Math.round((x0 + axis.edge(h.b[c]) * step) * hr));
    }
    var end = cols.length ? cols[cols.length - 1] + 1 : 0;
    xs.push(Math.round((x0 + axis.edge(end < h.b.length ? h.b[end] : h.n) * step) * hr));
    return { cols: cols, xs: xs };
  }

  function drawColumns(scope, d, ts, range, toY, axis) {
    var e = columnEdges(scope, d, ts, range, axis), img = d.bitmap();
    if (!e || !e.cols.length) return;
    var vr = scope.verticalPixelRatio, h = d.h;
    var top = toY(h.p0 + d.rows * h.bin), bottom = toY(h.p0);
    if (top === null || bottom === null) return;
    if (img) drawBitmap(scope.context, img, e, Math.round(top * vr), Math.round(bottom * vr));
    else drawRects(scope, d, e, toY);
  }

  /* Runs of columns in one drawImage each: a run goes on while every column edge in it lies
   * within a pixel of the straight line between the run's ends (equal widths, or widths that
   * round differently, as a big chart's buckets make them). Nearest pixel (crisp cells) while
   * a cell is at least a pixel, smoothed when shrunk (so a thin bin fades, never vanishes). */
  function drawBitmap(ctx, img, e, top, bottom) {
    var n = e.cols.length, xs = e.xs, shrunk = bottom - top < img.height || xs[n] - xs[0] < n;
    ctx.imageSmoothingEnabled = shrunk;
    if (shrunk) ctx.imageSmoothingQuality = 'high';
    for (var a = 0, j; a < n; a = j) {
      var lo = -Infinity, hi = Infinity;
      for (j = a + 1; j < n; j++) {
        var m = j - a, s = (xs[j + 1] - xs[a]) / (m + 1);
        var lo2 = Math.max(lo, (xs[j] - 1 - xs[a]) / m), hi2 = Math.min(hi, (xs[j] + 1 - xs[a]) / m);
        if (s < lo2 || s > hi2) break;
        lo = lo2; hi = hi2;
      }
      var xb = Math.max(xs[j], xs[a] + 1);
      ctx.drawImage(img, e.cols[a], 0, j - a, img.height, xs[a], top, xb - xs[a], bottom - top);
    }
  }

  /* The fallback: a rectangle per cell. */
  function drawRects(scope, d, e, toY) {
    var h = d.h, vr = scope.verticalPixelRatio, height = scope.bitmapSize.height;
    for (var j = 0; j < e.cols.length; j++) {
      var c = e.cols[j], xa = e.xs[j], xb = Math.max(e.xs[j + 1], xa + 1);
      for (var i = h.off[c]; i < h.off[c + 1]; i++) {
        if (!(d.total[i] > 0)) continue;
        var top = Math.round(toY(h.p0 + (h.k[i] + 1) * h.bin) * vr);
        var bottom = Math.round(toY(h.p0 + h.k[i] * h.bin) * vr);
        if (bottom < 0 || top > height) continue;
        scope.context.fillStyle = d.colors[d.shade[i]];
        scope.context.fillRect(xa, top, xb - xa, Math.max(1, bottom - top));
      }
    }
  }

  /* ------------------------------------------------------------------ pane view */

  /** The custom series' view: one item per column ({time, c}); the renderer reads `data`. */
  function HeatSeries() {
    this.data = null;
    this.chart = null;
    this.axis = null;
    this._renderer = new HeatRenderer(this);
  }
  HeatSeries.prototype.renderer = function () { return this._renderer; };
  HeatSeries.prototype.update = function () {};
  HeatSeries.prototype.priceValueBuilder = function (item) {
    var d = this.data, h = d && d.h;
    if (!h || h.off[item.c + 1] === h.off[item.c]) return [NaN];
    return [h.p0 + h.k[h.off[item.c]] * h.bin, h.p0 + (h.k[h.off[item.c + 1] - 1] + 1) * h.bin];
  };
  HeatSeries.prototype.isWhitespace = function (item) { return item.c === undefined; };
  HeatSeries.prototype.defaultOptions = function () {
    return Object.assign({}, root.LightweightCharts.customSeriesDefaultOptions, {
      lastValueVisible: false, priceLineVisible: false,
      autoscaleInfoProvider: function () { return null; }  /* the candles set the scale */
    });
  };
  HeatSeries.prototype.destroy = function () { this.data = null; };

  /* ------------------------------------------------------------------ page parts */

  var el = root.LiqLevels.el;  // one element builder, liqlevels.js's

  function num(v) {
    var a = Math.abs(v), units = [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) return (v / units[i][0]).toFixed(2).replace(/\.?0+$/, '') + units[i][1];
    }
    return Number.isInteger(v) ? String(v) : v.toPrecision(3).replace(/\.?0+$/, '');
  }

  var CSS = [
    '.ll-heat-scale{display:flex;align-items:center;gap:6px;margin-top:2px}',
    '.ll-heat-bar{display:inline-block;width:140px;height:9px;border-radius:2px}',
    '.ll-heat-tip{position:absolute;z-index:4;pointer-events:none;display:none;',
    'font:12px/1.4 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;',
    'background:rgba(14,17,23,0.92);border:1px solid rgba(255,255,255,0.18);',
    'border-radius:4px;padding:5px 8px;white-space:pre}'
  ].join('');

  /* The colour scale, its unit and the bin size: rows appended to the chart's legend. */
  function scaleLegend(legend, d, fmt) {
    var h = d.h, box = el('div', 'll-heat');
    var what = 'heatmap: long + short ' + h.unit + (h.bin > 0 ? ' per ' + fmt(h.bin) + ' price bin' : '');
    box.appendChild(el('div', 'll-sub', what));
    var row = el('div', 'll-heat-scale');
    if (d.drawable) {
      var bar = el('span', 'll-heat-bar');
      var stops = [0, 64, 128, 191, 255].map(function (i) { return d.colors[i]; });
      bar.style.background = 'linear-gradient(to right,' + stops.join(',') + ')';
      row.appendChild(el('span', null, '0'));
      row.appendChild(bar);
      row.appendChild(el('span', null, (h.clipped ? '\u2265 ' : '') + num(h.vmax) + ' ' + h.unit));
    } else {
      row.appendChild(el('span', 'll-sub', 'nothing to draw'));
    }
    box.appendChild(row);
    legend.appendChild(box);
    return box;
  }

  function when(t) { return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'; }

  function tipText(d, c, i, fmt) {
    var h = d.h, lo = h.p0 + h.k[i] * h.bin, u = ' ' + h.unit;
    var l = (h.l[i] || 0) * h.scale, s = (h.s[i] || 0) * h.scale;
    var sides = l > 0 && s > 0 ? 'long and short' : (l > 0 ? 'long' : 'short');
    return [when(h.t[c]), 'price ' + fmt(lo) + ' \u2013 ' + fmt(lo + h.bin),
      sides + ': ' + num(d.total[i]) + u,
      'long ' + num(l) + u + ' \u00b7 short ' + num(s) + u].join('\n');
  }

  /* The cell under the crosshair, as a tooltip beside the mouse (the layer's current data:
   * the live page replaces it as columns come). */
  function hover(layer, candles, box, theme, fmt, axis) {
    var tip = el('div', 'll-heat-tip');
    tip.style.color = theme.text;
    box.appendChild(tip);
    layer.view.chart.subscribeCrosshairMove(function (p) {
      var d = layer.view.data;
      var hit = d && p.point && p.logical !== undefined ? cellAt(candles, d, p, axis) : null;
      if (!hit) { tip.style.display = 'none'; return; }
      tip.textContent = tipText(d, hit.c, hit.i, fmt);
      tip.style.display = 'block';
      var flip = p.point.x + 16 + tip.offsetWidth > box.clientWidth;
      tip.style.left = (flip ? p.point.x - 16 - tip.offsetWidth : p.point.x + 16) + 'px';
      tip.style.top = Math.max(0, p.point.y - tip.offsetHeight - 10) + 'px';
    });
    return tip;
  }

  function cellAt(candles, d, p, axis) {
    var c = d.column(Math.round(axis.base(p.logical))), price = candles.coordinateToPrice(p.point.y);
    if (c < 0 || price === null || !d.drawable) return null;
    var i = d.cell(c, Math.floor((price - d.h.p0) / d.h.bin));
    return i >= 0 && d.total[i] > 0 ? { c: c, i: i } : null;
  }

  /* ------------------------------------------------------------------ set-up */

  /* On a big chart the series holds buckets a..z-1 of level L: one item per bucket where a
   * column starts (the last such column), and the column covering bucket a, all on the
   * buckets' own times (an item elsewhere would add a bar to the time scale). */
  function bucketItems(d, L, a, z) {
    var h = d.h, out = [], last = -1;
    if (a >= z) return out;
    var c0 = d.column(L.first[a]);
    if (c0 >= 0) { out.push({ time: L.t[a], c: c0 }); last = a; }
    for (var c = Math.max(0, c0 + 1); c < h.b.length; c++) {
      var j = L.bucket(h.b[c]);
      if (j >= z) break;
      if (j < a) continue;
      if (j === last) out[out.length - 1].c = c;
      else { out.push({ time: L.t[j], c: c }); last = j; }
    }
    return out;
  }

  /** Add the heatmap series; call before the candle series so it is drawn under them. */
  function add(chart) {
    var view = new HeatSeries();
    view.chart = chart;
    return { view: view, series: chart.addCustomSeries(view) };
  }

  /**
   * Fill it from scene.heatmap once LiqLevels.mount drew the candles (`handle`): data, price
   * format, colour scale in the legend, tooltip in `box`. Returns {columns, cells, tip}.
   */
  function fill(layer, scene, handle, candles, box) {
    var h = scene.heatmap, d = new HeatData(h), times = handle.times;
    var fmt = function (p) { return candles.priceFormatter().format(p); };
    layer.view.data = d;
    layer.view.axis = handle.axis;
    layer.series.applyOptions({ priceFormat: scene.candles.format });
    if (handle.big) {
      var follow = function (L, a, z) { layer.series.setData(bucketItems(d, L, a, z)); };
      handle.big.listeners.push(follow);
      follow(handle.big.current(), handle.big.a, handle.big.z);
    } else {
      layer.series.setData(h.b.map(function (b, c) { return { time: times[b], c: c }; }));
    }
    scaleLegend(handle.legend, d, fmt);
    var tip = hover(layer, candles, box, scene.theme, fmt, handle.axis);
    var style = document.createElement('style');
    style.textContent = CSS;
    document.head.appendChild(style);
    var out = { columns: h.b.length, cells: d.drawable, tip: tip };
    /* the layer's series, for tests and tools; not enumerable, so the result stays plain */
    Object.defineProperty(out, 'series', { value: layer.series, enumerable: false });
    return out;
  }

  /** Draw `h` (a packed heatmap, changed in place by the live page) from now on; `times`:
   * the candles' bar times, `last`: the column just set (its series item is updated). */
  function refresh(layer, h, times, last) {
    layer.view.data = new HeatData(h);
    if (last >= 0) layer.series.update({ time: times[h.b[last]], c: last });
    return layer.view.data;
  }

  root.LiqHeatmap = { add: add, fill: fill, refresh: refresh, legend: scaleLegend,
                      HeatData: HeatData, colorTable: colorTable };
})(window);
