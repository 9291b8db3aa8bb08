"""Pure computation: candles or trades in; liquidation levels, density, maps and features out.

Nothing here touches the network, files or charts.
"""

from ._density import DENSITY_COLUMNS, active_mask, density
from ._features import features
from ._oi import LEVEL_COLUMNS, SIGNAL_COLUMNS, oi_levels, oi_signals
from ._options import OI_OPTION_NAMES, OIOptions
from ._trades import (
    DEPTH_COLUMNS,
    MAP_COLUMNS,
    TRADE_LEVEL_COLUMNS,
    depth,
    liquidation_map,
    trade_levels,
)
from ._validate import CANDLE_COLUMNS, LiqLevelsWarning, validate_candles

__all__ = [
    "CANDLE_COLUMNS",
    "DENSITY_COLUMNS",
    "DEPTH_COLUMNS",
    "LEVEL_COLUMNS",
    "MAP_COLUMNS",
    "OI_OPTION_NAMES",
    "SIGNAL_COLUMNS",
    "TRADE_LEVEL_COLUMNS",
    "LiqLevelsWarning",
    "OIOptions",
    "active_mask",
    "density",
    "depth",
    "features",
    "liquidation_map",
    "oi_levels",
    "oi_signals",
    "trade_levels",
    "validate_candles",
]
