"""alphaduck: IBKR bars -> DuckDB -> dbt features -> LightGBM -> bt backtests.

This package is the shared floor every stage stands on: settings, the warehouse
connection, errors and exit codes, shared CLI options and the root command group.
"""

import os

__version__ = "0.1.0"

# LightGBM's OpenMP threads spin-wait for work by default: beside other busy processes a
# 2-core fit took 41 s instead of 1.6 s (6.2 s with a passive wait). It must be set before
# the OpenMP runtime loads, i.e. before lightgbm is imported anywhere; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def __getattr__(name: str):
    # alphaduck.open is the notebook API (alphaduck/api.py); loaded on first use so that
    # the command line does not import pandas for it
    if name in ("open", "WarehouseReader"):
        from alphaduck import api

        return getattr(api, name)
    raise AttributeError(f"module 'alphaduck' has no attribute {name!r}")
