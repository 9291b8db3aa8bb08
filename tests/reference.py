"""Plain bar-by-bar readings of docs/method.md (the spec), written the way a Pine script runs.

Deliberately naive: lists and loops, no numpy tricks. The fast engine is held against these.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NAN = float("nan")


def _baseline(x, volume, n, ma_type):
    out = [NAN] * len(x)
    if ma_type == "ema":
        alpha = 2 / (n + 1)
        run, ema = 0, NAN
        for t, value in enumerate(x):
            if math.isnan(value):
                run, ema = 0, NAN
                continue
            run += 1
            if run == n:
                ema = sum(x[t - n + 1 : t + 1]) / n
            elif run > n:
                ema = alpha * value + (1 - alpha) * ema
            out[t] = ema if run >= n else NAN
        return out
    for t in range(n - 1, len(x)):
        window = x[t - n + 1 : t + 1]
        if any(math.isnan(v) for v in window):
            continue
        if ma_type == "sma":
            out[t] = sum(window) / n
        elif ma_type == "wma":
            weights = range(1, n + 1)  # oldest 1 ... newest n
            out[t] = sum(w * v for w, v in zip(weights, window, strict=True)) / (n * (n + 1) / 2)
        elif ma_type == "vwma":
            vols = volume[t - n + 1 : t + 1]
            den = sum(vols)
            out[t] = sum(v * w for v, w in zip(window, vols, strict=True)) / den if den > 0 else NAN
    return out


def signals(candles, ma_length=60, ma_type="sma", thresholds=(1.2, 2.0, 3.0),
            direction="increase"):
    """Per bar: oi_delta, baseline, tier, trigger, entry (lists)."""
    oi = candles["open_interest"].tolist()
    n = len(oi)
    delta = [NAN] * n
    for t in range(1, n):
        if not (math.isnan(oi[t]) or math.isnan(oi[t - 1])):
            delta[t] = oi[t] - oi[t - 1]
    mag = [abs(d) for d in delta]
    base = _baseline(mag, candles["volume"].tolist(), ma_length, ma_type)
    tier, trigger, entry = [], [], []
    o, h, lo, c = (candles[k].tolist() for k in ("open", "high", "low", "close"))
    for t in range(n):
        k = sum(1 for th in thresholds if mag[t] > th * base[t])
        tier.append(k)
        sign_ok = {"increase": delta[t] > 0, "decrease": delta[t] < 0,
                   "both": delta[t] != 0 and not math.isnan(delta[t])}[direction]
        trigger.append(k >= 1 and sign_ok)
        entry.append((o[t] + h[t] + lo[t] + c[t]) / 4)
    return delta, base, tier, trigger, entry


def levels(candles, ma_length=60, ma_type="sma", thresholds=(1.2, 2.0, 3.0),
           leverages=(5, 10, 25, 50, 100), direction="increase", mmr=0.0):
    """The levels frame, one line at a time."""
    delta, _, tier, trigger, entry = signals(candles, ma_length, ma_type, thresholds, direction)
    high, low = candles["high"].tolist(), candles["low"].tolist()
    times = list(candles.index)
    rows = []
    for t in range(len(times)):
        if not trigger[t]:
            continue
        for lev in leverages:
            for side in ("long", "short"):
                if side == "long":
                    price = entry[t] * (1 - 1 / lev + mmr)
                else:
                    price = entry[t] * (1 + 1 / lev - mmr)
                end = pd.NaT
                for u in range(t + 1, len(times)):
                    touched = low[u] <= price if side == "long" else high[u] >= price
                    if touched:
                        end = times[u]
                        break
                rows.append((times[t], end, side, lev, price, entry[t], tier[t], delta[t]))
    return pd.DataFrame(rows, columns=["start", "end", "side", "leverage", "price", "entry",
                                       "tier", "oi_delta"])


def density(levels_frame, at=None, bins=150, weight="count"):
    """Histogram of live lines, one line at a time: list of (low, high, long, short)."""
    live = []
    for row in levels_frame.itertuples(index=False):
        if at is None:
            ok = pd.isna(row.end)
        else:
            ok = row.start <= at and (pd.isna(row.end) or row.end > at)
        if ok:
            w = 1 if weight == "count" else abs(row.oi_delta)
            live.append((row.price, row.side, w))
    if not live:
        return []
    lo = min(p for p, _, _ in live)
    hi = max(p for p, _, _ in live)
    if lo == hi:
        return [(lo, hi, sum(w for _, s, w in live if s == "long"),
                 sum(w for _, s, w in live if s == "short"))]
    edges = np.linspace(lo, hi, bins + 1)
    out = [[edges[i], edges[i + 1], 0, 0] for i in range(bins)]
    for price, side, w in live:
        i = bins - 1
        for j in range(bins):
            if price < edges[j + 1]:
                i = j
                break
        out[i][2 if side == "long" else 3] += w
    return [tuple(r) for r in out]


# --- the map's aligned bins (docs/method.md section 3) --------------------------------------


def ref_bin(price: float, size: float) -> int:
    """``k`` with ``k * size <= price < (k + 1) * size``."""
    k = math.floor(price / size)
    while k * size > price:
        k -= 1
    while (k + 1) * size <= price:
        k += 1
    return k


def ref_bin_size(levels: pd.DataFrame) -> float:
    """The map's default bin size over the levels' entries."""
    lo, hi = levels["entry"].min(), levels["entry"].max()
    return 10.0 ** (math.floor(math.log10(hi - lo)) - 2 if hi > lo
                    else math.floor(math.log10(hi)) - 4)
