"""liqlevels."""
