;/* liqlevels live page: a websocket moves the chart LiqLevels.mount draws (charts/_live.py).
 * A "snap" message (re)builds the chart from a scene, exactly as the static page does; the
 * other messages change it in place: series.update for the forming candle, the LevelLines and
 * PriceProfile primitives' setData for lines and profiles, setMarkers for liquidations.
 * Every frame is acknowledged ({"a": seq} once applied, {"f": seq} after the next frame is
 * drawn). Published for tests and tools as window.liqlevelsLive.
 * A big history comes packed (scene.candles.packed): LiqLevels.mount draws it through
 * pyramid.js's BigView (buckets of candles at the screen's resolution, refined on zoom), and
 * each bar goes to BigView.push, which updates the last bucket of every level built so far.
 * m.times is then a view on the pyramid's bar times; positions on the chart's logical scale
 * are buckets, turned into bars (and back) by the handle's axis.
 */
(function (root) {
  'use strict';
  var L = root.LiqLevels;
  var state = root.liqlevelsLive = {
    connected: false, reconnects: 0, snapshots: 0, seq: 0, candles: 0, last: null,
    lines: 0, live: 0, markers: 0, bars: 0, status: '', lagMs: null, applyMs: null,
    heatColumns: 0,
    error: null
  };
  var main = document.getElementById('liqlevels-main');
  var m = null;            /* the mounted picture */
  var ws = null, attempts = 0, opened = false, painting = false;

  /* ------------------------------------------------------------ status and banner */

  var CSS = [
    '.ll-status{position:absolute;left:10px;bottom:34px;z-index:3;pointer-events:none;',
    'font:12px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;',
    'background:rgba(14,17,23,0.72);border-radius:4px;padding:3px 9px;max-width:70%}',
    '.ll-status .ll-dot{display:inline-block;width:8px;height:8px;border-radius:50%;',
    'margin-right:6px}',
    '.ll-banner{position:absolute;left:50%;top:10px;transform:translateX(-50%);z-index:5;',
    'background:#b3261e;color:#fff;border-radius:4px;padding:6px 14px;display:none;',
    'font:600 13px -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}',
    '.ll-marks{display:inline-block;width:0;height:0;border-left:5px solid transparent;',
    'border-right:5px solid transparent}'
  ].join('');

  var el = root.LiqLevels.el;  // one element builder, liqlevels.js's

  var style = el('style', null, CSS);
  document.head.appendChild(style);
  var statusBox = el('div', 'll-status');
  var banner = el('div', 'll-banner', 'disconnected \u2014 reconnecting\u2026');
  main.appendChild(statusBox);
  main.appendChild(banner);

  function utc(t) {
    var s = new Date(t * 1000).toISOString();
    return s.slice(0, 10) + ' ' + s.slice(11, t % 60 ? 19 : 16) + ' UTC';
  }

  function renderStatus() {
    var color = m ? m.scene.theme.text : '#c7cbd4';
    statusBox.textContent = '';
    statusBox.style.color = color;
    var dot = el('span', 'll-dot');
    dot.style.background = state.connected ? '#40d6a0' : '#ff5252';
    var parts = [state.connected ? 'live' : 'disconnected'];
    if (state.last) parts.push('last bar ' + utc(state.last.time));
    if (state.connected && state.lagMs !== null) parts.push('lag ' + state.lagMs + ' ms');
    parts.push('reconnects ' + state.reconnects);
    var line = el('div');
    line.appendChild(dot);
    line.appendChild(el('span', null, parts.join(' \u00b7 ')));
    statusBox.appendChild(line);
    if (state.status) statusBox.appendChild(el('div', null, state.status));
    banner.style.display = state.connected ? 'none' : 'block';
    banner.textContent = opened ? 'disconnected \u2014 reconnecting (attempt ' + attempts +
      ')\u2026' : 'connecting\u2026';
  }

  /* ------------------------------------------------------------------- the picture */

  /* The bar open at or before time t (epoch s), as the static chart places a time. */
  function barAt(t) {
    var a = 0, b = m.times.length - 1, at = 0;
    while (a <= b) {
      var mid = (a + b) >> 1;
      if (m.times[mid] <= t) { at = mid; a = mid + 1; } else b = mid - 1;
    }
    return at;
  }

  /* The view in bars (fractional positions; on a big chart the logical range is in
   * buckets), or null when it follows the latest bar (a new picture frames afresh). */
  function visibleView() {
    if (!m || !m.times.length) return null;
    var r = m.chart.timeScale().getVisibleLogicalRange(), n = m.times.length;
    if (!r) return null;
    var from = m.handle.axis.base(r.from), to = m.handle.axis.base(r.to);
    if (to >= n - 1) return null;
    var i = Math.max(0, Math.min(n - 1, Math.round(from)));
    return { time: m.times[i], i: i, from: from, to: to };
  }

  /* Bar times of a big chart: a view on the pyramid's (which grow as bars come). */
  function bigTimes(big) {
    var b = big.pyramid.base;
    return b.t.subarray(0, b.n);
  }

  /* The latest bar as {time, open, high, low, close}, or null. */
  function lastBar(scene, h) {
    var n = m.times.length, c = scene.candles;
    if (!n) return null;
    if (h.big) {
      var b = h.big.pyramid.base;
      return { time: b.t[n - 1], open: b.o[n - 1], high: b.h[n - 1], low: b.l[n - 1],
               close: b.c[n - 1] };
    }
    return { time: m.times[n - 1], open: c.o[n - 1], high: c.h[n - 1], low: c.l[n - 1],
             close: c.c[n - 1] };
  }

  function mountScene(scene) {
    var view = visibleView();
    if (m) { m.chart.remove(); m.legend.remove(); }
    var chart = root.LightweightCharts.createChart(main, { autoSize: true });
    /* the heatmap series first: series draw in the order they were added, candles on top */
    var heat = scene.heatmap && root.LiqHeatmap ? root.LiqHeatmap.add(chart) : null;
    var series = chart.addCandlestickSeries();
    var h = L.mount(chart, series, scene, main, null);
    if (m && m.heat) m.heat.tip.remove();
    m = { chart: chart, series: series, handle: h, scene: scene,
          times: h.big ? bigTimes(h.big) : h.times, big: h.big,
          lines: {}, profs: [], markers: {}, legend: h.legend, legendKey: '',
          pw: scene.view.profileWidth, heat: null };
    if (heat) mountHeat(heat, scene, h, series);
    var d = scene.lines;
    for (var i = 0; i < d.s.length; i++) {
      m.lines[d.id[i]] = { s: d.s[i], e: d.lv[i] ? -1 : d.e[i], p: d.p[i], st: d.styles[d.k[i]] };
    }
    scene.profiles.forEach(function (p, j) {
      m.profs.push({ slot: p.slot, data: p, prim: h.profiles[j] });
    });
    scene.markers.forEach(function (x) { m.markers[x[0] + ':' + x[1]] = x; });
    state.status = scene.status;
    state.last = lastBar(scene, h);
    if (view) {
      var shift = barAt(view.time) - view.i;
      if (m.big) m.big.show(view.from + shift, view.to + shift);
      else chart.timeScale().setVisibleLogicalRange({ from: view.from + shift,
                                                       to: view.to + shift });
    }
    redrawLines();
    setMarkers();
    refreshLegend();
    state.snapshots++;
    L.report(main, h.counts);
  }

  /* The heatmap of the snapshot, its values unpacked to plain numbers (scale 1) so the
   * columns that follow append as they come. */
  function mountHeat(layer, scene, h, series) {
    var hm = scene.heatmap, sc = hm.scale;
    hm.l = hm.l.map(function (v) { return v * sc; });
    hm.s = hm.s.map(function (v) { return v * sc; });
    hm.scale = 1;
    var info = root.LiqHeatmap.fill(layer, scene, h, series, main);
    m.heat = { layer: layer, h: hm, tip: info.tip };
    state.heatColumns = hm.b.length;
  }

  function onHeat(msg) {
    if (!m.heat || !m.times.length) return;
    var h = m.heat.h, c = msg.c, t = c[0], lows = c[1], n = h.t.length;
    if (t < m.times[0] || (n && t < h.t[n - 1])) return;
    if (!(h.bin > 0)) return;
    if (!h.k.length && lows.length) h.p0 = lows[0];
    var ks = lows.map(function (lo) { return Math.round((lo - h.p0) / h.bin); });
    var low = ks.length ? Math.min.apply(null, ks) : 0;
    if (low < 0) {  /* a bin below the lowest so far: re-base every column */
      for (var i = 0; i < h.k.length; i++) h.k[i] -= low;
      ks = ks.map(function (k) { return k - low; });
      h.p0 += low * h.bin;
    }
    if (n && h.t[n - 1] === t) {
      var from = h.off[n - 1];
      h.k.length = h.l.length = h.s.length = from;
      h.off.length = n;
      n -= 1;
    } else {
      h.t.push(t);
      h.b.push(barAt(t));
    }
    Array.prototype.push.apply(h.k, ks);
    Array.prototype.push.apply(h.l, c[2]);
    Array.prototype.push.apply(h.s, c[3]);
    h.off.push(h.k.length);
    h.n = m.times.length;
    h.vmax = msg.vmax;
    h.clipped = msg.clipped;
    /* a big chart's heat series holds one item per bucket: its listener sets them again */
    root.LiqHeatmap.refresh(m.heat.layer, h, m.times, m.big ? -1 : n);
    if (m.big) {
      var big = m.big, level = big.current();
      big.listeners.forEach(function (follow) { follow(level, big.a, big.z); });
    }
    state.heatColumns = h.t.length;
    refreshLegend();
  }

  function redrawLines() {
    var s = [], e = [], p = [], k = [], styles = [], keys = {}, n = m.times.length, live = 0;
    Object.keys(m.lines).forEach(function (id) {
      var x = m.lines[id], key = x.st.color + '|' + x.st.width + '|' + x.st.dash;
      if (!(key in keys)) { keys[key] = styles.length; styles.push(x.st); }
      s.push(x.s);
      e.push(x.e < 0 ? Math.max(x.s, n - 1) : Math.max(x.s, x.e));
      p.push(x.p);
      k.push(keys[key]);
      if (x.e < 0) live++;
    });
    m.handle.lines.setData({ s: s, e: e, p: p, k: k, styles: styles });
    state.lines = s.length;
    state.live = live;
  }

  function marker(x) {
    var long = x[1] === 'long';
    return { time: x[0], position: long ? 'belowBar' : 'aboveBar',
             shape: long ? 'arrowUp' : 'arrowDown', color: m.scene.sides[x[1]],
             text: x[2], size: x[3] };
  }

  function setMarkers() {
    var list = Object.keys(m.markers).map(function (key) { return m.markers[key]; });
    list.sort(function (a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : 1); });
    m.series.setMarkers(list.map(marker));
    state.markers = list.length;
  }

  /* The legend of liqlevels.js, rebuilt when what it lists changed, plus the markers' key. */
  function refreshLegend() {
    var lines = m.scene.lines, drawn = Object.keys(m.lines).length;
    var legendScene = {
      title: m.scene.title, subtitle: m.scene.subtitle, theme: m.scene.theme, oi: null,
      lines: { leverages: lines.leverages, total: lines.total, drawn: drawn },
      profiles: m.profs.map(function (x) { return x.data; })
    };
    var hd = m.heat ? m.heat.layer.view.data : null;
    var key = JSON.stringify([legendScene.lines, legendScene.profiles.map(function (p) {
      return [p.label, p.names, p.colors];
    }), hd ? [hd.h.vmax, hd.h.clipped, hd.drawable > 0] : null]);
    state.bars = m.profs.reduce(function (a, x) { return a + x.prim.count(); }, 0);
    if (key === m.legendKey) return;
    m.legendKey = key;
    m.legend.remove();
    m.legend = L.buildLegend(main, legendScene);
    var row = el('div', 'll-row');
    row.appendChild(el('span', 'll-sub', 'liquidated (notional)'));
    [['long', 'L long', 'border-bottom'], ['short', 'S short', 'border-top']].forEach(function (s) {
      var item = el('span', 'll-item'), tri = el('span', 'll-marks');
      tri.style[s[2] === 'border-bottom' ? 'borderBottom' : 'borderTop'] =
        '8px solid ' + m.scene.sides[s[0]];
      item.appendChild(tri);
      item.appendChild(el('span', null, s[1]));
      row.appendChild(item);
    });
    m.legend.appendChild(row);
    if (hd) {
      root.LiqHeatmap.legend(m.legend, hd, function (p) {
        return m.series.priceFormatter().format(p);
      });
    }
  }

  /* ------------------------------------------------------------------ the messages */

  function onBar(msg) {
    var b = msg.b, t = b[0], n = m.times.length;
    if (n && t < m.times[n - 1]) return;
    var appended = !n || t > m.times[n - 1];
    if (m.big) {  /* the pyramid's levels and the series' last bucket follow */
      m.big.push(t, b[1], b[2], b[3], b[4]);
      m.times = bigTimes(m.big);
    } else {
      m.series.update({ time: t, open: b[1], high: b[2], low: b[3], close: b[4] });
      if (appended) m.times.push(t);
    }
    state.last = { time: t, open: b[1], high: b[2], low: b[3], close: b[4] };
    if (msg.w) state.lagMs = Math.max(0, Date.now() - msg.w);
    if (appended) {
      if (m.heat) m.heat.h.n = m.times.length; /* the last column reaches the new bar */
      if (state.live) redrawLines(); /* live lines reach the new bar */
    }
  }

  function onLines(msg) {
    msg.del.forEach(function (id) { delete m.lines[id]; });
    msg.add.forEach(function (a) {
      m.lines[a[0]] = { s: barAt(a[1]), e: a[2] === null ? -1 : barAt(a[2]), p: a[3],
                        st: { color: a[4], width: a[5], dash: a[6] } };
    });
    msg.end.forEach(function (x) { if (m.lines[x[0]]) m.lines[x[0]].e = barAt(x[1]); });
    msg.live.forEach(function (id) { if (m.lines[id]) m.lines[id].e = -1; });
    m.scene.lines.total = msg.total;
    if (msg.leverages) m.scene.lines.leverages = msg.leverages;
    redrawLines();
    refreshLegend();
  }

  function onProfile(msg) {
    var at = -1;
    m.profs.forEach(function (x, j) { if (x.slot === msg.slot) at = j; });
    if (msg.p === null) {
      if (at >= 0) { m.series.detachPrimitive(m.profs[at].prim); m.profs.splice(at, 1); }
    } else if (at >= 0) {
      m.profs[at].prim.setData(msg.p);
      m.profs[at].data = msg.p;
    } else {
      var prim = new L.PriceProfile(msg.p), entry = { slot: msg.slot, data: msg.p, prim: prim };
      m.series.attachPrimitive(prim);
      if (msg.slot === 'density') m.profs.unshift(entry); else m.profs.push(entry);
    }
    keepRoom(msg.pw);
    refreshLegend();
  }

  /* Room right of the last bar for the right-edge profiles, as LiqLevels.frame leaves it,
   * kept when a profile comes or goes while the view follows the latest bar. */
  function keepRoom(pw) {
    if (pw === m.pw) return;
    m.pw = pw;
    var ts = m.chart.timeScale(), r = ts.getVisibleLogicalRange(), n = m.times.length;
    if (!r || !n) return;
    var last = m.handle.axis.pos(n - 1);  /* the latest bar (its bucket) on the logical scale */
    if (r.to < last) return;
    var shown = Math.max(1, last - r.from), room = pw > 0 ? pw / (1 - pw) : 0;
    ts.setVisibleLogicalRange({ from: r.from, to: last + Math.ceil(shown * room) + 3 });
  }

  function onMarks(msg) {
    msg.m.forEach(function (x) { m.markers[x[0] + ':' + x[1]] = x; });
    setMarkers();
  }

  var HANDLERS = {
    snap: function (msg) { mountScene(msg.scene); },
    bar: onBar,
    lines: onLines,
    prof: onProfile,
    marks: onMarks,
    heat: onHeat,
    status: function (msg) { state.status = msg.s; }
  };

  function apply(batch) {
    var t0 = performance.now();
    for (var i = 0; i < batch.length; i++) {
      var msg = batch[i];
      if (msg.t !== 'snap' && !m) continue;
      var handler = HANDLERS[msg.t];
      if (handler) handler(msg);
      state.seq = msg.q;
    }
    state.candles = m ? m.times.length : 0;
    renderStatus();
    state.applyMs = performance.now() - t0;
  }

  /* ---------------------------------------------------------------- the connection */

  function send(obj) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj));
  }

  function onMessage(ev) {
    try {
      apply(JSON.parse(ev.data));
    } catch (err) {
      state.error = String((err && err.stack) || err);
      if (ws) ws.close(4000, 'page failed to apply a message'); /* a fresh snapshot follows */
      throw err;
    }
    send({ a: state.seq });
    if (!painting) {
      painting = true;
      requestAnimationFrame(function () { painting = false; send({ f: state.seq }); });
    }
  }

  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
    var sock = ws = new WebSocket(url);
    sock.onopen = function () {
      if (opened) state.reconnects++;
      opened = true;
      attempts = 0;
      state.connected = true;
      renderStatus();
    };
    sock.onmessage = onMessage;
    sock.onclose = function () {
      if (ws === sock) ws = null;
      state.connected = false;
      attempts++;
      renderStatus();
      setTimeout(connect, Math.min(2000, 125 * Math.pow(2, attempts)));
    };
  }

  state.close = function () { if (ws) ws.close(); };   /* for tests: drop the socket */
  /** What the chart holds now, read back from Lightweight Charts and the primitives. */
  state.dump = function () {
    if (!m) return null;
    var data = m.series.data(), d = m.handle.lines.data, lines = [];
    for (var i = 0; i < d.s.length; i++) {
      var st = d.styles[d.k[i]];
      lines.push([d.s[i], d.e[i], d.p[i], st.color, st.width, st.dash]);
    }
    return {
      times: data.map(function (x) { return x.time; }),
      ohlc: data.map(function (x) { return [x.open, x.high, x.low, x.close]; }),
      lines: lines,
      markers: m.series.markers().map(function (x) {
        return [x.time, x.position, x.color, x.text, x.size];
      }),
      profiles: m.profs.map(function (x) {
        return { slot: x.slot, label: x.data.label, bars: x.prim.count() };
      }),
      heat: m.heat ? { columns: m.heat.h.t.slice(), b: m.heat.h.b.slice(),
                       off: m.heat.h.off.slice(), p0: m.heat.h.p0, bin: m.heat.h.bin,
                       k: m.heat.h.k.slice(), l: m.heat.h.l.slice(), s: m.heat.h.s.slice(),
                       vmax: m.heat.h.vmax, cells: m.heat.layer.view.data.drawable,
                       items: m.heat.layer.series.data().map(function (x) {
                         return [x.time, x.c]; }) } : null,
      legend: m.legend.textContent,
      status: statusBox.textContent,
      banner: banner.style.display !== 'none' ? banner.textContent : ''
    };
  };
  renderStatus();
  connect();
})(window);
