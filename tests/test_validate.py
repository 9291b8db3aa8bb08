"""Every bad input gets a clear error naming the culprit (and the first bad row)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from liqlevels import indicator, vocab
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _validate


@pytest.fixture
def candles() -> pd.DataFrame:
    return sample_candles(100, seed=4)


def broken(candles, col, row, value):
    out = candles.copy()
    out.iloc[row, out.columns.get_loc(col)] = value
    return out


@pytest.mark.parametrize(
    ("mutate", "exc", "words"),
    [
        (lambda c: c.drop(columns="open_interest"), ValueError, ["open_interest"]),
        (lambda c: c.rename(columns={"close": "Close"}), ValueError, ["close", "'Close'"]),
        (lambda c: c.rename(columns={"close": "CLOSE"}), ValueError,
         ["Did you mean 'CLOSE'? Rename it to 'close'"]),
        (lambda c: c.reset_index(drop=True), TypeError, ["DatetimeIndex"]),
        (lambda c: c.tz_localize(None), ValueError, ["naive", "tz_localize"]),
        (lambda c: c.iloc[[0, 2, 1, 3]], ValueError, ["out of order", "row 2"]),
        (lambda c: c.iloc[[0, 1, 1, 2]], ValueError, ["duplicated", "row 2"]),
        (lambda c: broken(c, "close", 7, np.nan), ValueError, ["'close'", "row 7"]),
        (lambda c: broken(c, "open", 9, -1.0), ValueError, ["'open'", "row 9"]),
        (lambda c: broken(c, "high", 5, 1.0), ValueError, ["'high'", "row 5"]),
        (lambda c: broken(c, "low", 6, 1e9), ValueError, ["'low'", "row 6"]),
        (lambda c: broken(c, "open_interest", 8, -5.0), ValueError, ["open_interest", "row 8"]),
        (lambda c: broken(c, "volume", 3, np.nan), ValueError, ["volume", "row 3"]),
        (lambda c: c.assign(volume="x"), TypeError, ["volume", "numeric"]),
    ],
)
def test_bad_candles(candles, mutate, exc, words):
    with pytest.raises(exc) as info:
        indicator.oi_levels(mutate(candles))
    for word in words:
        assert word in str(info.value)


def test_not_a_frame():
    with pytest.raises(TypeError, match="candles must be a pandas DataFrame"):
        indicator.oi_levels([1, 2, 3])


def test_nan_open_interest_is_allowed(candles):
    indicator.validate_candles(broken(candles, "open_interest", 4, np.nan))


@pytest.mark.parametrize(
    ("options", "exc", "words"),
    [
        ({"ma_length": 0}, ValueError, ["ma_length"]),
        ({"ma_length": 2.5}, TypeError, ["ma_length"]),
        ({"thresholds": (2.0, 1.2)}, ValueError, ["thresholds", "increasing"]),
        ({"thresholds": (0, 1)}, ValueError, ["thresholds[0]", "positive"]),
        ({"thresholds": ()}, ValueError, ["thresholds"]),
        ({"thresholds": 1.2}, TypeError, ["thresholds=1.2", "sequence"]),
        ({"thresholds": {1.2: "small"}}, TypeError, ["sequence"]),
        ({"thresholds": (1.2, float("inf"))}, ValueError, ["thresholds[1]=inf", "finite"]),
        ({"thresholds": (1.2, True)}, TypeError, ["thresholds[1]=True", "not a number"]),
        ({"leverages": (5, np.float64("nan"))}, ValueError, ["leverages[1]=nan", "finite"]),
        ({"leverages": (5, np.int64(1))}, ValueError, ["leverages[1]=1:", "> 1"]),
        ({"leverages": (5, 1)}, ValueError, ["leverages[1]", "> 1"]),
        ({"leverages": (5, 5)}, ValueError, ["repeats"]),
        ({"leverages": ("5",)}, TypeError, ["leverages[0]"]),
        ({"leverages": (2.5,)}, ValueError, ["whole"]),
        ({"mmr": -0.1}, ValueError, ["mmr"]),
        ({"mmr": 0.01}, ValueError, ["mmr", "leverage 100"]),
        ({"ma_type": "emma"}, ValueError, ["ma_type", "Did you mean 'ema'"]),
        ({"ma_type": "SMA"}, ValueError, ["Did you mean 'sma'"]),
        ({"direction": "increasing"}, ValueError, ["direction", "Did you mean 'increase'"]),
    ],
)
@pytest.mark.parametrize("where", ["oi_levels", "features", "OIOptions"])
def test_bad_options(candles, options, exc, words, where):
    """One check of the six options, whoever takes them."""
    call = {"oi_levels": lambda: indicator.oi_levels(candles, **options),
            "features": lambda: indicator.features(candles, **options),
            "OIOptions": lambda: indicator.OIOptions(**options)}[where]
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_the_first_bad_option_in_signature_order_is_named():
    with pytest.raises(ValueError, match="ma_length"):
        indicator.OIOptions(ma_length=0, thresholds=(), leverages=(1,), mmr=-1)
    with pytest.raises(ValueError, match="thresholds"):
        indicator.OIOptions(thresholds=(), leverages=(1,))


def test_options_are_frozen_normalised_and_comparable():
    opts = indicator.OIOptions(ma_length=np.int64(30), thresholds=np.array([1.5, 3]),
                               leverages=[np.int64(10), 20.0], mmr=np.float32(0.0))
    assert opts.as_dict() == {"ma_length": 30, "ma_type": "sma", "thresholds": (1.5, 3.0),
                              "leverages": (10, 20), "direction": "increase", "mmr": 0.0}
    assert opts == indicator.OIOptions(ma_length=30, thresholds=(1.5, 3.0), leverages=(10, 20))
    assert hash(opts) == hash(indicator.OIOptions(**opts.as_dict()))
    assert opts.changed() == ("ma_length", "thresholds", "leverages")
    assert indicator.OIOptions().changed() == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.ma_length = 5  # type: ignore[misc]
    assert indicator.OI_OPTION_NAMES == ("ma_length", "ma_type", "thresholds", "leverages",
                                         "direction", "mmr")


def test_options_from_a_mapping_suggest_the_misspelt_name():
    with pytest.raises(TypeError, match=r"unexpected option 'ma_lenght'\. Did you mean "
                                        r"'ma_length'\?"):
        indicator.OIOptions.from_mapping({"ma_lenght": 5})
    assert indicator.OIOptions.from_mapping({"mmr": 0.001}).mmr == 0.001


def test_warnings_and_choices_come_from_the_one_vocabulary():
    assert indicator.LiqLevelsWarning is vocab.LiqLevelsWarning
    assert _validate.check_choice is vocab.check_choice


def test_the_chart_command_checks_its_options_before_it_downloads(monkeypatch):
    from liqlevels import _cmd_chart
    from liqlevels._args import method_options
    from liqlevels.cli import build_parser

    def no_fetch(args):
        raise AssertionError("fetched before the options were checked")

    monkeypatch.setattr(_cmd_chart, "fetch_for", no_fetch)
    args = build_parser().parse_args(["chart", "BTC/USDT:USDT", "--mmr", "0.5"])
    with pytest.raises(ValueError, match=r"mmr=0\.5 must be below 1/L"):
        _cmd_chart._run_chart(args)
    args = build_parser().parse_args(["chart", "BTC/USDT:USDT", "--leverages", "10,50",
                                      "--direction", "both"])
    assert method_options(args) == indicator.OIOptions(leverages=(10, 50), direction="both")
    assert method_options(args, mmr=0.001).mmr == 0.001  # overrides win


def test_numpy_arrays_serve_as_sequences(candles):
    plain = indicator.oi_levels(candles, thresholds=(1.2, 2.0), leverages=(10, 50))
    arrays = indicator.oi_levels(candles, thresholds=np.array([1.2, 2.0]),
                                 leverages=np.array([10, 50]))
    pd.testing.assert_frame_equal(arrays, plain)


def test_bad_density_arguments(candles):
    levels = indicator.oi_levels(sample_candles(400, seed=4))
    with pytest.raises(ValueError, match=r"weight.*Did you mean 'count'"):
        indicator.density(levels, weight="counts")
    with pytest.raises(ValueError, match="bins"):
        indicator.density(levels, bins=0)
    with pytest.raises(ValueError, match="at='not-a-time' is not a time"):
        indicator.density(levels, at="not-a-time")
    utc = pd.Timestamp("2025-01-02", tz="UTC")  # a naive time means UTC, as everywhere
    pd.testing.assert_frame_equal(indicator.density(levels, at="2025-01-02"),
                                  indicator.density(levels, at=utc))
    with pytest.raises(ValueError, match="lacks column"):
        indicator.density(levels.drop(columns="end"))
    with pytest.raises(ValueError, match=r"'side'.*row 0"):
        indicator.density(levels.assign(side="up"))
