"""A small read-only Python API for notebooks: ``alphaduck.open()``.

    import alphaduck
    with alphaduck.open() as wh:                      # $ALPHADUCK_DB, alphaduck.toml, or data/
        wh.features(symbols=["SPY"], start="2025-06-01").plot(x="ts", y="close")

Every method returns a pandas DataFrame read through the same sandboxed read-only connection
as `alphaduck sql` (no file, network or extension access), so a notebook cannot change the
warehouse. While it is open, commands that write (build, train, run) wait for it to close.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alphaduck.contracts import (
    BACKTEST_EQUITY,
    BACKTEST_RUNS,
    BACKTEST_TRADES,
    BAR_KEY,
    FEATURE_TABLE,
    PREDICTIONS,
)
from alphaduck.errors import AlphaduckError
from alphaduck.settings import warehouse_path
from alphaduck.warehouse import relation_exists, sandbox, symbol_window_filter


@dataclass(frozen=True)
class BacktestResult:
    """One backtest run: its equity curve, its trades and its statistics."""

    run_id: str
    equity: pd.DataFrame  # ts, equity, benchmark_equity, drawdown, gross_exposure
    trades: pd.DataFrame  # symbol, side, entry_ts, entry_price, exit_ts, exit_price, quantity, pnl, costs, is_open
    stats: pd.Series  # total_return, sharpe, trades, ... as backtest.runs recorded them


class WarehouseReader:
    """The warehouse, read-only, as DataFrames. Use :func:`alphaduck.open` to make one.

    Parameters
    ----------
    db : str or Path, optional
        The DuckDB warehouse file; default $ALPHADUCK_DB, then ``db`` in alphaduck.toml,
        then data/warehouse.duckdb.

    Examples
    --------
    >>> with alphaduck.open("data/warehouse.duckdb") as wh:
    ...     wh.sql("select symbol, count(*) from raw.bars group by 1")
    """

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        self.path = warehouse_path(db)
        self._con = sandbox(self.path)

    # -- the tables --------------------------------------------------------------------------------------

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Any read-only SQL on the warehouse (DuckDB dialect), as a DataFrame."""
        return self._connection().execute(query, params or []).df()

    def features(
        self,
        symbols: list[str] | str | None = None,
        bar_size: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> pd.DataFrame:
        """Rows of marts.fct_features (every feature and label), optionally for some
        symbols, one bar size and sessions from ``start`` to ``end`` (inclusive dates)."""
        self._require(FEATURE_TABLE, "run `alphaduck build`")
        symbols = [symbols] if isinstance(symbols, str) else symbols
        clauses, params = symbol_window_filter(symbols, start, end, date_column="ts")
        if bar_size:
            from alphaduck.bar_sizes import parse_bar_size

            try:
                code = parse_bar_size(bar_size).code
            except ValueError as exc:
                raise AlphaduckError(str(exc)) from None
            clauses.append("bar_size = ?")
            params.append(code)
        where = f" where {' and '.join(clauses)}" if clauses else ""
        return self.sql(f"select * from {FEATURE_TABLE}{where} order by {', '.join(BAR_KEY)}", params)

    def predictions(self, run: str | None = None) -> pd.DataFrame:
        """One prediction run's rows of ml.predictions (default: the newest run)."""
        self._require(PREDICTIONS, "run `alphaduck predict`")
        run = run or self._newest(PREDICTIONS, "predict")
        rows = self.sql(f"select * from {PREDICTIONS} where run_id = ? order by {', '.join(BAR_KEY)}", [run])
        if rows.empty:
            raise AlphaduckError(f"{PREDICTIONS} has no run {run!r}{self._runs_hint(PREDICTIONS, run)}")
        return rows

    def backtest(self, run: str | None = None) -> BacktestResult:
        """One backtest run (default: the newest): equity, trades and stats."""
        self._require(BACKTEST_RUNS, "run `alphaduck backtest`")
        run = run or self._newest(BACKTEST_RUNS, "backtest")
        found = self.sql(f"select stats from {BACKTEST_RUNS} where run_id = ?", [run])
        if found.empty:
            raise AlphaduckError(f"{BACKTEST_RUNS} has no run {run!r}{self._runs_hint(BACKTEST_RUNS, run)}")
        equity = self.sql(f"select * exclude (run_id) from {BACKTEST_EQUITY} where run_id = ? order by ts", [run])
        trades = self.sql(
            f"select * exclude (run_id) from {BACKTEST_TRADES} where run_id = ? order by entry_ts, symbol", [run]
        )
        return BacktestResult(run, equity, trades, pd.Series(json.loads(found["stats"].iloc[0]), name=run))

    # -- the connection ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Let go of the file (writers can open it again)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> WarehouseReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<alphaduck warehouse {self.path} ({'open' if self._con else 'closed'}, read-only)>"

    def _connection(self):
        if self._con is None:
            raise AlphaduckError(f"warehouse {self.path} is closed: alphaduck.open() it again")
        return self._con

    def _require(self, table: str, then: str) -> None:
        if not relation_exists(self._connection(), table):
            raise AlphaduckError(f"warehouse {self.path} has no {table} yet: {then} first")

    def _newest(self, table: str, command: str) -> str:
        row = self._connection().execute(f"select run_id from {table} order by created_at desc limit 1").fetchall()
        if not row:
            raise AlphaduckError(f"{table} is empty: run `alphaduck {command}` first")
        return row[0][0]

    def _runs_hint(self, table: str, run: str) -> str:
        from alphaduck.symbols import did_you_mean

        return did_you_mean(run, [r for (r,) in self._connection().execute(f"select distinct run_id from {table}").fetchall()])


def open(db: str | Path | None = None) -> WarehouseReader:  # noqa: A001 - alphaduck.open() reads like open()
    """Open the warehouse read-only for analysis: ``with alphaduck.open() as wh: wh.features()``."""
    return WarehouseReader(db)
