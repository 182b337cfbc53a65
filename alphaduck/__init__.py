"""alphaduck: IBKR bars -> DuckDB -> dbt features -> LightGBM -> bt backtests.

This package is the shared floor every stage stands on: settings, the warehouse
connection, errors and exit codes, shared CLI options and the root command group.
"""

__version__ = "0.1.0"
