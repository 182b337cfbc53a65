"""Checks every batch of bars passes before it reaches raw.bars.

The staged table has one row per input bar: ``origin`` (file or request), ``row_no``
(1-based position in that origin), symbol, bar_size, ts, open, high, low, close,
volume. ``Locate`` turns (origin, row_no, symbol, ts) into the words an error uses:
"bars.csv line 13" or "IB AAPL 30min bar 2025-05-12 13:30".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import duckdb

from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import fetch_one

Locate = Callable[[str, int, str, object], str]

PRICES = ("open", "high", "low", "close")

# Bars outside these bounds are typos or unit mix-ups, and would break what reads them later
# (pandas timestamps end in 2262, exchange calendars in a few decades): refused on the way in.
EARLIEST_BAR = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)  # a bar has started by now; two days absorb clocks and time zones
# More shares than the world trades in a year; squares of volumes (variances in the feature
# layer) must stay finite in doubles, which 1e308 does not.
MAX_VOLUME = 1e15


def latest_bar(now: datetime | None = None) -> datetime:
    """The latest bar start accepted: bars have started by now."""
    return (now or datetime.now(UTC)) + FUTURE_SLACK


def check_time_bounds(value: datetime, what: str, now: datetime | None = None) -> None:
    """Refuse a timestamp (an option, a request end) outside [EARLIEST_BAR, latest_bar()]."""
    if value < EARLIEST_BAR or value > latest_bar(now):
        raise AlphaduckError(
            f"{what} {value:%Y-%m-%d %H:%M} UTC is out of range: bars start between "
            f"{EARLIEST_BAR:%Y-%m-%d} and now"
        )

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
    (
        "volume",
        f"volume > {MAX_VOLUME:g}",
        f"'volume ' || volume::varchar || ' is out of range (at most {MAX_VOLUME:g})'",
    ),
    ("wap", "wap is not null and not (isfinite(wap) and wap > 0)", "'wap is ' || wap::varchar || ' (must be finite and > 0)'"),
    ("bar_count", "bar_count < 0", "'bar_count is negative (' || bar_count::varchar || ')'"),
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


def check_duplicates(con: duckdb.DuckDBPyConnection, table: str, locate: Locate) -> bool:
    """Raise when one (symbol, bar_size, ts) appears twice with different values.

    Returns whether any key appears more than once (exact duplicates), so callers only
    pay for a de-duplicated copy when there is something to collapse.
    """
    con.execute(
        f"""
        create or replace temp table _repeated as
        select symbol, bar_size, ts from {table} group by all having count(*) > 1
        """
    )
    if fetch_one(con, "select count(*) from _repeated")[0] == 0:
        con.execute("drop table _repeated")
        return False
    clash = fetch_one(
        con,
        f"""
        with keyed as (
            select t.symbol, t.bar_size, t.ts,
                   min(t.origin || chr(0) || lpad(t.row_no::varchar, 20, '0')) as first_at,
                   max(t.origin || chr(0) || lpad(t.row_no::varchar, 20, '0')) as last_at
            from {table} as t
            semi join _repeated as r on r.symbol = t.symbol and r.bar_size = t.bar_size and r.ts = t.ts
            group by t.symbol, t.bar_size, t.ts
            having min(t.open) <> max(t.open) or min(t.high) <> max(t.high)
                or min(t.low) <> max(t.low) or min(t.close) <> max(t.close)
                or min(t.volume) <> max(t.volume) or count(distinct t.volume is null) > 1
        )
        select symbol, bar_size, ts, first_at, last_at, count(*) over () from keyed
        order by first_at limit 1
        """,
    )
    con.execute("drop table _repeated")
    if clash:
        symbol, bar_size, ts, first_at, last_at, n = clash
        (o1, r1), (o2, r2) = (s.split(chr(0)) for s in (first_at, last_at))
        more = f" ({n - 1} more clashing bars)" if n > 1 else ""
        raise AlphaduckError(
            f"{locate(o2, int(r2), symbol, ts)}: {symbol} {bar_size} bar at {ts:%Y-%m-%d %H:%M} UTC "
            f"already appears at {locate(o1, int(r1), symbol, ts)} with different values{more}"
        )
    return True


def unique_bars(con: duckdb.DuckDBPyConnection, table: str, locate: Locate) -> str:
    """Check for clashing duplicates; return a table with one row per key (``table`` itself when
    nothing repeats, which is the common case and costs no copy)."""
    if not check_duplicates(con, table, locate):
        return table
    con.execute(
        f"""
        create or replace temp table _unique_bars as
        select distinct on (symbol, bar_size, ts) *
        from {table}
        order by symbol, bar_size, ts, origin, row_no
        """
    )
    return "_unique_bars"
