"""What the dashboard shows, as SQL on the warehouse: every view reads exactly what an
analyst's query would, with the filtering and the downsampling done by DuckDB (no table is
loaded whole into pandas). Each function takes an open connection and returns a DataFrame
or a dict; ``reader`` opens a read-only connection per request and turns the states a
warehouse can be in (missing, locked, empty, not yet backtested) into a sentence saying
which command to run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import duckdb
import pandas as pd

from alphaduck.contracts import (
    BACKTEST_EQUITY,
    BACKTEST_RUNS,
    BACKTEST_TRADES,
    BARS,
    FEATURE_TABLE,
    GATE_RESULTS,
    GATE_RUNS,
    PREDICTIONS_VIEW,
)
from alphaduck.errors import AlphaduckError, WarehouseLockedError
from alphaduck.warehouse import connect, relation_exists, symbol_window_filter

MAX_POINTS = 2000  # a chart never gets more points than this; DuckDB aggregates the rest


class NotReady(Exception):
    """The warehouse cannot show this yet; the message says which command to run."""


@contextlib.contextmanager
def reader(db):
    """A read-only connection for one request, closed at once so that pipeline commands
    can write between requests (DuckDB has one writer per file, and readers block it). It
    never waits for a locked file, and gives way to a command waiting to write."""
    try:
        con = connect(db, read_only=True, wait=0, give_way=True)
    except WarehouseLockedError as exc:
        raise NotReady(
            f"{exc.message.split(':')[0]}: another command (alphaduck run, build, ...) is writing to it. "
            "This page shows it again when that command has finished: reload in a moment."
        ) from exc
    except AlphaduckError as exc:
        raise NotReady(f"{exc.message.replace('`alphaduck ingest` first', '`alphaduck run --ingest sample` first')}") from exc
    try:
        yield con
    finally:
        con.close()


def require(con: duckdb.DuckDBPyConnection, table: str, command: str) -> None:
    if not relation_exists(con, table) or not con.execute(f"select count(*) from {table}").fetchall()[0][0]:
        raise NotReady(f"no {table} yet: run `{command}`")


# -- runs and performance ----------------------------------------------------------------------------


def runs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Backtest runs, newest first, with their headline figures."""
    require(con, BARS, "alphaduck run --ingest sample")
    require(con, BACKTEST_RUNS, "alphaduck backtest (or alphaduck run)")
    frame = con.execute(
        """
        select
            run_id,
            prediction_run_id as model_run,
            engine,
            cardinality(symbols) as symbols,
            round(cast(stats->>'total_return' as double) * 100, 2) as total_return_pct,
            round(cast(stats->>'sharpe' as double), 2) as sharpe,
            round(cast(stats->>'dsr' as double), 3) as deflated_sharpe,
            round(cast(stats->>'max_drawdown' as double) * 100, 2) as max_drawdown_pct,
            cast(stats->>'trades' as integer) as trades,
            parameters::varchar as parameters,
            strftime(created_at, '%Y-%m-%d %H:%M') as created
        from backtest.runs
        order by created_at desc
        """
    ).df()
    defaults = _default_parameters()
    frame["parameters"] = [
        ", ".join(f"{k}={v}" for k, v in json.loads(p).items() if defaults.get(k, object()) != v) or "defaults"
        for p in frame["parameters"]
    ]
    return frame


def _default_parameters() -> dict:
    from dataclasses import asdict

    from backtests.strategy import StrategyParams

    # a run records the fill it traded at; the default one is not worth showing
    return asdict(StrategyParams().resolve_fill(None))


