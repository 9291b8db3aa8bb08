"""``liqlevels scan`` end to end on the fake exchange of 60 perpetuals: the table, the files,
the usage errors, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fakes._scan import BROKEN, DELISTED, NO_OI, FakeScanExchange

from liqlevels import feeds
from liqlevels.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    with FakeScanExchange(60) as fake:
        yield fake


def test_scan_end_to_end(server, tmp_path, waits, capsys, monkeypatch) -> None:
    monkeypatch.setattr(feeds.settings, "progress", False)
    out = tmp_path / "out"
    code = main(["scan", "--api-url", server.base_url, "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out), "--bars", "300", "--rate-limit", "2", "--workers", "2",
                 "--rows", "10", "--charts", "4", "--no-png"])
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "nearest dense liquidation clusters (60 symbols)" in text.out
    assert "60 symbols, 3 failed (see the error column); 57 fetched, 0 from the cache" in text.out
    csv = pd.read_csv(out / "scan-binanceusdm-1h.csv", keep_default_na=False,
                      na_values=[""])
    parquet = pd.read_parquet(out / "scan-binanceusdm-1h.parquet")
    assert len(csv) == len(parquet) == 60
    assert csv["symbol"].tolist() == parquet["symbol"].tolist()
    assert parquet["rank"].tolist() == list(range(1, 61))
    failed = parquet[parquet["error"] != ""]["symbol"]
    assert sorted(failed) == sorted(f"{b}/USDT:USDT" for b in (DELISTED, NO_OI, BROKEN))
    shown = [line.split("│")[2].strip() for line in text.out.splitlines()
             if line.startswith("│")]
    assert shown == parquet["symbol"].head(10).tolist()  # the terminal shows the top rows
    page = (out / "scan-binanceusdm-1h.html").read_text(encoding="utf-8")
    assert page.count('"title":"#') == 4 and "http://" not in page.split("<script>")[0]
    assert (out / "scan-binanceusdm-1h.notes.txt").exists()
    assert not (out / "scan-binanceusdm-1h.png").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--symbols", "A/USDT:USDT", "--top", "3"], "--top"),
    (["--method", "volume"], "--method"),
    (["--method", "trades", "--trade-days", "0"], "--trade-days"),
    (["--method", "trades", "--trade-mode", "largest"], "--trade-mode"),
    (["--method", "trades", "--archive-url", "ftp://x"], "--archive-url"),
    (["--scheduler", "10.0.0.5"], "--scheduler"),
    (["--dense", "2"], "--dense"),
    (["--min-usd", "-1"], "--min-usd"),
    (["--symbols", "A/USDT:USDT,A/USDT:USDT"], "--symbols"),
    (["--exchange", "bybit", "--exchanges", "okx,bybit"], "--exchanges"),
])
def test_usage_errors_name_their_flag(argv, flag, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["scan", *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("liqlevels: error:") and flag in err and len(err.splitlines()) == 1


def test_one_api_url_cannot_serve_several_exchanges(capsys) -> None:
    assert main(["scan", "--exchanges", "binanceusdm,bybit", "--api-url",
                 "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("liqlevels: error: --api-url") and "--exchanges" in err


def test_an_unknown_exchange_is_one_line_before_any_cluster(capsys, monkeypatch) -> None:
    from liqlevels import _scan

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a scan that cannot run")

    monkeypatch.setattr(_scan, "dask_client", no_cluster)
    assert main(["scan", "--exchange", "binanceusd", "--no-png"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("liqlevels: error: exchange='binanceusd' is not a ccxt exchange")
    assert "binanceusdm" in err and len(err.splitlines()) == 1


def test_ctrl_c_exits_130_cleanly_and_leaves_no_worker(server, tmp_path) -> None:
    env = {**os.environ, "LIQLEVELS_TRIES": "1", "LIQLEVELS_BACKOFF": "0"}
    server.reset_log()
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "liqlevels.cli", "scan", "--api-url", server.base_url,
         "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--bars",
         "300", "--rate-limit", "250", "--workers", "2", "--no-png"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while server.count(server.KLINES) < 4 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "liqlevels: interrupted" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes outlived the command")


def test_ctrl_c_while_computing_cancels_the_batches_and_exits_130(server, tmp_path) -> None:
    env = {**os.environ, "LIQLEVELS_TRIES": "1", "LIQLEVELS_BACKOFF": "0"}
    args = [sys.executable, "-P", "-m", "liqlevels.cli", "scan", "--api-url", server.base_url,
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
            "--timeframe", "5m", "--bars", "3500", "--rate-limit", "1", "--workers", "2",
            "--batch-size", "1", "--no-png"]
    warm = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    (tmp_path / "out" / "scan-binanceusdm-5m.csv").unlink()
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = ""
    while "60 of 60 symbols" not in seen:  # the fetch phase (from the cache) is over
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert err.strip().endswith("liqlevels: interrupted") and "Traceback" not in err, err
    assert "nearest dense" not in out and not (tmp_path / "out" / "scan-binanceusdm-5m.csv"
                                              ).exists()
