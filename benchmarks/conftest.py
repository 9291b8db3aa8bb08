"""Benchmarks run apart from the tests: ``python -m pytest benchmarks``."""
