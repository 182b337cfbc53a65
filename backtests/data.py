"""Reading what a backtest needs from the warehouse, and writing its results back.

Reads ml.predictions (one model run), the bars of its symbols from marts.fct_features, and
the calendar's sessions for annualising; writes backtest.runs / equity / trades / signals,
replacing any earlier rows of the same run id in one transaction.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import PREDICTIONS
from alphaduck.errors import AlphaduckError
from alphaduck.features import FEATURE_TABLE
from alphaduck.warehouse import symbol_window_filter


def load_predictions(
    con: duckdb.DuckDBPyConnection, run_id: str, *, symbols: list[str] | None, start: str | None, end: str | None
) -> pd.DataFrame:
    # decision bars on sessions start..end (the UTC date of a US session's bars is its date)
    clauses, window = symbol_window_filter(symbols, start, end, date_column="ts")
    where, params = ["run_id = ?", *clauses], [run_id, *window]
    frame = con.execute(
        f"select symbol, bar_size, ts, proba_up, predicted_return, score from {PREDICTIONS} "
        f"where {' and '.join(where)} order by ts, symbol",
        params,
    ).df()
    if frame.empty:
        runs = [r[0] for r in con.execute("select distinct run_id from ml.predictions order by 1 desc limit 3").fetchall()]
        hint = f" (runs with predictions: {', '.join(runs)})" if runs else ": run `alphaduck predict` first"
        window = f" between {start or 'the start'} and {end or 'the end'}" if start or end else ""
        raise AlphaduckError(f"no predictions of run {run_id!r}{window} in ml.predictions{hint}")
    if frame["proba_up"].isna().all():
        # a regression model: trade the sign of the predicted return, as a probability-like score
        frame["proba_up"] = np.where(frame["predicted_return"] > 0, 1.0, 0.0)
    return frame.drop(columns="predicted_return")


def latest_prediction_run(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("select run_id from ml.predictions order by created_at desc limit 1").fetchall()
    if not row:
        raise AlphaduckError("ml.predictions is empty: run `alphaduck predict` first")
    return row[0][0]


def bars_for(con: duckdb.DuckDBPyConnection, predictions: pd.DataFrame, bar_size: str) -> pd.DataFrame:
    """The bars a set of predictions trades on: each symbol's bars from the first prediction
    through the bar after the last one (where the last decision is filled)."""
    last = predictions["ts"].max()
    symbols = sorted(predictions["symbol"].unique())
    bars = load_bars(con, symbols, bar_size, predictions["ts"].min(), last + timedelta(days=10))
    following = bars[bars["ts"] > last].groupby("symbol")["ts"].min()
    return bars[(bars["ts"] <= last) | bars["ts"].isin(following)]


def load_bars(con: duckdb.DuckDBPyConnection, symbols: list[str], bar_size: str, first_ts, last_ts) -> pd.DataFrame:
    """Every bar of the symbols between two timestamps."""
    frame = con.execute(
        f"""
        select symbol, ts, open, high, low, close, session_date, bars_to_close <= 0 as last_of_session
        from {FEATURE_TABLE}
        where bar_size = ? and symbol in ({', '.join('?' * len(symbols))}) and ts >= ? and ts <= ?
        order by symbol, ts
        """,
        [bar_size, *symbols, first_ts, last_ts],
    ).df()
    if frame.empty:
        raise AlphaduckError(
            f"no {bar_size} prices in {FEATURE_TABLE} for {', '.join(symbols)} between {first_ts} and {last_ts}: "
            "run `alphaduck build`"
        )
    return frame


def bars_per_year(bars: pd.DataFrame, calendar: str) -> float:
    """Bars a year of the traded series, from the data: the bars per session the window
    really has (the union of its timestamps, i.e. the equity curve's bars, over its sessions:
    extended-hours data has more than the regular session, half days fewer) times the
    sessions in the calendar year ending at the window's last session.

    bars: ts, session_date (every bar of the window)."""
    from alphaduck.calendars import trading_sessions

    placed = bars[bars["session_date"].notna()]
    if placed.empty:
        raise AlphaduckError("cannot annualise: no bar of the window falls in an exchange session")
    per_session = placed["ts"].nunique() / placed["session_date"].nunique()
    end = pd.Timestamp(placed["session_date"].max())
    sessions = trading_sessions(calendar, (end - timedelta(days=365)).date() + timedelta(days=1), end.date())
    return float(per_session * len(sessions))


DDL = """
create schema if not exists backtest;
create table if not exists backtest.runs (
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
alter table backtest.runs add column if not exists in_sample_stats json;
alter table backtest.runs add column if not exists sweep_id varchar;
create table if not exists backtest.equity (
    run_id varchar not null,
    ts timestamptz not null,
    equity double not null,
    benchmark_equity double,
    drawdown double not null,
    gross_exposure double not null,
    primary key (run_id, ts)
);
create table if not exists backtest.trades (
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
create table if not exists backtest.signals (
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
"""


def write_results(con: duckdb.DuckDBPyConnection, run: dict, equity: pd.DataFrame, trades: pd.DataFrame, signals: pd.DataFrame) -> None:
    """Replace run ``run['run_id']`` in every backtest table, in one transaction."""
    con.execute(DDL)
    run_id = run["run_id"]
    con.execute("begin")
    try:
        for table in ("runs", "equity", "trades", "signals"):
            con.execute(f"delete from backtest.{table} where run_id = ?", [run_id])
        con.execute(
            "insert into backtest.runs (run_id, prediction_run_id, created_at, engine, bar_size, symbols, first_ts, last_ts, "
            "initial_capital, parameters, costs, stats, benchmark_stats, bt_daily_stats, report, in_sample_stats, sweep_id) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, run["prediction_run_id"], run["created_at"], run["engine"], run["bar_size"], run["symbols"],
             run["first_ts"], run["last_ts"], run["initial_capital"], json.dumps(run["parameters"]), json.dumps(run["costs"]),
             json.dumps(run["stats"], default=_json), json.dumps(run["benchmark_stats"], default=_json),
             json.dumps(run["bt_daily_stats"], default=_json), run.get("report"),
             json.dumps(run.get("in_sample_stats"), default=_json), run.get("sweep_id")],
        )  # fmt: skip
        for table, frame in (("equity", equity), ("trades", trades), ("signals", signals)):
            insert_frame(con, f"backtest.{table}", frame.assign(run_id=run_id))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a DataFrame's rows to ``table``, matching columns by name."""
    con.register("_frame", frame)
    try:
        con.execute(f"insert into {table} by name select * from _frame")
    finally:
        con.unregister("_frame")


def _json(value):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return str(value)
