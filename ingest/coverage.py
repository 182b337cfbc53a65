"""What IB has already been asked for, per series, and the gaps to ask next (raw.ingest_coverage).

Each answered request leaves one row: the span of bar starts it asked for, how many bars came
back, and when. The next run asks only for the parts of its span that no row covers, so a run
killed half-way, a request that failed, or a span fetched for other hours is asked again,
and nothing already fetched is.

"No data" answers are spans too. Where the exchange had no session at all (a weekend, a
holiday) the answer is believed (status ``closed``). Where it had sessions, IB's "HMDS query
returned no data" is sometimes spurious: such a span (status ``no_data``) is asked again once
it is older than ``NO_DATA_RECHECK``, then after 8x as long each time it is again empty (1 h,
8 h, 64 h, ...), and at once with ``--retry-empty``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from alphaduck.bar_sizes import BarSize
from ingest.series import hours_nest
from ingest.sessions import trading_sessions

Span = tuple[datetime, datetime]

NO_DATA_RECHECK = timedelta(hours=1)
NO_DATA_BACKOFF = 8
# extended hours around a regular session (IB: 04:00-20:00 New York around 09:30-16:00)
_PRE_MARKET = timedelta(hours=5, minutes=30)
_AFTER_HOURS = timedelta(hours=4)


@dataclass(frozen=True)
class CoverageKey:
    """One series as IB serves it: symbol, bar size, what to show, regular hours or all."""

    symbol: str
    bar_size: BarSize
    what_to_show: str
    use_rth: bool


# -- span arithmetic (pure) ---------------------------------------------------------------------------


def union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering exactly what ``spans`` cover (touching ones joined)."""
    merged: list[list[datetime]] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def gaps(start: datetime, end: datetime, covered: Iterable[Span]) -> list[Span]:
    """The parts of [start, end) that no span of ``covered`` covers, oldest first."""
    found: list[Span] = []
    cursor = start
    for a, b in union(covered):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            found.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return found


def finished_before(span_end: datetime, answered_at: datetime, bar: BarSize) -> datetime:
    """Where an answered span counts as fetched: a bar that may still have been forming when
    IB answered (its start less than one bar length before the answer) is asked again."""
    return min(span_end, answered_at - timedelta(seconds=bar.seconds))


def recheck_due(status: str, answers: int, fetched_at: datetime, now: datetime) -> bool:
    """Whether a span answered with "no data" should be asked again now (see the module docstring)."""
    if status != "no_data":
        return False
    return now - fetched_at >= NO_DATA_RECHECK * NO_DATA_BACKOFF ** max(answers - 1, 0)


def exchange_open_during(calendar: str, span: Span, *, use_rth: bool) -> bool:
    """Whether ``calendar`` had any session (extended hours too unless ``use_rth``) inside ``span``."""
    start, end = (pd.Timestamp(t) for t in span)
    sessions = trading_sessions(calendar, (start - pd.Timedelta(days=1)).date(), (end + pd.Timedelta(days=1)).date())
    if sessions.empty:
        return False
    opens = pd.to_datetime(sessions["open_utc"], utc=True)
    closes = pd.to_datetime(sessions["close_utc"], utc=True)
    if not use_rth:
        opens, closes = opens - _PRE_MARKET, closes + _AFTER_HOURS
    return bool(((opens < end) & (closes > start)).any())


# -- the table ----------------------------------------------------------------------------------------


def _kinds_that_cover(key: CoverageKey) -> tuple[str, list]:
    """SQL and parameters for the coverage rows that answer ``key``'s requests.

    All-hours bars of a size that nests regular hours hold the regular-hours ones too.
    """
    if key.use_rth and hours_nest(key.bar_size):
        return "symbol = ? and bar_size = ? and what_to_show = ?", [
            key.symbol, key.bar_size.code, key.what_to_show,
        ]  # fmt: skip
    return "symbol = ? and bar_size = ? and what_to_show = ? and use_rth = ?", [
        key.symbol, key.bar_size.code, key.what_to_show, key.use_rth,
    ]  # fmt: skip


