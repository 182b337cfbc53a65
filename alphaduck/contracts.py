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
CORPORATE_ACTIONS = "raw.corporate_actions"  # splits and cash dividends, one row per (symbol, ex_date, kind)
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
TRAIN_FOLDS = "ml.train_folds"  # one row per walk-forward fold
CPCV_PREDICTIONS = "ml.cpcv_predictions"  # --cv cpcv: each split's out-of-sample scores of the search window
TRIALS = "ml.trials"  # every configuration tried: what deflated Sharpes count
# `alphaduck analyze`: a prediction run's signal statistics
SIGNAL_RUNS = "ml.signal_runs"
SIGNAL_IC = "ml.signal_ic"
SIGNAL_SUMMARY = "ml.signal_summary"
SIGNAL_BY_YEAR = "ml.signal_by_year"
SIGNAL_BY_SYMBOL = "ml.signal_by_symbol"
SIGNAL_QUANTILES = "ml.signal_quantiles"
SIGNAL_TURNOVER = "ml.signal_turnover"

# -- backtest -----------------------------------------------------------------------------------------
BACKTEST_RUNS = "backtest.runs"
BACKTEST_EQUITY = "backtest.equity"
BACKTEST_TRADES = "backtest.trades"
BACKTEST_SIGNALS = "backtest.signals"
SWEEPS = "backtest.sweeps"
SWEEP_RETURNS = "backtest.sweep_returns"  # each configuration's per-bar returns on the selection window
SWEEP_STATS = "backtest.sweep_stats"  # one row per sweep: PBO, Reality Check, SPA, MinBTL
CPCV_PATHS = "backtest.cpcv_paths"  # a backtest's strategy on each CPCV path: one Sharpe per path

# tables dbt reads that a later stage writes: the stage owns the DDL ("module:attribute"),
# and `alphaduck build` creates them before dbt runs (found by name, as the root CLI finds
# each stage's commands), so the marts over them exist before the first row does
STAGE_TABLES = {PREDICTIONS: "ml.predict:PREDICTIONS_DDL"}
