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

  /* Lines by start (oldest first), from the payload's drawn lines and, when a cap left some
   * out of the first view, the older ones in `more` (so any view can pick its own). A packed
   * payload (charts._data.packed_lines) is already one table by start. */
  function allLines(d) {
    if (d.packed) {
      var U = root.LiqPyramid.unpack;
      return { styles: d.styles, s: U(d.s, Int32Array), e: U(d.e, Int32Array),
               p: U(d.p, Float64Array), k: U(d.k, d.k_bytes === 1 ? Uint8Array : Int32Array) };
    }
    var m = d.more, n = d.s.length + (m ? m.s.length : 0), out = { s: [], e: [], p: [], k: [] };
    var parts = m ? [[m, d.styles.length], [d, 0]] : [[d, 0]];
    parts.forEach(function (part) {
      var x = part[0], shift = part[1];
      for (var i = 0; i < x.s.length; i++) {
        out.s.push(x.s[i]); out.e.push(x.e[i]); out.p.push(x.p[i]); out.k.push(x.k[i] + shift);
      }
    });
    var order = new Array(n);
    for (var i = 0; i < n; i++) order[i] = i;
    if (m) order.sort(function (a, b) { return out.s[a] - out.s[b] || a - b; });
    return { styles: m ? d.styles.concat(m.styles) : d.styles,
             s: order.map(function (i) { return out.s[i]; }),
             e: order.map(function (i) { return out.e[i]; }),
             p: order.map(function (i) { return out.p[i]; }),
             k: order.map(function (i) { return out.k[i]; }) };
  }

  var SLICES = 10;

  /**
   * The lines to draw for bars [from, to]: all alive there when they fit in `max`; else the
   * budget spread over the view, SLICES slices of time each taking its newest alive lines
   * (newest slice first), the rest of the budget to the newest alive anywhere in view.
   */
  function chooseLines(all, from, to, max) {
    var n = all.s.length, out = [], i;
    var alive = function (j, a, b) { return all.s[j] <= b && all.e[j] >= a; };
    if (max === null || max === undefined || n <= max) {
      for (i = 0; i < n; i++) if (alive(i, from, to)) out.push(i);
      return out;
    }
    var taken = new Uint8Array(n), count = 0, quota = Math.ceil(max / SLICES);
    var span = (to - from) / SLICES;
    for (var sl = SLICES - 1; sl >= 0 && count < max; sl--) {
      var a = from + sl * span, b = a + span, got = 0;
      for (i = n - 1; i >= 0 && got < quota && count < max; i--) {
        if (!taken[i] && alive(i, a, b)) { taken[i] = 1; got++; count++; }
      }
    }
    for (i = n - 1; i >= 0 && count < max; i--) {
      if (!taken[i] && alive(i, from, to)) { taken[i] = 1; count++; }
    }
    for (i = 0; i < n; i++) if (taken[i]) out.push(i);
    return out;
  }

  /* Lines drawn in view but priced beyond the pane: how many above and below, and nearest. */
  function offscreen(all, chosen, top, bottom) {
    var up = { n: 0, nearest: null }, down = { n: 0, nearest: null };
    if (top === null || bottom === null) return { above: up, below: down };
    for (var m = 0; m < chosen.length; m++) {
      var p = all.p[chosen[m]];
      if (p > top) { up.n++; if (up.nearest === null || p < up.nearest) up.nearest = p; }
      else if (p < bottom) { down.n++; if (down.nearest === null || p > down.nearest) down.nearest = p; }
    }
    return { above: up, below: down };
  }

  /* Where base bars are on the chart's logical scale: the bars themselves (a big chart's
   * view, LiqPyramid.BigView, has its own: buckets of bars). */
  var IDENTITY = {
    pos: function (i) { return i; },
    edge: function (i) { return i - 0.5; },
    base: function (j) { return j; }
  };

  /* x (CSS pixels) of logical position j, fractional ones too (the library's
   * logicalToCoordinate takes whole bars only). */
  function xAt(ts) {
    var x0 = ts.logicalToCoordinate(0), step = ts.logicalToCoordinate(1) - x0;
    return function (j) { return x0 + j * step; };
  }

  function LinesRenderer(source) { this._src = source; }
  LinesRenderer.prototype.draw = function (target) {
    var src = this._src, all = src.all;
    if (!src.chart || !src.series || !all || all.s.length === 0 || !src.chosen) return;
    var ts = src.chart.timeScale();
    if (ts.logicalToCoordinate(0) === null) return;
    target.useBitmapCoordinateSpace(function (scope) {
      var groups = groupByStyle(src.chosen.map(function (i) { return all.k[i]; }),
                                all.styles.length);
      for (var g = 0; g < groups.length; g++) {
        if (groups[g].length) strokeGroup(scope, src, all.styles[g], groups[g], xAt(ts));
      }
    });
  };

  function strokeGroup(scope, src, style, members, x) {
    var ctx = scope.context, hr = scope.horizontalPixelRatio, vr = scope.verticalPixelRatio;
    var all = src.all, height = scope.bitmapSize.height;
    var lw = Math.max(1, Math.round(style.width * vr)), half = (lw % 2) ? 0.5 : 0;
    ctx.lineWidth = lw;
    ctx.strokeStyle = style.color;
    ctx.setLineDash(style.dash ? [Math.round(6 * hr), Math.round(4 * hr)] : []);
    ctx.beginPath();
    for (var m = 0; m < members.length; m++) {
      var i = src.chosen[members[m]];
      var y = src.series.priceToCoordinate(all.p[i]);
      if (y === null) continue;
      var yb = Math.round(y * vr) + half;
      if (yb < -lw || yb > height + lw) continue;
      var xa = Math.round(x(src.axis.pos(all.s[i])) * hr);
      var xb = Math.round(x(src.axis.pos(all.e[i])) * hr);
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

  /* A label on the price axis at the pane's top or bottom edge: lines beyond the view. */
  function EdgeAxisView(source, side) { this._src = source; this._side = side; }
  EdgeAxisView.prototype.info = function () {
    var o = this._src.beyond;
    return o ? o[this._side] : { n: 0, nearest: null };
  };
  EdgeAxisView.prototype.visible = function () { return this.info().n > 0; };
  EdgeAxisView.prototype.tickVisible = function () { return false; };
  EdgeAxisView.prototype.coordinate = function () {
    return this._side === 'above' ? 9 : Math.max(9, this._src.paneHeight - 9);
  };
  EdgeAxisView.prototype.text = function () {
    var o = this.info(), fmt = this._src.series ? this._src.series.priceFormatter() : null;
    var price = o.nearest === null ? '' : (fmt ? fmt.format(o.nearest) : String(o.nearest));
    return (this._side === 'above' ? '\u25b2' : '\u25bc') + o.n + ' ' + price;
  };
  EdgeAxisView.prototype.textColor = function () { return '#0e1117'; };
  EdgeAxisView.prototype.backColor = function () { return '#c7cbd4'; };

  /**
   * Horizontal segments from bar s[i] to bar e[i] at price p[i], styled by styles[k[i]]. With
   * `max`, at most that many are drawn, chosen for the visible bars on every scroll and zoom
   * (chooseLines); the price axis tells how many drawn lines lie above and below the view.
   */
  function LevelLines(data) {
    this.chart = null;
    this.series = null;
    this.chosen = null;
    this.beyond = null;
    this.paneHeight = 0;
    this.axis = IDENTITY;
    this._key = '';
    this._views = [new LinesPaneView(this)];
    this._axis = [new EdgeAxisView(this, 'above'), new EdgeAxisView(this, 'below')];
    this.setData(data);
  }
  LevelLines.prototype.setData = function (data) {
    this.data = data;
    this.all = allLines(data);
    this.max = data.max === undefined ? null : data.max;
    this._key = '';
    this.refresh();
    if (this._requestUpdate) this._requestUpdate();
  };
  LevelLines.prototype.attached = function (param) {
    this.chart = param.chart;
    this.series = param.series;
    this._requestUpdate = param.requestUpdate;
    this.refresh();
  };
  LevelLines.prototype.detached = function () { this.chart = this.series = null; };
  /* Re-choose the lines for the visible bars, and count those beyond the visible prices. */
  LevelLines.prototype.refresh = function () {
    if (!this.chart || !this.series) return;
    var range = this.chart.timeScale().getVisibleLogicalRange();
    if (!range) { this.chosen = []; this.beyond = null; return; }
    var from = Math.floor(this.axis.base(range.from)) - 1;
    var to = Math.ceil(this.axis.base(range.to)) + 1;
    var key = from + ':' + to;
    if (key !== this._key) {
      this._key = key;
      this.chosen = chooseLines(this.all, from, to, this.max);
    }
    this.paneHeight = this.chart.paneSize().height;
    var top = this.series.coordinateToPrice(0);
    var bottom = this.series.coordinateToPrice(this.paneHeight);
    this.beyond = offscreen(this.all, this.chosen, top, bottom);
  };
  LevelLines.prototype.updateAllViews = function () { this.refresh(); };
  LevelLines.prototype.paneViews = function () { return this._views; };
  LevelLines.prototype.priceAxisViews = function () { return this._axis; };
  /** How many lines the page holds to draw: all, or at most `max` (per view, see state). */
  LevelLines.prototype.count = function () {
    var n = this.all.s.length;
    return this.max === null ? n : Math.min(n, this.max);
  };
  /** What the view shows, for tests and tools: the drawn lines and those beyond the view. */
  LevelLines.prototype.state = function () {
    this.refresh();
    var all = this.all, chosen = this.chosen || [];
    return { drawn: chosen.map(function (i) { return [all.s[i], all.e[i], all.p[i]]; }),
             beyond: this.beyond };
  };
  /** Where line i of `state().drawn` starts and ends on screen (CSS x): for tests. */
  LevelLines.prototype.xs = function () {
    var x = xAt(this.chart.timeScale()), all = this.all, axis = this.axis;
    return (this.chosen || []).map(function (i) {
      return [x(axis.pos(all.s[i])), x(axis.pos(all.e[i]))];
    });
  };

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
      if (src.showScale) drawScale(scope, src);
    });
  };

  /* The profile's value axis along the pane's bottom: 0, half and the largest row, in its
   * unit; what was written is kept in src.scaleLabels for tests and tools. */
  function drawScale(scope, src) {
    var p = src.data, ctx = scope.context;
    var vr = scope.verticalPixelRatio, w = scope.bitmapSize.width, full = w * p.width;
    var right = p.edge !== 'left', base = right ? w : 0, dir = right ? -1 : 1;
    var y = scope.bitmapSize.height - Math.round(4 * vr), size = Math.round(10 * vr);
    var ticks = [0, src.max / 2, src.max], labels = [];
    ctx.strokeStyle = src.textColor;
    ctx.fillStyle = src.textColor;
    ctx.lineWidth = Math.max(1, Math.round(vr));
    ctx.beginPath();
    ctx.moveTo(base, y);
    ctx.lineTo(base + dir * full, y);
    ctx.font = size + 'px -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif';
    ticks.forEach(function (t, j) {
      var x = Math.round(base + dir * (t / src.max) * full);
      ctx.moveTo(x, y);
      ctx.lineTo(x, y - 4 * vr);
      var text = compact(t) + (j === 2 ? ' ' + (p.unit || 'lines') : '');
      ctx.textAlign = j === 2 ? (right ? 'left' : 'right') : (j === 0 ? (right ? 'right' : 'left') : 'center');
      ctx.fillText(text, x, y - 6 * vr);
      labels.push(text);
    });
    ctx.stroke();
    src.scaleLabels = labels;
  }

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
    this.showScale = this.showScale === undefined ? true : this.showScale;
    this.textColor = this.textColor || '#c7cbd4';
    this.scaleLabels = [];
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
  /** The row at `price` (lo <= price < hi, the last row's hi included), or -1. */
  PriceProfile.prototype.rowAt = function (price) {
    var p = this.data;
    for (var i = 0; i < p.lo.length; i++) {
      if (price >= p.lo[i] && (price < p.hi[i] || (price === p.hi[i] && i === p.lo.length - 1))) {
        return i;
      }
    }
    return -1;
  };
  /** The text a hover shows for row i: bin, each column and the total, in the unit. */
  PriceProfile.prototype.describe = function (i, fmt) {
    var p = this.data, unit = p.unit || 'lines';
    var parts = p.names.map(function (n, j) { return n + ' ' + compact(p.v[i][j]); });
    var bin = fmt(p.lo[i]) + ' \u2013 ' + fmt(p.hi[i]);
    return (p.label ? p.label + ': ' : '') + bin + ' \u00b7 ' + parts.join(' \u00b7 ') +
      ' ' + unit;
  };
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

  /* The legend is an opaque band above the plot (the container's top padding is reserved
   * for it, see reserveBand), so it never hides a candle, a line or the price axis. */
  var CSS = [
    '.liqlevels-legend{position:absolute;left:0;right:0;top:0;z-index:3;pointer-events:none;',
    'font:12px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;box-sizing:border-box;',
    'border-bottom:1px solid rgba(255,255,255,0.10);padding:4px 10px;',
    'display:flex;flex-wrap:wrap;align-items:center;gap:2px 22px}',
    '.liqlevels-legend .ll-title{font-size:14px;font-weight:600}',
    '.liqlevels-legend .ll-sub{opacity:0.75}',
    '.liqlevels-legend .ll-row{display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px}',
    '.liqlevels-legend .ll-item{display:inline-flex;align-items:center;gap:4px;white-space:nowrap}',
    '.liqlevels-legend .ll-line{display:inline-block;width:18px;height:0;border-top:3px solid}',
    '.liqlevels-legend .ll-box{display:inline-block;width:10px;height:10px;border-radius:2px}',
    '.ll-pane{position:relative;min-height:0;border-top:1px solid rgba(255,255,255,0.08)}',
    '.ll-pane-label{position:absolute;left:10px;top:3px;z-index:3;pointer-events:none;',
    'font:11px -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;opacity:0.75}',
    '.ll-tip{position:absolute;z-index:4;pointer-events:none;display:none;white-space:nowrap;',
    'font:12px -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;',
    'border:1px solid rgba(255,255,255,0.25);border-radius:3px;padding:3px 7px}'
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
      el('span', 'll-sub', 'width = tier 1 / 2 / 3'),
      el('span', 'll-sub', '\u25b2n \u25bcn on the axis: lines beyond view, nearest price')
    ]);
    if (lines.max !== undefined && lines.max !== null && lines.max < lines.total) {
      row(box, [el('span', 'll-sub', 'up to ' + lines.max + ' of ' + lines.total +
                   ' lines, spread over the bars in view')]);
    } else if (lines.drawn < lines.total) {
      row(box, [el('span', 'll-sub', 'newest ' + lines.drawn + ' of ' + lines.total + ' lines')]);
    }
  }

  function ensureStyle() {
    if (document.getElementById('liqlevels-style')) return;
    var style = el('style', null, CSS);
    style.id = 'liqlevels-style';
    document.head.appendChild(style);
  }

  /* The price step of a profile's bins (the most common hi - lo), as the axis formats it. */
  function binSize(p) {
    var counts = {}, best = null, n = 0;
    for (var i = 0; i < p.lo.length; i++) {
      var d = +(p.hi[i] - p.lo[i]).toPrecision(6);
      counts[d] = (counts[d] || 0) + 1;
      if (counts[d] > n) { n = counts[d]; best = d; }
    }
    return best;
  }

  function profileRow(box, p) {
    var unit = p.unit || 'lines', bin = binSize(p);
    var head = (p.label ? p.label + ' ' : '') + '(' + unit +
      (bin ? ' per ' + (+bin.toPrecision(3)) + ' bin' : '') + ')';
    var items = [el('span', 'll-sub', head)];
    p.names.forEach(function (n, j) { items.push(item(boxSwatch(p.colors[j]), n)); });
    row(box, items);
  }

  /* Keep the container's top padding equal to the band's height, so the chart sits under it
   * (Lightweight Charts' autoSize measures the content box). Not in a window (body). */
  function reserveBand(container, box) {
    if (container === document.body) return;
    var fit = function () {
      if (box.isConnected) container.style.paddingTop = box.offsetHeight + 'px';
    };
    fit();
    if (root.ResizeObserver) new root.ResizeObserver(fit).observe(box);
  }

  function buildLegend(container, scene) {
    var box = el('div', 'liqlevels-legend');
    box.style.color = scene.theme.text;
    box.style.background = scene.theme.background;
    var head = el('div');
    if (scene.title) head.appendChild(el('div', 'll-title', scene.title));
    if (scene.subtitle) head.appendChild(el('div', 'll-sub', scene.subtitle));
    if (head.childNodes.length) box.appendChild(head);
    var body = el('div');
    lineRows(body, scene.lines, scene.theme);
    box.appendChild(body);
    var more = el('div');
    scene.profiles.forEach(function (p) { profileRow(more, p); });
    if (scene.oi) {
      var tiers = scene.theme.tiers.map(function (c, t) { return item(boxSwatch(c), 'tier ' + t); });
      row(more, [el('span', 'll-sub', 'OI delta')].concat(tiers));
    }
    if (more.childNodes.length) box.appendChild(more);
    container.appendChild(box);
    reserveBand(container, box);
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
      priceLineVisible: true, priceLineSource: 0, priceLineWidth: 1, priceLineStyle: 2,
      priceLineColor: theme.text, priceFormat: format
    });
    series.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.08 } });
  }

  /* Compact numbers for OI axes: 1.2K, 3.4M, 5.6B. */
  function compact(v) {
    var a = Math.abs(v), units = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
    for (var i = 0; i < units.length; i++) {
      if (a >= units[i][0]) return (v / units[i][0]).toFixed(2) + units[i][1];
    }
    return a >= 100 || v === 0 ? v.toFixed(0) : String(+v.toPrecision(3));
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

  /* Two panes under the candles: open interest; OI delta coloured by tier with its baseline.
   * `per` names the bar ("bar", or on a big chart "bar, largest per candle shown"). */
  function oiPanes(parent, oi, theme, per) {
    var quiet = { priceLineVisible: false, lastValueVisible: false,
      priceFormat: { type: 'custom', formatter: compact, minMove: 1e-9 } };
    var unit = oi.unit || 'coins';
    var oiChart = paneChart(parent, theme, 2, 'open interest (' + unit + ')', false);
    var line = oiChart.addLineSeries(Object.assign({ color: theme.oi, lineWidth: 1 }, quiet));
    var dChart = paneChart(parent, theme, 3, 'OI delta (' + unit + ' per ' + per +
                           ') by tier, baseline', true);
    var bars = dChart.addHistogramSeries(quiet);
    var base = new Polyline([], theme.baseline, 1);
    bars.attachPrimitive(base);
    return { charts: [oiChart, dChart], line: line, bars: bars, baseline: base };
  }

  /* Fill the panes: per bar its time, open interest, OI delta, baseline and tier (or null). */
  function fillOi(p, theme, times, oi, delta, baseline, tier) {
    var colors = tier.map(function (t) { return theme.tiers[Math.min(t || 0, 3)]; });
    p.line.setData(valueData(times, oi));
    p.bars.setData(valueData(times, delta, colors));
    p.baseline.values = baseline;
  }

  function addOiPanes(parent, times, oi, theme) {
    var p = oiPanes(parent, oi, theme, 'bar');
    fillOi(p, theme, times, oi.oi, oi.delta, oi.baseline, oi.tier);
    return p.charts;
  }

  /* A big chart's panes follow its view: each bucket shows the open interest and baseline at
   * its end, the OI delta of its bar of largest |delta| and its highest tier. */
  function bigOiPanes(parent, big, oi, theme) {
    var P = root.LiqPyramid, cols = P.oiColumns(oi);
    var p = oiPanes(parent, oi, theme, 'bar; zoomed out, the largest in each candle');
    big.oiPanes = p;
    big.listeners.push(function (L, a, z) {
      var s = P.oiSlice(L, cols, a, z);
      fillOi(p, theme, s.times, s.oi, s.delta, s.baseline, s.tier);
    });
    return p.charts;
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

  /* The first view of a big chart: as frame, in the buckets the view picks. */
  function bigFrame(big, view) {
    var n = big.axis.n;
    if (!n) return;
    var shown = view.bars ? Math.min(view.bars, n) : n;
    var room = view.profileWidth > 0 ? view.profileWidth / (1 - view.profileWidth) : 0;
    big.frame(shown, room);
  }

  /* A big chart's series may hold bars that end before the last candle: the last price is
   * the last candle's close, drawn as the series would draw it. */
  function lastPrice(series, close, theme) {
    series.applyOptions({ priceLineVisible: false, lastValueVisible: false });
    if (close === null) return null;
    return series.createPriceLine({ price: close, color: theme.text, lineWidth: 1, lineStyle: 2,
                                    axisLabelVisible: true, title: '' });
  }

  function frame(chart, count, view) {
    if (!count) return;
    var shown = view.bars ? Math.min(view.bars, count) : count;
    var room = view.profileWidth > 0 ? view.profileWidth / (1 - view.profileWidth) : 0;
    var right = Math.ceil(shown * room) + 3;
    chart.timeScale().setVisibleLogicalRange({ from: count - shown - 0.5, to: count - 1 + right });
  }

  /* Over a profile's bars, a tip with the bin, each column's value and the unit. */
  function profileHover(chart, series, profiles, container, theme) {
    var tip = container.querySelector('.ll-tip');  /* a live page mounts again: reuse it */
    if (!tip) container.appendChild(tip = el('div', 'll-tip'));
    tip.style.background = theme.background;
    tip.style.color = theme.text;
    tip.style.display = 'none';
    chart.subscribeCrosshairMove(function (param) {
      var pt = param.point, text = null, width = chart.paneSize().width;
      if (pt && width > 0) {
        var price = series.coordinateToPrice(pt.y), fmt = series.priceFormatter();
        for (var j = 0; j < profiles.length && text === null && price !== null; j++) {
          var pr = profiles[j], p = pr.data, right = p.edge !== 'left';
          var inside = right ? pt.x >= width * (1 - p.width) : pt.x <= width * p.width;
          var i = inside ? pr.rowAt(price) : -1;
          if (i >= 0 && pr.totals[i] > 0) {
            text = pr.describe(i, function (v) { return fmt.format(v); });
          }
        }
      }
      tip.textContent = text || '';
      tip.style.display = text ? 'block' : 'none';
      if (!text) return;
      var top = chart.chartElement().offsetTop;
      tip.style.top = (top + pt.y + 14) + 'px';
      tip.style.right = Math.max(4, container.clientWidth - pt.x - 8) + 'px';
      tip.style.left = 'auto';
    });
    return tip;
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
    var big = scene.candles.packed
      ? new root.LiqPyramid.BigView(chart, series, scene, container) : null;
    var times = big ? null : barTimes(scene.candles);
    if (big) big.priceLine = lastPrice(series, big.lastClose(), scene.theme);
    else series.setData(candleData(scene.candles, times));
    var lines = new LevelLines(scene.lines);
    if (big) lines.axis = big.axis;
    series.attachPrimitive(lines);
    var profiles = scene.profiles.map(function (p, j) {
      var prim = new PriceProfile(p);
      prim.textColor = scene.theme.text;
      prim.showScale = j === 0;  /* one value axis: the first profile's */
      series.attachPrimitive(prim);
      return prim;
    });
    profileHover(chart, series, profiles, container, scene.theme);
    var oi = !withPanes ? [] : (big ? bigOiPanes(panes, big, scene.oi, scene.theme)
                                    : addOiPanes(panes, times, scene.oi, scene.theme));
    if (withPanes) syncTimeScales([chart].concat(oi));
    if (big) bigFrame(big, scene.view);
    else frame(chart, times.length, scene.view);
    var legend = buildLegend(container, scene);
    var bars = profiles.reduce(function (a, p) { return a + p.count(); }, 0);
    var counts = { candles: big ? big.axis.n : times.length, lines: lines.count(), bars: bars };
    var handle = { counts: counts, lines: lines, profiles: profiles, oi: oi, legend: legend,
                   times: times, big: big, axis: big ? big.axis : IDENTITY };
    (root.__liqlevels = root.__liqlevels || {}).handle = handle;  /* for tests and tools */
    return handle;
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

  /* In the window the band cannot push the chart down (the wrapper sizes it): it stops at the
   * price axis, and the candles' autoscale keeps a top margin as tall as the band. */
  function keepCandlesBelow(chart, series, legend) {
    var fit = function () {
      var pane = chart.paneSize().height, band = legend.offsetHeight;
      legend.style.right = series.priceScale().width() + 'px';
      if (pane > 0) {
        series.priceScale().applyOptions({
          scaleMargins: { top: Math.min(0.5, (band + 6) / pane), bottom: 0.08 } });
      }
    };
    fit();
    if (root.ResizeObserver) new root.ResizeObserver(fit).observe(chart.chartElement());
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
    /* A heatmap goes under the candles, and series draw in the order they were added: the
     * wrapper's own candle series (added first) is hidden and the candles drawn anew. */
    var series = h.series, heat = null;
    if (scene.heatmap && scene.candles.n && root.LiqHeatmap) {
      heat = root.LiqHeatmap.add(h.chart);
      h.series.applyOptions({ visible: false });
      series = h.chart.addCandlestickSeries();
    }
    var handle = mount(h.chart, series, scene, document.body, panes);
    if (heat) handle.heatmap = root.LiqHeatmap.fill(heat, scene, handle, series, document.body);
    handle.series = series;
    keepCandlesBelow(h.chart, series, handle.legend);
    report(document.body, handle.counts);
    return handle;
  }

  root.LiqLevels = {
    buildLegend: buildLegend,
    el: el,
    frame: frame,
    LevelLines: LevelLines,
    Polyline: Polyline,
    PriceProfile: PriceProfile,
    mount: mount,
    mountWindow: mountWindow,
    report: report
  };
})(window);
