"""The local parquet cache of feeds: incremental fill, atomic writes, corrupt files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fakes import fake_exchange
from hypothesis import given
from hypothesis import strategies as st

from liqlevels import feeds
from liqlevels.feeds import FeedWarning, _retry
from liqlevels.feeds._cache import SeriesStore, cache_root, merge_rows, missing_spans, union_spans

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
        for call in server.calls(server.KLINES):
            lo, hi = int(call.params["start"]), int(call.params["end"])
            assert hi < a or lo >= b, (lo, hi)
        for call in server.calls(server.OI):  # snapshots a + 1h ... b are cached
            lo, hi = int(call.params["startTime"]), int(call.params["endTime"])
            assert hi < a + HOUR or lo > b, (lo, hi)
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
    assert len(starts) == 2 and min(starts) >= end - 2 * HOUR - 5 * MIN


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


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch) -> None:
    store = SeriesStore(tmp_path, "x", "A/B:C", "ohlcv-1h", ("close",))
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
