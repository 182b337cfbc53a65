"""Checks every batch of bars passes before it reaches raw.bars.

The staged table has one row per input bar: ``origin`` (file or request), ``row_no``
(1-based position in that origin), symbol, bar_size, ts, open, high, low, close,
volume. ``Locate`` turns (origin, row_no, symbol, ts) into the words an error uses:
"bars.csv line 13" or "IB AAPL 30min bar 2025-05-12 13:30".
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import fetch_one

Locate = Callable[[str, int, str, object], str]

PRICES = ("open", "high", "low", "close")

# (column, failing condition, message) in the order a person would fix them
_ROW_CHECKS: list[tuple[str, str, str]] = [
    *[(c, f"{c} is null", f"'missing {c}'") for c in PRICES],
    *[(c, f"not isfinite({c})", f"'{c} is ' || {c}::varchar || ' (prices must be finite)'") for c in PRICES],
    *[(c, f"{c} <= 0", f"'{c} is ' || {c}::varchar || ' (prices must be > 0)'") for c in PRICES],
    (
        "high",
        "high < greatest(open, close)",
        "'high ' || high::varchar || ' is below max(open, close) = ' || greatest(open, close)::varchar",
    ),
    (
        "low",
        "low > least(open, close)",
        "'low ' || low::varchar || ' is above min(open, close) = ' || least(open, close)::varchar",
    ),
    ("volume", "volume is not null and not isfinite(volume)", "'volume is ' || volume::varchar"),
    ("volume", "volume < 0", "'volume is negative (' || volume::varchar || ')'"),
]


def _first_failure(con: duckdb.DuckDBPyConnection, sql: str) -> tuple | None:
    return fetch_one(con, sql)


def check_rows(con: duckdb.DuckDBPyConnection, table: str, locate: Locate) -> None:
    """Raise on the first bar (in input order) that breaks a price or volume rule."""
    column = "case " + " ".join(f"when {cond} then '{col}'" for col, cond, _ in _ROW_CHECKS) + " end"
    message = "case " + " ".join(f"when {cond} then {msg}" for _, cond, msg in _ROW_CHECKS) + " end"
    failure = _first_failure(
        con,
        f"""
        with checked as (
            select origin, row_no, symbol, ts, {column} as bad_column, {message} as problem
            from {table}
        ),
        bad as (select * from checked where bad_column is not null)
        select origin, row_no, symbol, ts, bad_column, problem, count(*) over () as n_bad
        from bad
        order by origin, row_no
        limit 1
        """,
    )
    if failure:
        origin, row_no, symbol, ts, bad_column, problem, n_bad = failure
        more = f" ({n_bad - 1} more bad rows)" if n_bad > 1 else ""
        raise AlphaduckError(f"{locate(origin, row_no, symbol, ts)}, column {bad_column}: {problem}{more}")


def check_duplicates(con: duckdb.DuckDBPyConnection, table: str, locate: Locate) -> None:
    """Raise when one (symbol, bar_size, ts) appears twice with different values."""
    clash = _first_failure(
        con,
        f"""
        with keyed as (
            select symbol, bar_size, ts,
                   min(origin || chr(0) || lpad(row_no::varchar, 20, '0')) as first_at,
                   max(origin || chr(0) || lpad(row_no::varchar, 20, '0')) as last_at
            from {table}
            group by symbol, bar_size, ts
            having min(open) <> max(open) or min(high) <> max(high)
                or min(low) <> max(low) or min(close) <> max(close)
                or min(volume) <> max(volume) or count(distinct volume is null) > 1
        )
        select symbol, bar_size, ts, first_at, last_at, count(*) over () from keyed
        order by first_at limit 1
        """,
    )
    if clash:
        symbol, bar_size, ts, first_at, last_at, n = clash
        (o1, r1), (o2, r2) = (s.split(chr(0)) for s in (first_at, last_at))
        more = f" ({n - 1} more clashing bars)" if n > 1 else ""
        raise AlphaduckError(
            f"{locate(o2, int(r2), symbol, ts)}: {symbol} {bar_size} bar at {ts:%Y-%m-%d %H:%M} UTC "
            f"already appears at {locate(o1, int(r1), symbol, ts)} with different values{more}"
        )


def dedupe(con: duckdb.DuckDBPyConnection, table: str, into: str) -> None:
    """Keep one row per key (the input's exact duplicates collapse to one)."""
    con.execute(
        f"""
        create or replace temp table {into} as
        select distinct on (symbol, bar_size, ts) *
        from {table}
        order by symbol, bar_size, ts, origin, row_no
        """
    )
