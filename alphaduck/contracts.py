"""The warehouse's table contracts: every table name and key the stages share, written once.

DESIGN.md describes what each table holds; the stages import these names instead of
spelling them, so a renamed table is one edit here.
"""

from __future__ import annotations

# -- raw (written by ingest) ------------------------------------------------------------------------
BARS = "raw.bars"
INGEST_RUNS = "raw.ingest_runs"
TRADING_SESSIONS = "raw.trading_sessions"
BAR_SIZES = "raw.bar_sizes"
BAR_KEY = ("symbol", "bar_size", "ts")

# -- dbt ----------------------------------------------------------------------------------------------
STAGED_BARS = "staging.stg_bars"
FEATURE_TABLE = "marts.fct_features"
FEATURE_BUILDS = "marts.feature_builds"  # one row per build: the feature-defining vars it used
PREDICTIONS_VIEW = "marts.fct_predictions"

# -- ml -----------------------------------------------------------------------------------------------
TRAIN_RUNS = "ml.train_runs"
PREDICTIONS = "ml.predictions"
PREDICTION_KEY = ("run_id", "symbol", "bar_size", "ts")
GATE_RUNS = "ml.gate_runs"
GATE_RESULTS = "ml.gate_results"
WAREHOUSE_INFO = "ml.warehouse_info"  # one row: this warehouse's identity (models record it)

# -- backtest -----------------------------------------------------------------------------------------
BACKTEST_RUNS = "backtest.runs"
BACKTEST_EQUITY = "backtest.equity"
BACKTEST_TRADES = "backtest.trades"
BACKTEST_SIGNALS = "backtest.signals"
SWEEPS = "backtest.sweeps"
