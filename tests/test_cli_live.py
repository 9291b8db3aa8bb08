"""``liqlevels live`` end to end: the command in its own process against the loopback REST and
websocket fakes of an exchange, on the real clock: warm-up, a forming bar, trades and a
liquidation from the sockets, then ``--duration`` or Ctrl-C ends it cleanly with the final
files. Also: its flags are checked before anything connects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakes import FakeWebsocket, MarketData, fake_exchange

from liqlevels import feeds, indicator
from liqlevels.cli import main

SYMBOL = "SOL/USDT:USDT"
HOUR = 3_600_000


def _market() -> MarketData:
    """Seven days of 1m bars reaching past the real clock (the command runs on it)."""
    now = pd.Timestamp.now(tz="UTC")
    return MarketData.generated(days=7, start=f"{now - pd.Timedelta(days=6):%Y-%m-%d}")


def _wait(condition, what: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the command ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def _command(tmp_path: Path, server, ws, *extra: str) -> list[str]:
    return [sys.executable, "-P", "-m", "liqlevels.cli", "live", SYMBOL,
            "--exchange", "binanceusdm", "--timeframe", "1h", "--bars", "200",
            "--api-url", server.base_url, "--ws-url", ws.base_url,
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
            "--no-browser", "--no-png", *extra]


def _send_market(ws: FakeWebsocket, server, t: int) -> None:
    """The forming bar, 40 trades and one long liquidation, in Binance's formats."""
    ws.send_kline(t, "1h")
    rng = np.random.default_rng(1)
    close = ws.kline_values(t, "1h")[3]
    trades = [{"id": 10_000 + i, "time": server.now - 5_000 + 100 * i,
               "price": close * (1 + rng.normal(0, 0.001)), "quantity": 50.0 + i,
               "side": "buy" if i % 3 else "sell"} for i in range(40)]
    ws.send_trades(trades)
    ws.send_liquidation(position="long", price=close * 0.99, quantity=12.5,
                        time=server.now - 1_000)


