"""The backtest.* tables: their definitions (written once, here) and the writes that replace
one run, one sweep or one trial set in a single transaction owned by the caller."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import (
    BACKTEST_EQUITY,
    BACKTEST_RUNS,
    BACKTEST_SIGNALS,
    BACKTEST_TRADES,
    CPCV_PATHS,
    SWEEP_RETURNS,
    SWEEP_STATS,
    SWEEPS,
)
from alphaduck.warehouse import insert_frame

DDL = f"""
create schema if not exists backtest;
create table if not exists {BACKTEST_RUNS} (
    run_id varchar primary key,
    prediction_run_id varchar not null,
    created_at timestamptz not null,
    engine varchar not null,
    bar_size varchar not null,
    symbols varchar[] not null,
    first_ts timestamptz not null,
    last_ts timestamptz not null,
    initial_capital double not null,
    parameters json not null,
    costs json not null,
    stats json not null,
    benchmark_stats json not null,
    bt_daily_stats json,
    report varchar,
    in_sample_stats json,
    sweep_id varchar
);
-- warehouses made before these columns existed get them
alter table {BACKTEST_RUNS} add column if not exists in_sample_stats json;
alter table {BACKTEST_RUNS} add column if not exists sweep_id varchar;
create table if not exists {BACKTEST_EQUITY} (
    run_id varchar not null,
    ts timestamptz not null,
    equity double not null,
    benchmark_equity double,
    drawdown double not null,
    gross_exposure double not null,
    primary key (run_id, ts)
);
create table if not exists {BACKTEST_TRADES} (
    run_id varchar not null,
    symbol varchar not null,
    side tinyint not null,
    entry_ts timestamptz not null,
    entry_price double,
    exit_ts timestamptz,
    exit_price double,
    quantity double not null,
    pnl double,
    costs double not null,
    is_open boolean not null
);
create table if not exists {BACKTEST_SIGNALS} (
    run_id varchar not null,
    symbol varchar not null,
    ts timestamptz not null,          -- the decision bar
    fill_ts timestamptz not null,     -- the bar the decision is filled on
    fill_price double not null,
    proba_up double,
    side tinyint not null,
    target_weight double not null,
    primary key (run_id, symbol, ts)
);
create table if not exists {SWEEPS} (
    sweep_id varchar not null,
    config_id integer not null,
    model_run_id varchar not null,
    created_at timestamptz not null,
    window_start date not null,
    window_end date not null,
    parameters json not null,
    sharpe double,
    total_return double,
    max_drawdown double,
    calmar double,
    entries integer,
    chosen boolean not null,
    test_backtest_run_id varchar,
    primary key (sweep_id, config_id)
);
create table if not exists {SWEEP_RETURNS} (
    sweep_id varchar not null,
    config_id integer not null,
    bar integer not null,             -- 1 = the window's second bar (the first return)
    ret double,
    primary key (sweep_id, config_id, bar)
);
create table if not exists {SWEEP_STATS} (
    sweep_id varchar primary key,
    pbo double,                       -- probability of backtest overfitting (CSCV, 16 blocks)
    logits json,                      -- its logit per combination of blocks
    degradation_slope double,         -- out-of-sample on in-sample Sharpe across those combinations
    degradation_intercept double,
    prob_oos_loss double,             -- share of combinations whose chosen one loses out of sample
    reality_check_p double,           -- White (2000) against holding cash
    spa_p double,                     -- Hansen (2005), consistent p-value
    spa_lower_p double,
    spa_upper_p double,
    min_backtest_years double,        -- MinBTL for the chosen one's Sharpe, given the configurations tried
    window_years double               -- how long the window the choice was made on is
);
create table if not exists {CPCV_PATHS} (
    run_id varchar not null,          -- the backtest (backtest.runs) whose strategy walked the paths
    path integer not null,            -- 0 .. phi-1: one out-of-sample history of the search window
    first_ts timestamptz,
    last_ts timestamptz,
    bars integer,
    sharpe double,                    -- annualised (per-bar mean / std x sqrt(bars a year))
    total_return double,
    max_drawdown double,
    primary key (run_id, path)
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the backtest tables (or add the columns an older warehouse lacks)."""
    con.execute(DDL)


def write_run(con: duckdb.DuckDBPyConnection, run: dict, equity: pd.DataFrame, trades: pd.DataFrame,
              signals: pd.DataFrame, paths: pd.DataFrame | None = None) -> None:  # fmt: skip
    """Replace run ``run['run_id']`` in every backtest table (inside the caller's transaction)."""
    ensure_tables(con)
    run_id = run["run_id"]
    for table in (BACKTEST_RUNS, BACKTEST_EQUITY, BACKTEST_TRADES, BACKTEST_SIGNALS):
        con.execute(f"delete from {table} where run_id = ?", [run_id])
    con.execute(
        f"insert into {BACKTEST_RUNS} (run_id, prediction_run_id, created_at, engine, bar_size, symbols, first_ts, "
        "last_ts, initial_capital, parameters, costs, stats, benchmark_stats, bt_daily_stats, report, in_sample_stats, "
        "sweep_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, run["prediction_run_id"], run["created_at"], run["engine"], run["bar_size"], run["symbols"],
         run["first_ts"], run["last_ts"], run["initial_capital"], json.dumps(run["parameters"]), json.dumps(run["costs"]),
         json.dumps(run["stats"], default=json_value), json.dumps(run["benchmark_stats"], default=json_value),
         json.dumps(run["bt_daily_stats"], default=json_value), run.get("report"),
         json.dumps(run.get("in_sample_stats"), default=json_value), run.get("sweep_id")],
    )  # fmt: skip
    for table, frame in ((BACKTEST_EQUITY, equity), (BACKTEST_TRADES, trades), (BACKTEST_SIGNALS, signals)):
        insert_frame(con, table, frame.assign(run_id=run_id))
    con.execute(f"delete from {CPCV_PATHS} where run_id = ?", [run_id])
    if paths is not None:
        insert_frame(con, CPCV_PATHS, paths.assign(run_id=run_id))


def json_value(value):
    """JSON for numpy scalars and anything else str() describes."""
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return str(value)
