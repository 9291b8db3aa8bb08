"""``liqlevels study`` end to end: the sample, the user's own candles (the real OKX data), a
liquidation log, the trade method from archive files, the report page and its PNG, and the
errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_okx_candles
from test_mapping import binance_csv, synthetic_day

from liqlevels import indicator
from liqlevels.cli import main
from liqlevels.feeds import sample_candles

CHROMIUM = Path("/usr/bin/chromium")


def study(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["study", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sample_run_writes_the_report_and_tables(tmp_path, capsys) -> None:
    code, out, err = study(capsys, "--sample", "--bars", "1500", "--n-boot", "200",
                           "--horizon", "12", "--out", str(tmp_path), "--no-png")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "sample-study.csv")
    assert list(table.columns) == list(indicator.STUDY_COLUMNS)
    want = indicator.study(sample_candles(1500, seed=7), horizon=12, n_boot=200)
    pd.testing.assert_frame_equal(table, want.reset_index(drop=True), check_dtype=False)
    data = json.loads((tmp_path / "sample-study.json").read_text())
    assert data["settings"]["horizon"] == 12 and data["about"]["bars"] == 1500
    assert data["verdict"] == indicator.study_verdict(want)
    page = (tmp_path / "sample-study.html").read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert data["verdict"][0].split(" (")[0] in page
    assert "Touch lift" in page and "Reaction lift" in page
    assert not (tmp_path / "sample-study.png").exists()
    assert "sampled bars" in out and data["verdict"][0] in out


def test_a_symbol_fetched_from_a_fake_exchange(tmp_path, capsys) -> None:
    """SYMBOL with --exchange/--since/--until: the candles ``chart`` would draw, studied."""
    from fakes import fake_exchange

    with fake_exchange("bybit") as (_, server):
        data = server.content["SOL"]
        start = pd.Timestamp(int(data.ts[0]), unit="ms", tz="UTC").ceil("1h") \
            + pd.Timedelta("1h")
        until = start + pd.Timedelta(days=12)
        code, out, err = study(capsys, "SOL/USDT:USDT", "--exchange", "bybit", "--api-url",
                               server.base_url, "--since", start.isoformat(), "--until",
                               until.isoformat(), "--cache-dir", str(tmp_path / "cache"),
                               "--horizon", "12", "--n-boot", "100", "--out", str(tmp_path),
                               "--no-png")
    assert code == 0, err
    assert "288 bars" in out
    table = pd.read_csv(tmp_path / "SOL-USDT-USDT_1h-study.csv")
    assert len(table) == 8 and table["n"].sum() > 0


def _liquidation_log(candles: pd.DataFrame, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Liquidations spread over the bars: a time inside each chosen bar, a price in its range."""
    rng = np.random.default_rng(seed)
    bar = np.sort(rng.integers(1, len(candles), n))
    low, high = candles["low"].to_numpy()[bar], candles["high"].to_numpy()[bar]
    close = candles["close"].to_numpy()[bar - 1]
    price = low + rng.uniform(0, 1, n) * (high - low)
    return pd.DataFrame({"time": candles.index[bar] + pd.Timedelta("30min"),
                         "side": np.where(price < close, "long", "short"),
                         "price": price, "notional": rng.lognormal(8, 1, n)})


@pytest.mark.realdata
def test_real_okx_candles_and_a_liquidation_log_end_to_end(tmp_path, capsys) -> None:
    candles = load_okx_candles("1h")
    path = tmp_path / "okx-sol-1h.csv"
    candles.reset_index().assign(time=lambda f: f["time"].astype("int64") // 10**6).to_csv(
        path, index=False)
    log = tmp_path / "liq.csv"
    _liquidation_log(candles).to_csv(log, index=False)
    code, out, err = study(capsys, "--candles", str(path), "--liquidations", str(log),
                           "--n-boot", "300", "--out", str(tmp_path), "--no-png")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "okx-sol-1h-study.csv")
    want = indicator.study(candles, n_boot=300)
    pd.testing.assert_frame_equal(table, want.reset_index(drop=True), check_dtype=False)
    liq = pd.read_csv(tmp_path / "okx-sol-1h-study-liquidations.csv")
    assert liq["side"].tolist() == ["long", "short", "all"]
    data = json.loads((tmp_path / "okx-sol-1h-study.json").read_text())
    assert liq.loc[2, "n"] + data["liquidation_settings"]["outside"] == 400
    assert liq.loc[2, "n"] > 350 and data["liquidation_settings"]["shifts"] == 24
    assert "Realised liquidations" in out


