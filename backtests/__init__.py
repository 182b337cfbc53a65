"""Backtests stage: signals, bt and vector engines, reports (issues 6-7; not built yet)."""