def run_detail(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    row = con.execute(
        "select prediction_run_id, engine, bar_size, symbols, stats, benchmark_stats, in_sample_stats, parameters, report, "
        f"first_ts, last_ts from {BACKTEST_RUNS} where run_id = ?",
        [run_id],
    ).fetchall()
    if not row:
        raise NotReady(f"backtest run {run_id!r} is not in {BACKTEST_RUNS}")
    model, engine, bar_size, symbols, stats, bench, in_sample, params, report, first, last = row[0]
    return {
        "run_id": run_id, "model_run": model, "engine": engine, "bar_size": bar_size, "symbols": list(symbols),
        "stats": json.loads(stats), "benchmark": json.loads(bench), "in_sample": json.loads(in_sample) if in_sample else None,
        "parameters": json.loads(params), "report": report, "first_ts": first, "last_ts": last,
    }  # fmt: skip


def equity(con: duckdb.DuckDBPyConnection, run_id: str, *, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """ts, equity, benchmark, drawdown and the rolling Sharpe (one month of bars), at most
    ``max_points`` rows: longer curves keep every k-th bar (and the last)."""
    bars_per_year = con.execute(
        f"select coalesce(cast(stats->>'bars_per_year' as double), 252) from {BACKTEST_RUNS} where run_id = ?", [run_id]
    ).fetchall()[0][0]
    month = max(int(bars_per_year / 12), 5)
    return con.execute(
        f"""
        with curve as (
            select ts, equity, benchmark_equity, drawdown,
                   equity / lag(equity) over (order by ts) - 1 as ret,
                   row_number() over (order by ts) - 1 as i,
                   count(*) over () as n
            from backtest.equity where run_id = ?
        ),
        rolled as (
            select *, case when count(ret) over w = {month} then
                       avg(ret) over w / nullif(stddev_samp(ret) over w, 0) * sqrt({bars_per_year}) end as rolling_sharpe
            from curve
            window w as (order by ts rows between {month - 1} preceding and current row)
        )
        select ts, equity, benchmark_equity as benchmark, drawdown, rolling_sharpe
        from rolled
        where i % cast(greatest(ceil(n / {max_points}), 1) as bigint) = 0 or i = n - 1
        order by ts
        """,
        [run_id],
    ).df()


def monthly_returns(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    return con.execute(
        """
        with ends as (
            select year(ts) as year, month(ts) as month, last(equity order by ts) as equity, first(equity order by ts) as first
            from backtest.equity where run_id = ? group by all
        )
        select year, month,
               equity / coalesce(lag(equity) over (order by year, month), first) - 1 as monthly_return
        from ends order by year, month
        """,
        [run_id],
    ).df()


def tearsheet(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """What the tear sheet's figures need: the run's whole equity curve and gross exposure
    (one row per bar of one run: the figures need every bar; charts downsample), its trades
    and its bars a year."""
    require(con, BACKTEST_EQUITY, "alphaduck backtest (or alphaduck run)")
    bars_per_year = con.execute(
        f"select coalesce(cast(stats->>'bars_per_year' as double), 252) from {BACKTEST_RUNS} where run_id = ?", [run_id]
    ).fetchall()
    if not bars_per_year:
        raise NotReady(f"backtest run {run_id!r} is not in {BACKTEST_RUNS}")
    curve = con.execute(f"select ts, equity, gross_exposure from {BACKTEST_EQUITY} where run_id = ? order by ts", [run_id]).df()
    trades = con.execute(
        "select symbol, side, entry_ts, entry_price, exit_ts, exit_price, quantity, pnl, costs, is_open as open "
        f"from {BACKTEST_TRADES} where run_id = ? order by entry_ts, symbol",
        [run_id],
    ).df()
    curve = curve.set_index("ts")
    return {"equity": curve["equity"], "exposure": curve["gross_exposure"], "trades": trades,
            "bars_per_year": bars_per_year[0][0]}  # fmt: skip


# -- symbol view -------------------------------------------------------------------------------------

CANDLE_COLUMNS = ("sma", "ema", "bb_upper", "bb_middle", "bb_lower", "vwap_session", "rsi", "macd", "macd_signal", "macd_hist", "atr")


def symbols(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[str]:
    if run_id:
        row = con.execute(f"select symbols from {BACKTEST_RUNS} where run_id = ?", [run_id]).fetchall()
        if row:
            return sorted(row[0][0])
    require(con, FEATURE_TABLE, "alphaduck build")
    return [r[0] for r in con.execute(f"select distinct symbol from {FEATURE_TABLE} order by 1").fetchall()]


def candles(
    con: duckdb.DuckDBPyConnection, symbol: str, start: str | None, end: str | None, *, bar_size: str | None = None,
    max_points: int = 1500,
) -> pd.DataFrame:  # fmt: skip
    """OHLCV and the indicators of one symbol over [start, end]; when that is more than
    ``max_points`` bars, DuckDB merges consecutive bars (first open, max high, min low, last
    close and indicators, summed volume) so the chart stays light."""
    require(con, FEATURE_TABLE, "alphaduck build")
    clauses, params = symbol_window_filter([symbol], start, end)
    where = clauses + (["bar_size = ?"] if bar_size else [])
    params += [bar_size] if bar_size else []
    indicators = ", ".join(f"last({c} order by ts) as {c}" for c in CANDLE_COLUMNS)
    return con.execute(
        f"""
        with picked as (
            select *, row_number() over (order by ts) - 1 as i, count(*) over () as n
            from marts.fct_features where {' and '.join(where)}
        )
        select min(ts) as ts, first(open order by ts) as open, max(high) as high, min(low) as low,
               last(close order by ts) as close, sum(volume) as volume, {indicators}
        from picked
        group by i // cast(greatest(ceil(n / {max_points}), 1) as bigint)
        order by ts
        """,
        params,
    ).df()


def trades(con: duckdb.DuckDBPyConnection, run_id: str, symbol: str, start: str | None, end: str | None) -> pd.DataFrame:
    clauses, window = symbol_window_filter([symbol], start, end, date_column="entry_ts")
    where, params = ["run_id = ?", *clauses], [run_id, *window]
    return con.execute(
        f"select entry_ts, entry_price, exit_ts, exit_price, side, pnl from {BACKTEST_TRADES} where {' and '.join(where)} order by entry_ts",
        params,
    ).df()


# -- model view --------------------------------------------------------------------------------------


def importance(models_dir: Path, model_run: str) -> pd.DataFrame:
    from ml.registry import resolve

    try:
        ranked = resolve(model_run, root=models_dir).importance()
    except AlphaduckError:
        ranked = None
    if ranked is None:
        raise NotReady(f"no feature importance for model {model_run} in {models_dir}: run `alphaduck train`")
    return ranked.head(25)


def calibration(con: duckdb.DuckDBPyConnection, model_run: str, buckets: int = 10) -> pd.DataFrame:
    """Predicted probability against the realised share of up moves, by probability bucket."""
    require(con, PREDICTIONS_VIEW, "alphaduck build, then alphaduck predict")
    return con.execute(
        f"""
        with scored as (
            select proba_up, realised_direction, ntile({buckets}) over (order by proba_up) as bucket
            from marts.fct_predictions where run_id = ? and realised_direction is not null and proba_up is not null
        )
        select bucket, avg(proba_up) as predicted, avg(realised_direction) as realised, count(*) as n
        from scored group by bucket order by bucket
        """,
        [model_run],
    ).df()


def hit_rates(con: duckdb.DuckDBPyConnection, model_run: str, by: str) -> pd.DataFrame:
    if by not in ("hour_of_day", "symbol"):
        raise ValueError(by)
    return con.execute(
        f"select {by} as key, avg(is_hit::int) as hit_rate, count(*) as n from {PREDICTIONS_VIEW} "
        f"where run_id = ? and is_hit is not null group by 1 order by 1",
        [model_run],
    ).df()


# -- data quality ------------------------------------------------------------------------------------


def gate_latest(con: duckdb.DuckDBPyConnection) -> tuple[dict, pd.DataFrame]:
    require(con, GATE_RUNS, "alphaduck check")
    run_id, checked, success, suites, docs = con.execute(
        f"select run_id, checked_at, success, suites, data_docs from {GATE_RUNS} order by checked_at desc limit 1"
    ).fetchall()[0]
    results = con.execute(
        "select suite, check_name as check, expectation, failing || '/' || checked_rows as failing, threshold, "
        "case when success then 'pass' else 'FAIL' end as result, array_to_string(examples, '; ') as examples "
        f"from {GATE_RESULTS} where run_id = ? order by success, suite, check_name",
        [run_id],
    ).df()
    return {"run_id": run_id, "checked_at": checked, "success": success, "suites": list(suites), "data_docs": docs}, results


def bars_per_session(con: duckdb.DuckDBPyConnection, sessions: int = 40) -> pd.DataFrame:
    """Bars per symbol for each of the last ``sessions`` sessions (exchange dates)."""
    require(con, BARS, "alphaduck run --ingest sample")
    return con.execute(
        f"""
        with days as (
            select symbol, bar_size, timezone('America/New_York', ts)::date as session_date from raw.bars
        ),
        recent as (
            select distinct session_date from days order by session_date desc limit {sessions}
        )
        select symbol, bar_size, session_date, count(*) as bars
        from days where session_date in (select session_date from recent)
        group by all order by symbol, session_date
        """
    ).df()


def signal(con: duckdb.DuckDBPyConnection, model_run: str) -> dict[str, pd.DataFrame]:
    """The prediction run's signal analysis (ml.signal_*): per-date rank IC, the summary per
    horizon, rank IC by year and the quintiles' mean forward returns."""
    from alphaduck.contracts import SIGNAL_BY_YEAR, SIGNAL_IC, SIGNAL_QUANTILES, SIGNAL_RUNS, SIGNAL_SUMMARY

    if not relation_exists(con, SIGNAL_RUNS) or not con.execute(
        f"select count(*) from {SIGNAL_RUNS} where run_id = ?", [model_run]
    ).fetchall()[0][0]:
        raise NotReady(f"no signal analysis of {model_run} yet: run `alphaduck analyze --prediction-run {model_run}`")
    return {
        "ic": con.execute(f"select ts, horizon, rank_ic from {SIGNAL_IC} where run_id = ? order by ts", [model_run]).df(),
        "summary": con.execute(f"select * exclude (run_id) from {SIGNAL_SUMMARY} where run_id = ? order by method, horizon",
                               [model_run]).df(),  # fmt: skip
        "by_year": con.execute(f"select year, horizon, rank_ic from {SIGNAL_BY_YEAR} where run_id = ? order by all", [model_run]).df(),
        "quantiles": con.execute(f"select quantile, horizon, mean_return from {SIGNAL_QUANTILES} where run_id = ? order by all",
                                 [model_run]).df(),  # fmt: skip
    }