def test_trade_method_from_archive_files(tmp_path, capsys) -> None:
    files = []
    for i, day in enumerate(("2026-06-01", "2026-06-02", "2026-06-03")):
        path = tmp_path / f"BTCUSDT-aggTrades-{day}.csv"
        path.write_bytes(binance_csv(synthetic_day(day, n=4000, seed=i)))
        files += ["--trades", str(path)]
    code, _, err = study(capsys, "BTCUSDT", "--method", "trades", *files, "--mode", "top_n",
                           "--threshold", "200", "--timeframe", "15m", "--horizon", "8",
                           "--n-boot", "100", "--block", "12h", "--out", str(tmp_path),
                           "--no-png")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "BTCUSDT_15m-study.csv")
    assert table["n"].sum() > 0
    assert "trades method" in (tmp_path / "BTCUSDT_15m-study.html").read_text()


def test_trade_method_from_the_exchange_archive(tmp_path, capsys, archive, waits) -> None:
    """Without --trades: the window's days are downloaded from the (loopback) archive."""
    for i, day in enumerate(("2026-06-01", "2026-06-02", "2026-06-03")):
        archive.put_binance(f"data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}"
                            f".zip", binance_csv(synthetic_day(day, n=4000, seed=i)))
    code, out, err = study(capsys, "BTCUSDT", "--method", "trades", "--since", "2026-06-01",
                           "--until", "2026-06-04", "--timeframe", "15m", "--horizon", "8",
                           "--mode", "top_n", "--threshold", "200", "--n-boot", "100",
                           "--block", "12h", "--cache-dir", str(tmp_path / "cache"),
                           "--out", str(tmp_path), "--no-png")
    assert code == 0, err
    assert sum(r.path.endswith(".zip") and "aggTrades" in r.path for r in archive.requests) == 3
    assert "288 bars" in out  # three days of 15-minute bars built from the trades


@pytest.mark.parametrize(("args", "code", "words"), [
    ((), 1, "give a SYMBOL"),
    (("--sample", "--bands", "2-1"), 2, "--bands"),
    (("--sample", "--block", "soon"), 2, "--block"),
    (("--sample", "--horizon", "0"), 2, "--horizon"),
    (("--candles", "nope.csv"), 1, "--candles nope.csv: no such file"),
    (("--sample", "--liquidations", "nope.csv"), 1, "--liquidations nope.csv"),
    (("--sample", "--mmr", "0.5"), 1, "--mmr"),
    (("--sample", "--method", "trades", "--weight", "oi_delta"), 1, "--weight oi_delta"),
    (("--sample", "--bars", "20"), 1, "give at least 38 bars"),
])
def test_errors_name_the_flag(tmp_path, capsys, args, code, words) -> None:
    with pytest.raises(SystemExit) if code == 2 else _nothing() as caught:
        got, _, err = study(capsys, *args, "--out", str(tmp_path), "--no-png")
    if code == 2:
        assert caught.value.code == 2
        err = capsys.readouterr().err
    else:
        assert got == 1
    assert err.startswith("liqlevels: error:") and words in err and err.count("\n") == 1


def test_candles_file_missing_a_column_is_named(tmp_path, capsys) -> None:
    path = tmp_path / "bars.csv"
    sample_candles(100).drop(columns="open_interest").reset_index().to_csv(path, index=False)
    code, _, err = study(capsys, "--candles", str(path), "--no-png", "--out", str(tmp_path))
    assert code == 1 and "open_interest" in err and str(path) in err
    bad = sample_candles(100).reset_index()
    bad.loc[5, "high"] = bad.loc[5, "low"] / 2
    bad.to_csv(path, index=False)
    code, _, err = study(capsys, "--candles", str(path), "--no-png", "--out", str(tmp_path))
    assert code == 1 and "high" in err and "--candles" in err


class _nothing:  # noqa: N801 - a stand-in for pytest.raises when nothing is raised
    value = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.browser
def test_report_png_shows_the_page(tmp_path, capsys) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)")
    code, out, err = study(capsys, "--sample", "--bars", "1200", "--n-boot", "100",
                           "--out", str(tmp_path))
    assert code == 0, err
    png = (tmp_path / "sample-study.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000
    assert str(tmp_path / "sample-study.png") in out
