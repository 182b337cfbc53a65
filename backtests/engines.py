"""The engines a backtest can run on (`--engine`): bt is the reference; vector computes bt's
numbers in compiled passes; vectorbt and backtesting.py are adapters for comparison."""

ENGINES = ("bt", "vector", "vectorbt", "backtesting")
