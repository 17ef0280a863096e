"""Benchmarks of crmscore against DuckDB, Polars, pandas and lifetimes on the same synthetic data.

Run ``make bench SCALE=100k`` (or ``python -m benchmarks.run --scale 100k``); see ``benchmarks/README.md``.
This package imports nothing heavy at import time: its workers also run inside the separate lifetimes
environment (``benchmarks/.venv-lifetimes``), where crmscore is not installed.
"""
