"""Reading what a backtest needs from the warehouse, and writing its results back.

Reads ml.predictions (one model run), the bars of its symbols from marts.fct_features, and
the calendar's sessions for annualising. What backtests write is backtests/tables.py's.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from alphaduck.contracts import CPCV_PREDICTIONS, PREDICTIONS
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
        f"select symbol, bar_size, ts, proba_up, predicted_direction, score from {PREDICTIONS} "
        f"where {' and '.join(where)} order by ts, symbol",
        params,
    ).df()
    if frame.empty:
        runs = [r[0] for r in con.execute(f"select distinct run_id from {PREDICTIONS} order by 1 desc limit 3").fetchall()]
        hint = f" (runs with predictions: {', '.join(runs)})" if runs else ": run `alphaduck predict` first"
        window = f" between {start or 'the start'} and {end or 'the end'}" if start or end else ""
        raise AlphaduckError(f"no predictions of run {run_id!r}{window} in {PREDICTIONS}{hint}")
    return as_probability(frame)


def as_probability(frame: pd.DataFrame) -> pd.DataFrame:
    """A regressor or ranker has no probability: its predicted direction (above the label's
    neutral value) stands in as a 0/1 one for probability thresholds; rankings use the score."""
    if frame["proba_up"].isna().all():
        frame["proba_up"] = frame["predicted_direction"].astype(float)
    return frame.drop(columns="predicted_direction")


def load_cpcv_predictions(con: duckdb.DuckDBPyConnection, run_id: str, *, symbols: list[str] | None) -> pd.DataFrame:
    """A --cv cpcv run's out-of-sample scores of its search window, per split and time group."""
    clauses, window = symbol_window_filter(symbols, None, None, date_column="ts")
    frame = con.execute(
        f"select split, cv_group, symbol, bar_size, ts, proba_up, predicted_direction, score from {CPCV_PREDICTIONS} "
        f"where {' and '.join(['run_id = ?', *clauses])} order by split, ts, symbol",
        [run_id, *window],
    ).df()
    return as_probability(frame) if not frame.empty else frame


def latest_prediction_run(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(f"select run_id from {PREDICTIONS} order by created_at desc limit 1").fetchall()
    if not row:
        raise AlphaduckError(f"{PREDICTIONS} is empty: run `alphaduck predict` first")
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


def load_signal_analysis(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    """A prediction run's signal analysis tables (`alphaduck analyze`), or None if it has none."""
    from alphaduck.contracts import SIGNAL_BY_YEAR, SIGNAL_QUANTILES, SIGNAL_RUNS, SIGNAL_SUMMARY
    from alphaduck.warehouse import relation_exists

    if not relation_exists(con, SIGNAL_RUNS) or not con.execute(
        f"select count(*) from {SIGNAL_RUNS} where run_id = ?", [run_id]
    ).fetchall()[0][0]:
        return None
    return {
        name: con.execute(f"select * exclude (run_id) from {table} where run_id = ? order by all", [run_id]).df()
        for name, table in (("summary", SIGNAL_SUMMARY), ("by_year", SIGNAL_BY_YEAR), ("quantiles", SIGNAL_QUANTILES))
    }