def covered_spans(
    con: duckdb.DuckDBPyConnection,
    key: CoverageKey,
    *,
    now: datetime,
    retry_empty: bool = False,
    catalog: str = "wh",
) -> list[Span]:
    """The spans of ``key`` that need not be asked again, joined and sorted."""
    where, params = _kinds_that_cover(key)
    rows = con.execute(
        f"""
        select span_start, span_end, status, no_data_answers, fetched_at
        from {catalog}.raw.ingest_coverage where {where}
        """,
        params,
    ).fetchall()
    keep = [
        (start, end)
        for start, end, status, answers, fetched_at in rows
        if status == "bars"
        or (not retry_empty and status == "closed")
        or (not retry_empty and status == "no_data" and not recheck_due(status, answers, fetched_at, now))
    ]
    return union(keep)


def spans_to_recheck(
    con: duckdb.DuckDBPyConnection, key: CoverageKey, *, now: datetime, catalog: str = "wh"
) -> int:
    """How many spans of ``key`` IB answered with "no data" in session hours, still waiting for a re-ask."""
    where, params = _kinds_that_cover(key)
    rows = con.execute(
        f"select status, no_data_answers, fetched_at from {catalog}.raw.ingest_coverage where {where} and status = 'no_data'",
        params,
    ).fetchall()
    return sum(1 for status, answers, fetched_at in rows if not recheck_due(status, answers, fetched_at, now))


def record_spans(
    con: duckdb.DuckDBPyConnection,
    spans: list[tuple[CoverageKey, datetime, datetime, int, str, datetime]],
    *,
    run_id: str,
    catalog: str = "wh",
) -> None:
    """Record answered requests (inside the caller's transaction): (key, start, end, bars,
    status, fetched_at) each.

    Rows of the same series inside a new span are replaced by it; a "no data" answer counts
    how many times in a row its span has been empty.
    """
    rows = [
        (k.symbol, k.bar_size.code, k.what_to_show, k.use_rth, start, end, bars, status, fetched_at)
        for k, start, end, bars, status, fetched_at in spans
        if start < end
    ]
    if not rows:
        return
    table = f"{catalog}.raw.ingest_coverage"
    columns = ["symbol", "bar_size", "what_to_show", "use_rth", "span_start", "span_end", "bars", "status", "fetched_at"]
    con.register("_answered", pd.DataFrame(rows, columns=columns))
    same = (
        "c.symbol = n.symbol and c.bar_size = n.bar_size and c.what_to_show = n.what_to_show "
        "and c.use_rth = n.use_rth"
    )
    try:
        con.execute(
            f"""
            create or replace temp table _new_spans as
            select n.symbol, n.bar_size, n.what_to_show, n.use_rth, n.span_start::timestamptz as span_start,
                   n.span_end::timestamptz as span_end, n.bars, n.status,
                   case when n.status = 'no_data' then 1 + coalesce((
                       select max(c.no_data_answers) from {table} as c
                       where {same} and c.status = 'no_data' and c.span_start < n.span_end and c.span_end > n.span_start
                   ), 0) else 0 end as no_data_answers,
                   n.fetched_at::timestamptz as fetched_at, ? as run_id
            from _answered as n
            """,
            [run_id],
        )
    finally:
        con.unregister("_answered")
    con.execute(
        f"""
        delete from {table} as c using _new_spans as n
        where {same} and c.span_start >= n.span_start and c.span_end <= n.span_end
        """
    )
    con.execute(f"insert into {table} select * from _new_spans")
    con.execute("drop table _new_spans")


def forget_series(con: duckdb.DuckDBPyConnection, symbol: str, bar_size: str, *, catalog: str = "wh") -> None:
    con.execute(f"delete from {catalog}.raw.ingest_coverage where symbol = ? and bar_size = ?", [symbol, bar_size])
