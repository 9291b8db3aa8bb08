"""Pure computation: candles or trades in; liquidation levels, density, maps and features out.

Nothing here touches the network, files or charts.
"""

from ..vocab import LiqLevelsWarning, NumbaMissingWarning
from ._density import active_mask, density
from ._features import features
from ._frames import (
    DENSITY_COLUMNS,
    DEPTH_COLUMNS,
    HEATMAP_COLUMNS,
    LEVEL_COLUMNS,
    MAP_COLUMNS,
    TRADE_LEVEL_COLUMNS,
    AnyLevels,
    DensityFrame,
    DepthFrame,
    HeatmapFrame,
    LevelArrays,
    MapFrame,
    OILevels,
    TradeLevels,
    check_levels,
)
from ._heatmap import MAX_HEATMAP_CELLS, heatmap
from ._level_stream import LevelStream
from ._live_map import LiveTradeMap
from ._map import default_bin_size, depth, liquidation_map
from ._oi import SIGNAL_COLUMNS, oi_levels, oi_signals
from ._options import OI_OPTION_NAMES, OIOptions
from ._selection import TradeArrays, check_threshold, checked_trade_arrays, trade_arrays
from ._stream import TradeSelection
from ._study import (
    LIQUIDATION_STUDY_COLUMNS,
    STUDY_BANDS,
    STUDY_COLUMNS,
    study,
    study_liquidations,
    study_verdict,
)
from ._trade_candles import trade_candles
from ._trade_ends import trade_level_ends
from ._trade_levels import check_trade_options, trade_levels
from ._validate import CANDLE_COLUMNS, validate_candles

__all__ = [
    "CANDLE_COLUMNS",
    "DENSITY_COLUMNS",
    "DEPTH_COLUMNS",
    "HEATMAP_COLUMNS",
    "LEVEL_COLUMNS",
    "LIQUIDATION_STUDY_COLUMNS",
    "MAP_COLUMNS",
    "MAX_HEATMAP_CELLS",
    "OI_OPTION_NAMES",
    "SIGNAL_COLUMNS",
    "STUDY_BANDS",
    "STUDY_COLUMNS",
    "TRADE_LEVEL_COLUMNS",
    "AnyLevels",
    "DensityFrame",
    "DepthFrame",
    "HeatmapFrame",
    "LevelArrays",
    "LevelStream",
    "LiqLevelsWarning",
    "LiveTradeMap",
    "MapFrame",
    "NumbaMissingWarning",
    "OILevels",
    "OIOptions",
    "TradeArrays",
    "TradeLevels",
    "TradeSelection",
    "active_mask",
    "check_levels",
    "check_threshold",
    "check_trade_options",
    "checked_trade_arrays",
    "default_bin_size",
    "density",
    "depth",
    "features",
    "heatmap",
    "liquidation_map",
    "oi_levels",
    "oi_signals",
    "study",
    "study_liquidations",
    "study_verdict",
    "trade_arrays",
    "trade_candles",
    "trade_level_ends",
    "trade_levels",
    "validate_candles",
]
