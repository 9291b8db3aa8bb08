"""The local parquet cache of feeds: incremental fill, atomic writes, corrupt files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakes import fake_exchange
from hypothesis import given
from hypothesis import strategies as st

from liqlevels import feeds
from liqlevels.feeds import FeedWarning, _retry
from liqlevels.feeds._cache import (
    OHLCV,
    OI,
    Answer,
    SeriesStore,
    cache_root,
    merge_rows,
    missing_spans,
    row_faults,
    union_spans,
)

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
SYMBOL = "SOL/USDT:USDT"


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_retry, "_sleep", lambda seconds: None)


def _data_calls(server) -> list:
    return server.calls(server.KLINES) + server.calls(server.OI)


def test_a_second_call_for_the_same_range_makes_no_data_request(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        args = dict(since=server.now - 5 * DAY, until=server.now - 2 * DAY, cache_dir=tmp_path)
        first = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        assert _data_calls(server)
        server.reset_log()
        second = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        inner = feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 4 * DAY,
                                    until=server.now - 3 * DAY, cache_dir=tmp_path)
        assert server.count() == 0
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(inner, first.loc[inner.index[0]:inner.index[-1]])
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == ["ohlcv-1h.parquet",
                                                                 "oi-1h.parquet"]


def test_an_overlapping_range_fetches_only_what_is_missing(tmp_path) -> None:
    with fake_exchange("bybit") as (ex, server):
        hour = server.now - server.now % HOUR
        a, b = hour - 6 * DAY, hour - 3 * DAY
        feeds.fetch_candles(ex, SYMBOL, "1h", since=a, until=b, cache_dir=tmp_path)
        server.reset_log()
        wide = feeds.fetch_candles(ex, SYMBOL, "1h", since=a - 2 * DAY, until=b + DAY,
                                   cache_dir=tmp_path)
        for call in server.calls(server.KLINES):  # one cached bar at each seam, no more
            lo, hi = int(call.params["start"]), int(call.params["end"])
            assert hi < a + HOUR or lo >= b - HOUR, (lo, hi)
        for call in server.calls(server.OI):  # snapshots a + 1h ... b are cached
            lo, hi = int(call.params["startTime"]), int(call.params["endTime"])
            assert hi < a + 2 * HOUR or lo >= b, (lo, hi)
        assert len(server.calls(server.KLINES)) == 2
    fresh = server.data.expected(HOUR, a - 2 * DAY, b + DAY)
    pd.testing.assert_frame_equal(wide.drop(columns="open_interest_value"),
                                  fresh.drop(columns="open_interest_value"), check_freq=False)


def test_a_later_call_fetches_only_the_new_bars(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        end = server.now
        server.now = end - 2 * HOUR  # the clock ex.milliseconds() follows
        first = feeds.fetch_candles(ex, SYMBOL, "5m", since=end - DAY, cache_dir=tmp_path)
        server.now = end
        server.reset_log()
        later = feeds.fetch_candles(ex, SYMBOL, "5m", since=end - DAY, cache_dir=tmp_path)
        starts = [int(c.params["startTime"]) for c in _data_calls(server)]
    assert len(later) == len(first) + 24
    # the new bars, and the last cached one again: rows on both sides vouch for the seam
    assert len(starts) == 2 and min(starts) >= end - 2 * HOUR - 2 * 5 * MIN


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_a_corrupt_cache_file_is_detected_and_fetched_again(tmp_path, damage: str) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        args = dict(since=server.now - 5 * DAY, until=server.now - 2 * DAY, cache_dir=tmp_path)
        good = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        (path,) = tmp_path.rglob("ohlcv-1h.parquet")
        data = path.read_bytes()
        broken = {"truncate": data[: len(data) // 2], "garbage": b"not parquet" * 50,
                  "flip": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
                  "empty": b""}[damage]
        path.write_bytes(broken)
        server.reset_log()
        with pytest.warns(FeedWarning, match="corrupt"):
            again = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        assert server.count(server.KLINES) >= 1 and server.count(server.OI) == 0
    pd.testing.assert_frame_equal(again, good)
    pq.read_table(path)  # rewritten whole


# -- what the cache trusts: files written before it verified, rows that fail the checks ----
def _rewrite(path, rows: np.ndarray, coverage: list, version: int) -> None:
    """Write a cache file as a given version of liqlevels would have."""
    table = pq.read_table(path)
    arrays = {name: pa.array(rows[:, i].astype(np.int64) if i == 0 else rows[:, i])
              for i, name in enumerate(table.column_names)}
    meta = {"version": version, "coverage": [list(span) for span in coverage]}
    pq.write_table(pa.table(arrays).replace_schema_metadata({b"liqlevels": json.dumps(meta)}),
                   path)


def _cached(path) -> tuple[np.ndarray, list]:
    table = pq.read_table(path)
    rows = np.column_stack([table.column(c).to_numpy().astype(float) for c in table.column_names])
    return rows, json.loads(table.schema.metadata[b"liqlevels"])["coverage"]


def test_a_span_an_older_version_marked_fetched_without_rows_is_fetched_again(tmp_path) -> None:
    """Version 1 recorded coverage whatever came back: an empty page left a covered span
    with no rows in it, served forever. Such a file is trusted only where it has rows."""
    with fake_exchange("binanceusdm") as (ex, server):
        args = dict(since=server.now - 5 * DAY, until=server.now - 2 * DAY, cache_dir=tmp_path)
        good = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        (path,) = tmp_path.rglob("ohlcv-1h.parquet")
        rows, coverage = _cached(path)
        _rewrite(path, rows[len(rows) // 2:], coverage, version=1)  # first half: "empty"
        server.reset_log()
        again = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        assert server.count(server.KLINES) == 1 and server.count(server.OI) == 0
        server.reset_log()
        pd.testing.assert_frame_equal(feeds.fetch_candles(ex, SYMBOL, "1h", **args), good)
        assert server.count() == 0  # rewritten as verified
    pd.testing.assert_frame_equal(again, good)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("damage", ["high below low", "infinite close", "off the grid",
                                    "negative open interest"])
def test_a_cached_row_that_fails_the_checks_is_dropped_and_fetched_again(
        tmp_path, damage: str, version: int) -> None:
    kind = "oi-1h" if damage == "negative open interest" else "ohlcv-1h"
    with fake_exchange("bybit") as (ex, server):
        args = dict(since=server.now - 5 * DAY, until=server.now - 2 * DAY, cache_dir=tmp_path)
        good = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        (path,) = tmp_path.rglob(f"{kind}.parquet")
        rows, coverage = _cached(path)
        row = len(rows) // 2
        if damage == "high below low":
            rows[row, 2] = rows[row, 3] / 2
        elif damage == "infinite close":
            rows[row, 4] = np.inf
        elif damage == "off the grid":
            rows[row, 0] += 1_000
        else:
            rows[row, 1] = -rows[row, 1]
        _rewrite(path, rows, coverage, version=version)
        server.reset_log()
        with pytest.warns(FeedWarning, match=rf"bybit {SYMBOL} {kind}: 1 cached row\(s\) fail"):
            again = feeds.fetch_candles(ex, SYMBOL, "1h", **args)
        assert server.count() == 1  # that one slot, asked for again
    pd.testing.assert_frame_equal(again, good)


def test_row_checks_name_the_first_bad_row_and_why() -> None:
    rows = np.array([[0, 10, 11, 9, 10, 1], [HOUR, 10, 9, 11, 10, 1],
                     [2 * HOUR + 5, 10, 11, 9, 10, 1], [3 * HOUR, 10, np.inf, 9, 10, 1],
                     [4 * HOUR, 10, 11, 9, 10, -1]])
    bad, why = row_faults(rows, OHLCV, HOUR)
    assert bad.tolist() == [False, True, True, True, True]
    assert why == "the row at 1970-01-01 01:00 UTC (3600000 ms): high is below low"
    assert "off the 1h grid" in row_faults(rows[[0, 2]], OHLCV, HOUR)[1]
    assert "high inf is not a positive finite price" in row_faults(rows[[0, 3]], OHLCV, HOUR)[1]
    assert "volume -1.0 is not a finite number >= 0" in row_faults(rows[[4]], OHLCV, HOUR)[1]
    week = 7 * DAY
    monday = 4 * DAY  # 1970-01-05: weeks open on Mondays, as the exchanges count them
    assert not row_faults(np.array([[monday, 1, 1, 1, 1, 0]]), OHLCV, week)[0].any()
    assert row_faults(np.array([[0, 1, 1, 1, 1, 0]]), OHLCV, week)[0].all()
    oi = np.array([[0, 5.0, np.nan], [HOUR, np.nan, np.nan], [2 * HOUR, np.nan, -3.0]])
    assert row_faults(oi, OI, HOUR)[0].tolist() == [False, True, True]


def test_an_archive_answer_vouches_for_its_good_rows_only() -> None:
    rows = np.array([[t * HOUR, 5.0, 50.0] for t in range(6)])
    rows[2, 1] = -5.0
    answer = Answer.of_rows(rows[::-1], OI, HOUR)
    assert answer.rows[:, 0].tolist() == [0, HOUR, 3 * HOUR, 4 * HOUR, 5 * HOUR]
    assert answer.vouched == [(0, 2 * HOUR), (3 * HOUR, 6 * HOUR)]
    assert answer.refused[0][0] == (2 * HOUR, 3 * HOUR)
    assert "open_interest -5.0 is negative" in answer.refused[0][1]
    assert Answer.of_rows(np.empty((0, 3)), OI, HOUR).vouched == []


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch) -> None:
    store = SeriesStore(tmp_path, "x", "A/B:C", "ohlcv-1h", ("close",), HOUR)
    rows = np.array([[0.0, 1.0], [HOUR, 2.0]])
    store.save(rows, [(0, 2 * HOUR)])
    before = store.path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError, match="disk full"):
        store.save(rows[:1], [(0, HOUR)])
    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir()] == ["ohlcv-1h.parquet"]
    monkeypatch.undo()
    loaded, covered = store.load()
    np.testing.assert_array_equal(loaded, rows)
    assert covered == [(0, 2 * HOUR)]


def test_cache_location() -> None:
    assert cache_root(False) is None
    assert "liqlevels" in str(cache_root(None))
    with pytest.raises(TypeError, match="cache_dir"):
        cache_root(3)


def test_cache_off_fetches_every_time(tmp_path) -> None:
    with fake_exchange("okx") as (ex, server):
        for _ in range(2):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - DAY, cache_dir=False)
        assert server.count(server.KLINES) == 2 * 1 and server.count(server.OI) == 2


# -- the span arithmetic and row merging, as properties ------------------------------------
spans = st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted).map(tuple),
                 max_size=6)


def _points(spans_: list, lo: int = 0, hi: int = 101) -> set[int]:
    return {x for x in range(lo, hi) for a, b in spans_ if a <= x < b}


@given(spans, st.integers(0, 100), st.integers(0, 100))
def test_missing_spans_are_exactly_the_uncovered_part(covered, a, b) -> None:
    a, b = min(a, b), max(a, b)
    missing = missing_spans(union_spans([], covered), a, b)
    assert _points(missing) == set(range(a, b)) - _points(covered)
    assert all(x < y for x, y in missing)
    assert all(missing[i][1] < missing[i + 1][0] for i in range(len(missing) - 1))


@given(spans, spans)
def test_union_spans_merges_into_disjoint_sorted_spans(old, new) -> None:
    merged = union_spans(old, new)
    assert _points(merged) == _points(old) | _points(new)
    assert all(merged[i][1] < merged[i + 1][0] for i in range(len(merged) - 1))


@given(st.lists(st.integers(0, 30), max_size=20), st.lists(st.integers(0, 30), max_size=20))
def test_merge_rows_is_sorted_unique_and_new_wins(old_ts, new_ts) -> None:
    old = np.array([[t, 0.0] for t in sorted(set(old_ts))]).reshape(-1, 2)
    new = np.array([[t, 1.0] for t in sorted(set(new_ts))]).reshape(-1, 2)
    merged = merge_rows(old, new)
    assert list(merged[:, 0]) == sorted(set(old_ts) | set(new_ts))
    for t, flag in merged:
        assert flag == (1.0 if t in set(new_ts) else 0.0)


def test_warning_class_is_the_projects() -> None:
    from liqlevels import indicator

    assert issubclass(FeedWarning, indicator.LiqLevelsWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache_root(None) is not None


def test_retry_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from liqlevels.feeds import FeedSettings

    monkeypatch.setenv("LIQLEVELS_TRIES", "2")
    monkeypatch.setenv("LIQLEVELS_BACKOFF", "0.25")
    assert (FeedSettings().tries, FeedSettings().backoff) == (2, 0.25)
    monkeypatch.delenv("LIQLEVELS_TRIES")
    monkeypatch.delenv("LIQLEVELS_BACKOFF")
    assert (FeedSettings().tries, FeedSettings().backoff) == (5, 1.0)
    monkeypatch.setenv("LIQLEVELS_TRIES", "many")
    with pytest.raises(ValueError, match="LIQLEVELS_TRIES='many'"):
        FeedSettings()
    monkeypatch.setenv("LIQLEVELS_TRIES", "-1")
    with pytest.raises(ValueError, match="LIQLEVELS_TRIES='-1' must be >= 0"):
        FeedSettings()
