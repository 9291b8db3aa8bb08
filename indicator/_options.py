"""The six options of the OI-delta method, validated once into one frozen object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..vocab import DIRECTIONS, MA_TYPES, Direction, MaType, check_choice, did_you_mean
from ._validate import check_leverages, check_mmr, check_numbers

__all__ = [
    "MAX_MA_LENGTH",
    "MAX_THRESHOLD",
    "MAX_THRESHOLDS",
    "OI_OPTION_NAMES",
    "OIOptions",
    "resolve_options",
]

#: Longest baseline window in bars: about two years of one-minute bars.
MAX_MA_LENGTH = 1_000_000
#: Most tiers (thresholds); ``tier`` is counted in int8.
MAX_THRESHOLDS = 100
#: Largest multiple of the baseline a threshold may be.
MAX_THRESHOLD = 1000.0


def _check_ma_length(ma_length: object) -> int:
    if isinstance(ma_length, bool) or not isinstance(ma_length, (int, np.integer)):
        raise TypeError(f"ma_length={ma_length!r} must be a whole number of bars, e.g. 60")
    if not 1 <= ma_length <= MAX_MA_LENGTH:
        raise ValueError(
            f"ma_length={ma_length!r} must be from 1 to {MAX_MA_LENGTH:,} (bars in the baseline "
            f"window; {MAX_MA_LENGTH:,} one-minute bars are about two years)"
        )
    return int(ma_length)


def _check_thresholds(thresholds: object) -> tuple[float, ...]:
    numbers = check_numbers(thresholds, "thresholds", "(1.2, 2.0, 3.0)")
    if len(numbers) > MAX_THRESHOLDS:
        raise ValueError(
            f"thresholds has {len(numbers)} values; at most {MAX_THRESHOLDS} tiers, e.g. "
            f"(1.2, 2.0, 3.0)"
        )
    out: list[float] = []
    for i, k in enumerate(numbers):
        if not 0 < k <= MAX_THRESHOLD:
            raise ValueError(
                f"thresholds[{i}]={k!r} must be a positive multiple of the baseline, at most "
                f"{MAX_THRESHOLD:g}"
            )
        if out and k <= out[-1]:
            raise ValueError(
                f"thresholds must be strictly increasing; thresholds[{i}]={k!r} follows "
                f"{out[-1]!r}. Sort them: small, medium, large"
            )
        out.append(float(k))
    if not out:
        raise ValueError("thresholds is empty; pass e.g. (1.2, 2.0, 3.0)")
    return tuple(out)


@dataclass(frozen=True)
class OIOptions:
    """The options of :func:`oi_levels`, checked once; shared by ``oi_levels``,
    ``oi_signals``, ``features``, ``compare`` and the command line.

    Parameters
    ----------
    ma_length : int, default 60
        Bars in the baseline window of ``|oi_delta|``, the current bar included; 1 to
        1,000,000.
    ma_type : {"sma", "ema", "wma", "vwma"}, default "sma"
        Baseline average (Pine semantics; ``"vwma"`` weights by ``volume``).
    thresholds : sequence of float, default (1.2, 2.0, 3.0)
        Strictly increasing multiples of the baseline for tiers 1, 2, 3, ...: at most 100 of
        them, each in (0, 1000].
    leverages : sequence of int, default (5, 10, 25, 50, 100)
        Leverages ``1 < L <= 1000``; each gives a long and a short line per trigger, in this
        order.
    direction : {"increase", "decrease", "both"}, default "increase"
        Which OI changes trigger: rises (positions opened), falls, or either.
    mmr : float, default 0.0
        Maintenance margin rate (0.004 = 0.4%), ``0 <= mmr < 1/L`` for every ``L``.

    Raises
    ------
    TypeError, ValueError
        A bad option, naming it, its first bad element and a valid example.
    """

    ma_length: int = 60
    ma_type: MaType = "sma"
    thresholds: Sequence[float] = (1.2, 2.0, 3.0)
    leverages: Sequence[int] = (5, 10, 25, 50, 100)
    direction: Direction = "increase"
    mmr: float = 0.0

    def __post_init__(self) -> None:  # in signature order: the first bad option is named
        set_ = object.__setattr__
        set_(self, "ma_length", _check_ma_length(self.ma_length))
        set_(self, "ma_type", check_choice("ma_type", self.ma_type, MA_TYPES))
        set_(self, "thresholds", _check_thresholds(self.thresholds))
        set_(self, "leverages", check_leverages(self.leverages))
        set_(self, "direction", check_choice("direction", self.direction, DIRECTIONS))
        set_(self, "mmr", check_mmr(self.mmr, self.leverages))

    @classmethod
    def from_mapping(cls, options: dict[str, Any], *, where: str = "options") -> OIOptions:
        """``OIOptions(**options)``, with a "did you mean" for a misspelt name."""
        for key in options:
            if key not in OI_OPTION_NAMES:
                raise TypeError(
                    f"{where} got an unexpected option {key!r}."
                    f"{did_you_mean(key, OI_OPTION_NAMES)} The options are: "
                    f"{', '.join(OI_OPTION_NAMES)}"
                )
        return cls(**options)

    def as_dict(self) -> dict[str, Any]:
        """The six options by name, as ``oi_levels`` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def changed(self) -> tuple[str, ...]:
        """Names of the options that differ from their defaults, in signature order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) != f.default)


OI_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(OIOptions))


def resolve_options(options: OIOptions | None, where: str, **given: Any) -> OIOptions:
    """The options a function runs with: ``options`` or its keyword options, not both.

    Parameters
    ----------
    options : OIOptions or None
        The ``options=`` argument of the function ``where``.
    where : str
        The public function's name, for messages.
    **given
        Its keyword options (all six, or the subset it takes; the others keep their
        defaults). Checked even when ``options`` is given.

    Returns
    -------
    OIOptions
        ``options`` if given, else the keyword options validated.

    Raises
    ------
    TypeError
        ``options`` is not an :class:`OIOptions`, or comes with keyword options that differ
        from their defaults (one of the two would be silently ignored).
    ValueError
        A bad keyword option (see :class:`OIOptions`).
    """
    from_keywords = OIOptions(**given)
    if options is None:
        return from_keywords
    if not isinstance(options, OIOptions):
        raise TypeError(
            f"{where}(options=...) takes an OIOptions, got {type(options).__name__}; use "
            f"options=OIOptions(**mapping) or pass the options as keywords"
        )
    clash = from_keywords.changed()
    if clash:
        raise TypeError(
            f"{where}() got options= and {', '.join(f'{k}=' for k in clash)}; pass the "
            f"options one way: all in options=, or all as keywords"
        )
    return options
