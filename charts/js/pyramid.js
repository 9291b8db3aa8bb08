;/* liqlevels big charts: candles sent packed (base64 typed arrays, charts/_data.py) and drawn at
 * the resolution the screen shows. Zoomed out, each bar on screen is a bucket of candles (a
 * pandas resample of them: origin the epoch, weeks from Monday 1970-01-05, label and edge on
 * the left); zoomed in, the candles themselves. The series holds at most MAX_SLICE bars of one
 * level around the view; scrolling near a slice's edge or zooming past a level re-slices.
 * Lines, heatmap and OI panes keep their positions in candles (base bars) and ask `axis` where
 * a base bar is on the chart's logical scale.
 */
(function (root) {
  'use strict';

  /* Bucket lengths in seconds: the intervals exchanges offer, 1s to 1w. */
  var LADDER = [1, 5, 15, 30, 60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200,
                86400, 259200, 604800];
  var WEEK_ORIGIN = 345600;  /* 1970-01-05, a Monday: weeks start on Monday */
  var MAX_SLICE = 20000;     /* bars the series holds at most (setData of 20k: ~40 ms) */
  var FINER = 0.8;           /* go finer only when the finer level has <= 0.8 bar per pixel */

  function origin(f) { return f === 604800 ? WEEK_ORIGIN : 0; }

  function bytes(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64).buffer;  /* 3-4x faster */
    var bin = atob(b64), n = bin.length, u = new Uint8Array(n);
    for (var i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
    return u.buffer;
  }

  function unpack(b64, Type) { return new Type(bytes(b64)); }

  /* Prices sent as whole numbers of 10^-dec. */
  function prices(b64, dec) {
    var q = unpack(b64, Int32Array), out = new Float64Array(q.length), i;
    if (dec >= 0) { var d = Math.pow(10, dec); for (i = 0; i < q.length; i++) out[i] = q[i] / d; }
    else { var m = Math.pow(10, -dec); for (i = 0; i < q.length; i++) out[i] = q[i] * m; }
    return out;
  }

  /* The typical gap between candles (median of a sample of gaps), in seconds. */
  function typicalStep(t) {
    var n = t.length, gaps = [];
    if (n < 2) return 60;
    var every = Math.max(1, Math.floor((n - 1) / 2001));
    for (var i = 1; i < n; i += every) gaps.push(t[i] - t[i - 1]);
    gaps.sort(function (a, b) { return a - b; });
    return gaps[gaps.length >> 1] || 1;
  }

  /* ------------------------------------------------------------------ a level */

  /** Buckets of `f` seconds over the base candles (f = 0: the candles themselves). first[j]
   * is the base bar opening bucket j (first[m] = n); t[j] its label, the bucket's start. */
  function Level(base, f, step) {
    this.f = f;
    this.full = f ? Math.max(1, Math.round(f / step)) : 1;  /* base bars in a full bucket */
    this.base = base;
    this.extra = {};
    if (!f) {
      var n = base.n, first = new Int32Array(n + 1);
      for (var i = 0; i <= n; i++) first[i] = i;
      this.m = n; this.first = first; this.t = base.t;
      this.o = base.o; this.h = base.h; this.l = base.l; this.c = base.c;
      return;
    }
    this._build(base, f);
  }

  Level.prototype._build = function (base, f) {
    var n = base.n, t = base.t, off = origin(f), m = 0, prev = NaN, i, k;
    for (i = 0; i < n; i++) { k = Math.floor((t[i] - off) / f); if (k !== prev) { m++; prev = k; } }
    var first = new Int32Array(m + 1), bt = new Float64Array(m);
    var o = new Float64Array(m), h = new Float64Array(m), l = new Float64Array(m);
    var c = new Float64Array(m), j = -1;
    prev = NaN;
    for (i = 0; i < n; i++) {
      k = Math.floor((t[i] - off) / f);
      if (k !== prev) {
        j++; prev = k; first[j] = i; bt[j] = k * f + off;
        o[j] = base.o[i]; h[j] = base.h[i]; l[j] = base.l[i];
      } else {
        if (base.h[i] > h[j]) h[j] = base.h[i];
        if (base.l[i] < l[j]) l[j] = base.l[i];
      }
      c[j] = base.c[i];
    }
    first[m] = n;
    this.m = m; this.first = first; this.t = bt;
    this.o = o; this.h = h; this.l = l; this.c = c;
  };

  /* A copy of typed array `a` with room for `size` items (a live page's bars grow). */
  function grown(a, size) {
    var out = new a.constructor(size);
    out.set(a.subarray(0, Math.min(a.length, size)));
    return out;
  }

  /** Follow the base after its last bar changed (`appended`: a new bar n - 1; else bar n - 1
   * replaced): only the last bucket changes, or one bucket is added. Arrays grow by doubling. */
  Level.prototype.follow = function (appended) {
    var base = this.base, n = base.n, i = n - 1;
    this.extra = {};
    if (!this.f) {  /* the candles themselves: the base's arrays (maybe grown), one more bar */
      if (this.first.length < n + 1) {
        this.first = grown(this.first, Math.max(n + 1, 2 * this.first.length));
        for (var q = this.m + 1; q < this.first.length; q++) this.first[q] = q;
      }
      this.m = n; this.t = base.t;
      this.o = base.o; this.h = base.h; this.l = base.l; this.c = base.c;
      return;
    }
    var off = origin(this.f), label = Math.floor((base.t[i] - off) / this.f) * this.f + off;
    var m = this.m, j = m - 1;
    if (appended && (m === 0 || label !== this.t[j])) {  /* a new bucket, opened by bar i */
      if (this.t.length < m + 1) {
        var size = Math.max(16, 2 * this.t.length);
        this.t = grown(this.t, size); this.o = grown(this.o, size); this.h = grown(this.h, size);
        this.l = grown(this.l, size); this.c = grown(this.c, size);
        this.first = grown(this.first, size + 1);
      }
      j = m; this.m = m + 1;
      this.first[j] = i; this.t[j] = label;
    }
    this.first[this.m] = n;
    /* the last bucket again from its bars: a replaced bar may lower a high or raise a low */
    var a = this.first[j];
    var hi = base.h[a], lo = base.l[a];
    for (var k = a + 1; k < n; k++) {
      if (base.h[k] > hi) hi = base.h[k];
      if (base.l[k] < lo) lo = base.l[k];
    }
    this.o[j] = base.o[a]; this.h[j] = hi; this.l[j] = lo; this.c[j] = base.c[i];
  };

  /* The bucket holding base bar i (0 <= i < n). */
  Level.prototype.bucket = function (i) {
    var first = this.first, lo = 0, hi = this.m - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (first[mid] <= i) lo = mid; else hi = mid - 1;
    }
    return lo;
  };

  /** Fractional base position x (bar i spans i - 0.5 to i + 0.5) -> this level's position
   * (bucket j spans j - 0.5 to j + 0.5), each candle a share of its bucket's width; past
   * either end, a full bucket's worth of candles per bucket. */
  Level.prototype.pos = function (x) {
    var n = this.base.n, m = this.m;
    if (x < -0.5) return -0.5 + (x + 0.5) / this.full;
    if (x >= n - 0.5) return m - 0.5 + (x - n + 0.5) / this.full;
    var i = Math.floor(x + 0.5), b = this.bucket(i), first = this.first;
    return b - 0.5 + (i - first[b] + (x - i + 0.5)) / (first[b + 1] - first[b]);
  };

  /** The inverse of pos: this level's position -> fractional base position. */
  Level.prototype.baseOf = function (j) {
    var n = this.base.n, m = this.m;
    if (j < -0.5) return -0.5 + (j + 0.5) * this.full;
    if (j >= m - 0.5) return n - 0.5 + (j - m + 0.5) * this.full;
    var b = Math.floor(j + 0.5), first = this.first, cnt = first[b + 1] - first[b];
    return first[b] - 0.5 + (j - b + 0.5) * cnt;
  };

  /* Per-bucket values of a base column: 'last' (last finite), 'max', or 'extreme' (the value
   * of largest magnitude, its sign kept); NaN where a bucket has none. Cached per level. */
  Level.prototype.column = function (name, values, how) {
    if (this.extra[name]) return this.extra[name];
    var m = this.m, first = this.first, out = new Float64Array(m);
    for (var j = 0; j < m; j++) {
      var best = NaN;
      for (var i = first[j]; i < first[j + 1]; i++) {
        var v = values[i];
        if (v !== v) continue;
        if (how === 'last' || best !== best) best = v;
        else if (how === 'max') { if (v > best) best = v; }
        else if (Math.abs(v) > Math.abs(best)) best = v;
      }
      out[j] = best;
    }
    return (this.extra[name] = out);
  };

  /* ------------------------------------------------------------------ the pyramid */

  /* Bar times in epoch seconds: the first and the gaps to each next bar (in runs: count,
   * gap, count, gap...), or all of them. */
  function times(c) {
    if (c.t) return unpack(c.t, Float64Array);
    var runs = unpack(c.dt, Int32Array), t = new Float64Array(c.n), i = 1;
    if (c.n) t[0] = c.t0;
    for (var r = 0; r < runs.length; r += 2) {
      for (var k = 0, gap = runs[r + 1]; k < runs[r]; k++, i++) t[i] = t[i - 1] + gap;
    }
    return t;
  }

  function decode(c) {
    var dec = c.dec;
    return { n: c.n, t: times(c), o: prices(c.o, dec), h: prices(c.h, dec),
             l: prices(c.l, dec), c: prices(c.c, dec) };
  }

  /** The candles at every resolution, built when first needed: levels[0] the candles, then
   * the LADDER's buckets longer than the typical gap. */
  function Pyramid(packed) {
    this.base = decode(packed);
    this.step = typicalStep(this.base.t);
    var step = this.step;
    this.ladder = [0].concat(LADDER.filter(function (f) { return f > step; }));
    this.levels = [];
  }
  Pyramid.prototype.level = function (k) {
    if (!this.levels[k]) this.levels[k] = new Level(this.base, this.ladder[k], this.step);
    return this.levels[k];
  };
  /** A live bar (epoch s and prices): the same time as the last bar replaces it, a later one
   * is appended; every level built so far follows (its last bucket, or one more). Returns
   * true when appended, false when replaced, null when older than the last bar (ignored). */
  Pyramid.prototype.push = function (t, o, h, l, c) {
    var b = this.base, n = b.n;
    if (n && t < b.t[n - 1]) return null;
    var appended = !n || t > b.t[n - 1];
    if (appended) {
      if (b.t.length < n + 1) {
        var size = Math.max(16, 2 * b.t.length);
        b.t = grown(b.t, size); b.o = grown(b.o, size); b.h = grown(b.h, size);
        b.l = grown(b.l, size); b.c = grown(b.c, size);
      }
      b.n = n + 1;
    }
    var i = b.n - 1;
    b.t[i] = t; b.o[i] = o; b.h[i] = h; b.l[i] = l; b.c[i] = c;
    for (var k = 0; k < this.levels.length; k++) {
      if (this.levels[k]) this.levels[k].follow(appended);
    }
    return appended;
  };
  /* Time at fractional base position x (between candles by their times; past the ends, by
   * the typical gap). */
  Pyramid.prototype.timeAt = function (x) {
    var t = this.base.t, n = this.base.n;
    if (x <= 0) return t[0] + x * this.step;
    if (x >= n - 1) return t[n - 1] + (x - n + 1) * this.step;
    var i = Math.floor(x);
    return t[i] + (x - i) * (t[i + 1] - t[i]);
  };
  /* How many bars level k puts between base positions x0 and x1: exact once built. */
  Pyramid.prototype.span = function (k, x0, x1) {
    if (this.levels[k]) return this.levels[k].pos(x1) - this.levels[k].pos(x0);
    var f = this.ladder[k];
    return Math.min(x1 - x0, (this.timeAt(x1) - this.timeAt(x0)) / f + 1);
  };
  /** The level for base positions x0..x1 on `width` pixels: the finest with at most a bar per
   * pixel; a finer one than `current` only at FINER bars per pixel (no flicker at the edge). */
  Pyramid.prototype.pick = function (x0, x1, width, current) {
    for (var k = 0; k < this.ladder.length; k++) {
      var limit = width * (k < current ? FINER : 1);
      if (this.span(k, x0, x1) <= limit) return k;
    }
    return this.ladder.length - 1;
  };

  /* ------------------------------------------------------------------ the view */

  /** Keeps `series` at the level the view needs; `listeners` (level, a, z) follow each change
   * (the series holds buckets a..z-1 of that level, logical 0 being bucket a). */
  function BigView(chart, series, scene, container) {
    this.chart = chart;
    this.series = series;
    this.container = container;
    this.pyramid = new Pyramid(scene.candles);
    this.k = 0;
    this.a = 0;
    this.z = 0;
    this.busy = false;
    this.listeners = [];
    var self = this;
    this.axis = {
      /* base bar i's centre and left edge, and base position of logical j, for this view */
      pos: function (i) { return self.current().pos(i) - self.a; },
      edge: function (i) { return self.current().pos(i - 0.5) - self.a; },
      base: function (j) { return self.current().baseOf(j + self.a); },
      n: this.pyramid.base.n
    };
    this._pending = false;
    chart.timeScale().subscribeVisibleLogicalRangeChange(function () { self.schedule(); });
  }
  BigView.prototype.current = function () { return this.pyramid.level(this.k); };
  BigView.prototype.width = function () {
    var w = this.chart.timeScale().width();
    return w > 0 ? w : Math.max(100, (this.container.clientWidth || 1000) - 80);
  };
  BigView.prototype.rows = function (L, a, z) {
    var out = new Array(z - a);
    for (var j = a; j < z; j++) {
      out[j - a] = { time: L.t[j], open: L.o[j], high: L.h[j], low: L.l[j], close: L.c[j] };
    }
    return out;
  };
  /** Show base positions x0..x1 (fractional; past the last candle is room on the right), at
   * level `k` or the one the view picks. */
  BigView.prototype.show = function (x0, x1, k) {
    var py = this.pyramid;
    if (k === undefined) k = py.pick(x0, x1, this.width(), this.k);
    var L = py.level(k);
    var j0 = L.pos(x0), j1 = L.pos(x1), a = 0, z = L.m;
    if (L.m > MAX_SLICE) {
      a = Math.max(0, Math.min(L.m - MAX_SLICE, Math.floor((j0 + j1) / 2 - MAX_SLICE / 2)));
      z = a + MAX_SLICE;
    }
    this.busy = true;
    try {
      if (k !== this.k || a !== this.a || z !== this.z || !this._shown) {
        this.k = k; this.a = a; this.z = z; this._shown = true;
        this.series.setData(this.rows(L, a, z));
        for (var i = 0; i < this.listeners.length; i++) this.listeners[i](L, a, z);
      }
      this.chart.timeScale().setVisibleLogicalRange({ from: j0 - a, to: j1 - a });
    } finally { this.busy = false; }
  };
  /** The first view: the newest `shown` candles, and right of them `room` times as many
   * bars (the profiles' room), at the level those candles need. */
  BigView.prototype.frame = function (shown, room) {
    var py = this.pyramid, n = py.base.n, x0 = n - shown - 0.5;
    var k = py.pick(x0, n - 0.5, this.width() / (1 + room), this.k), L = py.level(k);
    var right = Math.ceil((L.m - 0.5 - L.pos(x0)) * room) + 3;
    this.show(x0, L.baseOf(L.m - 1 + right), k);
  };
  BigView.prototype.schedule = function () {
    if (this.busy || this._pending) return;
    var self = this;
    this._pending = true;
    requestAnimationFrame(function () { self._pending = false; self.check(); });
  };
  /** Re-level or re-slice when the view asks for it; true when it did. */
  BigView.prototype.check = function () {
    if (this.busy) return false;
    var r = this.chart.timeScale().getVisibleLogicalRange();
    if (!r) return false;
    var L = this.current(), x0 = L.baseOf(r.from + this.a), x1 = L.baseOf(r.to + this.a);
    var k = this.pyramid.pick(x0, x1, this.width(), this.k), room = r.to - r.from;
    var nearStart = this.a > 0 && r.from < room;
    var nearEnd = this.z < L.m && (this.z - this.a) - r.to < room;
    if (k === this.k && !nearStart && !nearEnd) return false;
    this.show(x0, x1);
    return true;
  };
  /** A live bar (see Pyramid.push): the pyramid follows, and the series too when it holds
   * the last bucket (series.update: that bucket replaced, or the new one appended). */
  BigView.prototype.push = function (t, o, h, l, c) {
    var appended = this.pyramid.push(t, o, h, l, c);
    if (appended === null) return null;
    this.axis.n = this.pyramid.base.n;
    if (this.priceLine) this.priceLine.applyOptions({ price: c });
    var L = this.current(), j = L.m - 1;
    if (j >= this.a && j <= this.z) {  /* j === z: a new bucket right after the slice */
      if (j === this.z) this.z = j + 1;
      this.busy = true;
      try {
        this.series.update({ time: L.t[j], open: L.o[j], high: L.h[j], low: L.l[j],
                             close: L.c[j] });
      } finally { this.busy = false; }
    }
    return appended;
  };
  /** What the view shows, for tests and tools. */
  BigView.prototype.state = function () {
    var L = this.current();
    return { seconds: L.f, level: this.k, from: this.a, to: this.z, buckets: L.m,
             candles: this.pyramid.base.n, step: this.pyramid.step };
  };
  /* The last candle's close, drawn as the series' price line would be (the series may hold a
   * slice that ends earlier). */
  BigView.prototype.lastClose = function () {
    var b = this.pyramid.base;
    return b.n ? b.c[b.n - 1] : null;
  };

  /* ------------------------------------------------------------------ OI panes */

  /** The OI columns (packed Float64, NaN where missing), per level: open interest and the
   * baseline the last of each bucket, the OI delta the bar of largest |delta| (its sign
   * kept), the tier the highest. */
  function oiColumns(oi) {
    return { oi: unpack(oi.oi, Float64Array), delta: unpack(oi.delta, Float64Array),
             baseline: unpack(oi.baseline, Float64Array), tier: unpack(oi.tier, Float64Array) };
  }
  var OI_HOW = { oi: 'last', delta: 'extreme', baseline: 'last', tier: 'max' };

  function oiSlice(L, cols, a, z) {
    var out = { times: Array.prototype.slice.call(L.t.subarray(a, z)) };
    Object.keys(OI_HOW).forEach(function (name) {
      var v = L.column(name, cols[name], OI_HOW[name]), arr = new Array(z - a);
      for (var j = a; j < z; j++) arr[j - a] = v[j] === v[j] ? v[j] : null;
      out[name] = arr;
    });
    return out;
  }

  root.LiqPyramid = {
    BigView: BigView,
    Level: Level,
    Pyramid: Pyramid,
    LADDER: LADDER,
    MAX_SLICE: MAX_SLICE,
    oiColumns: oiColumns,
    oiSlice: oiSlice,
    unpack: unpack
  };
})(window);
