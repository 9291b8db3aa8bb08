"""liqlevels: where leveraged crypto futures positions get liquidated.

The packages: :mod:`liqlevels.indicator` (pure computation), :mod:`liqlevels.feeds` (market
data in), :mod:`liqlevels.charts` (drawing out). The py-liquidation-map facade
:class:`HistoricalMapping` and the exchange-wide :func:`scan` are imported on first use, so
``import liqlevels.indicator`` pulls in neither ccxt nor the charts (nor Dask).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__: str = version("liqlevels")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"

__all__ = ["HistoricalMapping", "MappingWarning", "__version__", "charts", "feeds", "indicator",
           "scan"]

_LAZY = {"HistoricalMapping": "._mapping", "MappingWarning": "._mapping", "scan": "._scan",
         "charts": ".charts", "feeds": ".feeds", "indicator": ".indicator"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'liqlevels' has no attribute {name!r}")
    module = import_module(_LAZY[name], __name__)
    return module if name in ("charts", "feeds", "indicator") else getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