def _check_levels(tmp_path: Path, rest, t: int) -> pd.DataFrame:
    """The written levels: for every line born before the forming bar, the batch's."""
    csv = tmp_path / "out" / "SOL-USDT-USDT_1h-levels.csv"
    got = pd.read_csv(csv, parse_dates=["start", "end"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", feeds.FeedWarning)
        history = feeds.fetch_candles(rest, SYMBOL, "1h", since=t - 200 * HOUR, until=t,
                                      cache_dir=False)
    want = indicator.oi_levels(history)
    born = got[got["start"] < pd.Timestamp(t, unit="ms", tz="UTC")].reset_index(drop=True)
    assert len(want) > 0 and len(born) == len(want)
    for col in ("side", "leverage", "tier"):
        assert born[col].tolist() == want[col].tolist()
    np.testing.assert_allclose(born["price"], want["price"], rtol=1e-12)
    assert (born["start"].to_numpy() == want["start"].to_numpy()).all()
    return got


def test_live_end_to_end_on_the_fakes_until_duration(tmp_path):
    with fake_exchange("binanceusdm", data=_market()) as (rest, server), \
            FakeWebsocket(server) as ws:
        server.now = int(time.time() * 1000)
        t = server.now - server.now % HOUR
        proc = subprocess.Popen(
            _command(tmp_path, server, ws, "--duration", "8", "--trades", "gross_value",
                     "--trade-threshold", "100", "--record", str(tmp_path / "rec"),
                     "--alert-within", "50"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: ws.subscribed("kline") and ws.subscribed("trade")
              and ws.subscribed("liquidation"), "the three subscriptions", proc)
        _send_market(ws, server, t)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        _check_levels(tmp_path, rest, t)
    assert "Traceback" not in err
    assert "live page: http://127.0.0.1:" in out
    assert "stopped (duration)" in out and "1 liquidations" in out
    assert "ALERT" in out
    record = list((tmp_path / "rec").rglob("*.parquet"))
    assert len(record) == 1
    liquidations = feeds.read_liquidations(tmp_path / "rec")
    assert liquidations["side"].tolist() == ["long"]
    assert liquidations["quantity"].tolist() == [12.5]
    trade_map = pd.read_csv(tmp_path / "out" / "SOL-USDT-USDT_1h-map.csv")
    assert len(trade_map) > 0 and set(trade_map["side"]) <= {"long", "short"}
    alerts = (tmp_path / "out" / "SOL-USDT-USDT_1h-alerts.jsonl").read_text().splitlines()
    assert len(alerts) == 1 and '"within": 50.0' in alerts[0]


def test_ctrl_c_ends_cleanly_with_the_final_files(tmp_path):
    with fake_exchange("binanceusdm", data=_market()) as (rest, server), \
            FakeWebsocket(server) as ws:
        server.now = int(time.time() * 1000)
        t = server.now - server.now % HOUR
        proc = subprocess.Popen(_command(tmp_path, server, ws), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _wait(lambda: ws.subscribed("kline"), "the kline subscription", proc)
        ws.send_kline(t, "1h")
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        _check_levels(tmp_path, rest, t)
    assert "Traceback" not in err
    assert "stopped (interrupted)" in out


@pytest.mark.parametrize(("flags", "message"), [
    (["--alert-within", "0"], "--alert-within: 0 is out of range"),
    (["--duration", "-3"], "--duration: -3 is out of range"),
    (["--trades", "biggest"], "--trades: invalid choice"),
    (["--ws-url", "http://127.0.0.1:9"], "--ws-url"),
    (["--ma-length", "0"], "--ma-length"),
    (["--trades", "portion", "--trade-threshold", "7"], "--trades portion"),
    (["--exchanges", "binanceusdm,bybit"], "one URL cannot serve several exchanges"),
    (["--exchanges", "bybit", "--weight", "count"], "--exchanges: 'bybit': give two or more"),
    (["--exchange", "okx", "--exchanges", "binanceusdm,bybit"], "not allowed with"),
    (["--weight", "usd"], "--weight: invalid choice"),
])
def test_bad_flags_fail_before_any_connection(flags, message, capsys):
    try:
        code = main(["live", SYMBOL, "--api-url", "http://127.0.0.1:9", "--ws-url",
                     "ws://127.0.0.1:9", "--no-browser", *flags])
    except SystemExit as exc:  # a usage error: argparse exits with 2
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2) and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def _first_snapshot(url: str) -> dict:
    """The ``snap`` message a page connecting to the live page's socket receives first."""
    import asyncio
    import json

    import aiohttp

    async def read() -> dict:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url.rstrip("/") + "/ws", origin=url.rstrip("/")) as sock:
            while True:
                for msg in json.loads((await sock.receive(timeout=30)).data):
                    if msg["t"] == "snap":
                        return msg["scene"]

    return asyncio.run(read())


def test_live_heatmap_grows_a_column_with_the_forming_bar(tmp_path):
    with fake_exchange("binanceusdm", data=_market()) as (rest, server), \
            FakeWebsocket(server) as ws:
        server.now = int(time.time() * 1000)
        t = server.now - server.now % HOUR
        proc = subprocess.Popen(
            _command(tmp_path, server, ws, "--duration", "120", "--heatmap",
                     "--weight", "notional"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []

        def url_printed() -> bool:
            lines.append(proc.stdout.readline())
            return "live page: " in lines[-1]

        _wait(url_printed, "the page's address", proc)
        url = lines[-1].split("live page: ")[1].split()[0]
        _wait(lambda: ws.subscribed("kline"), "the kline subscription", proc)
        before = _first_snapshot(url)["heatmap"]
        ws.send_kline(t, "1h")
        deadline = time.monotonic() + 30
        while True:
            after = _first_snapshot(url)
            if after["heatmap"]["t"][-1] == t // 1000 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        got = _check_levels(tmp_path, rest, t)
    assert "Traceback" not in err
    heat = after["heatmap"]
    assert heat["t"][-1] == t // 1000, "the forming bar's column reached the page"
    assert heat["t"][:-1] == before["t"] and before["t"][-1] < t // 1000
    assert heat["unit"] == "USD" and heat["bin"] > 0 and heat["vmax"] > 0
    # the new column holds the live lines at the forming bar, binned and summed in USD
    live = got[got["end"].isna() | (got["end"] > pd.Timestamp(t, unit="ms", tz="UTC"))]
    live = live[live["start"] <= pd.Timestamp(t, unit="ms", tz="UTC")]
    last = slice(heat["off"][-2], heat["off"][-1])
    total = (np.asarray(heat["l"][last]) + np.asarray(heat["s"][last])).sum() * heat["scale"]
    want = (live["oi_delta"].abs() * live["entry"]).sum()
    assert total == pytest.approx(want, rel=1e-4)
    assert after["profiles"][0]["label"].startswith("live lines by price, weighted")


def test_an_unknown_venue_is_named_before_any_connection(capsys):
    code = main(["live", SYMBOL, "--exchanges", "binanceusdm,bybitt", "--no-browser"])
    err = capsys.readouterr().err
    assert code == 1 and "bybitt" in err and "bybit" in err.split("bybitt", 1)[1]
    assert err.count("\n") == 1 and "Traceback" not in err
