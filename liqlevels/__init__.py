"""liqlevels."""

from ._mapping import HistoricalMapping, MappingWarning

__all__ = ["HistoricalMapping", "MappingWarning"]
