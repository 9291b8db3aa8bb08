"""Pure computation: candles or trades in; liquidation levels, density, maps and features out.

Nothing here touches the network, files or charts.
"""

from ._density import DENSITY_COLUMNS, active_mask, density
from ._oi import LEVEL_COLUMNS, SIGNAL_COLUMNS, oi_levels, oi_signals
from ._validate import CANDLE_COLUMNS, LiqLevelsWarning, validate_candles

__all__ = [
    "CANDLE_COLUMNS",
    "DENSITY_COLUMNS",
    "LEVEL_COLUMNS",
    "SIGNAL_COLUMNS",
    "LiqLevelsWarning",
    "active_mask",
    "density",
    "oi_levels",
    "oi_signals",
    "validate_candles",
]
