"""Writing to the warehouse: the bars upsert, ingest-run records, session coverage.

Every function here runs inside a transaction the caller owns, on a connection where
the warehouse is attached as ``catalog``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from alphaduck.warehouse import CATALOG, fetch_one
from ingest.sessions import trading_sessions

_VALUES = ("open", "high", "low", "close", "volume")


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0

    def __iadd__(self, other: MergeCounts) -> MergeCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        return self


def merge_bars(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    *,
    source: str,
    ingested_at: datetime,
    catalog: str = CATALOG,
    spans: str | None = None,
) -> MergeCounts:
    """Merge the staged bars (one row per key) into raw.bars; unchanged bars are not touched.

    A bar counts as changed when OHLCV differ, or when the new source gives a wap or
    bar_count that differs from the stored one (a file without wap never erases IB's).
    Pass an ``ingested_at`` taken after the warehouse was opened for writing: dbt's
    incremental models treat bars ingested after the last build as the ones to recompute,
    so it must never be earlier than a build that ran before this write. ``spans``, when
    given, names a table of (symbol, bar_size, lo, hi) of the staged bars.

    raw.bars keeps (symbol, bar_size, ts) unique without an index (maintaining one cost
    about 2 s per million new bars): a changed bar is deleted and inserted again, a new one
    inserted, inside the caller's transaction, and the row count is checked to have grown
    by exactly the new bars.

    Rows go in sorted by the key, so DuckDB compresses them as it writes them: a fresh file
    of 1M bars takes 19 MB and 0.49 s to insert, commit and close, against 36 MB and 0.74 s
    unsorted (most of that a checkpoint rewriting the rows when the warehouse closes).
    """
    columns = "symbol, bar_size, ts, open, high, low, close, volume, wap, bar_count"
    if not _overlaps(con, staged, catalog, spans):
        # nothing stored where these bars are (a new series, or newer bars): every bar is new
        before = fetch_one(con, f"select count(*) from {catalog}.raw.bars")[0]
        con.execute(
            f"insert into {catalog}.raw.bars ({columns}, source, ingested_at) select {columns}, ?, ? from {staged} "
            "order by symbol, bar_size, ts",
            [source, ingested_at],
        )
        inserted = fetch_one(con, f"select count(*) from {catalog}.raw.bars")[0] - before
        return MergeCounts(inserted, 0)
    changed = " or ".join(
        [f"s.{c} is distinct from b.{c}" for c in _VALUES]
        + [f"(s.{c} is not null and s.{c} is distinct from b.{c})" for c in ("wap", "bar_count")]
    )
    con.execute(
        f"""
        create or replace temp table _delta as
        select s.symbol, s.bar_size, s.ts, s.open, s.high, s.low, s.close, s.volume,
               coalesce(s.wap, b.wap) as wap, coalesce(s.bar_count, b.bar_count) as bar_count,
               b.symbol is null as is_new
        from {staged} as s
        left join {catalog}.raw.bars as b
            on b.symbol = s.symbol and b.bar_size = s.bar_size and b.ts = s.ts
        where b.symbol is null or {changed}
        """
    )
    inserted, updated = fetch_one(
        con, "select count(*) filter (where is_new), count(*) filter (where not is_new) from _delta"
    )
    if inserted or updated:
        before = fetch_one(con, f"select count(*) from {catalog}.raw.bars")[0]
        if updated:
            con.execute(
                f"""
                delete from {catalog}.raw.bars as b using _delta as d
                where not d.is_new and b.symbol = d.symbol and b.bar_size = d.bar_size and b.ts = d.ts
                """
            )
        con.execute(
            f"""
            insert into {catalog}.raw.bars
                (symbol, bar_size, ts, open, high, low, close, volume, wap, bar_count, source, ingested_at)
            select symbol, bar_size, ts, open, high, low, close, volume, wap, bar_count, ?, ? from _delta
            order by symbol, bar_size, ts
            """,
            [source, ingested_at],
        )
        after = fetch_one(con, f"select count(*) from {catalog}.raw.bars")[0]
        if after != before + inserted:
            raise RuntimeError(f"raw.bars grew by {after - before:,} rows for {inserted:,} new bars: key not unique")
    con.execute("drop table _delta")
    return MergeCounts(inserted, updated)


def _overlaps(con: duckdb.DuckDBPyConnection, staged: str, catalog: str, spans: str | None = None) -> bool:
    """Whether any stored bar lies within the span the staged bars cover, series by series."""
    spans_sql = spans or f"(select symbol, bar_size, min(ts) as lo, max(ts) as hi from {staged} group by all)"
    return bool(
        fetch_one(
            con,
            f"""
            with spans as (select * from {spans_sql})
            select exists (
                select 1 from {catalog}.raw.bars as b
                join spans as s on b.symbol = s.symbol and b.bar_size = s.bar_size and b.ts between s.lo and s.hi
            )
            """,
        )[0]
    )


def new_run_id(source: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{source.split(':')[0]}-{uuid.uuid4().hex[:6]}"


def record_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    source: str,
    parameters: dict,
    started_at: datetime,
    status: str,
    counts: MergeCounts | None = None,
    error: str | None = None,
    catalog: str = CATALOG,
) -> None:
    """Insert or update one row of raw.ingest_runs."""
    counts = counts or MergeCounts()
    finished = None if status == "running" else datetime.now(UTC)
    con.execute(
        f"""
        insert into {catalog}.raw.ingest_runs
            (run_id, source, parameters, started_at, finished_at, rows_inserted, rows_updated, status, error)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?)
        on conflict (run_id) do update set
            finished_at = excluded.finished_at,
            rows_inserted = excluded.rows_inserted,
            rows_updated = excluded.rows_updated,
            status = excluded.status,
            error = excluded.error
        """,
        [
            run_id,
            source,
            json.dumps(parameters, default=str),
            started_at,
            finished,
            counts.inserted,
            counts.updated,
            status,
            error,
        ],
    )


def close_stale_runs(con: duckdb.DuckDBPyConnection, *, found_by: str, catalog: str = CATALOG) -> int:
    """Mark runs still ``running`` as ``interrupted``; returns how many.

    Only a writer calls this, and DuckDB lets one process write a warehouse at a time: a run
    still ``running`` then belongs to a process that died without recording its end (kill -9,
    a power cut). Its committed requests stay stored; raw.ingest_coverage says which.
    """
    rows = con.execute(
        f"""
        update {catalog}.raw.ingest_runs
        set status = 'interrupted',
            error = 'the process ended without recording an outcome (killed?); found by run ' || ?
        where status = 'running'
        returning run_id
        """,
        [found_by],
    ).fetchall()
    return len(rows)


def forget_bars(con: duckdb.DuckDBPyConnection, symbol: str, bar_size: str, *, catalog: str = CATALOG) -> int:
    """Delete one series' bars and its raw.bar_series row (``--replace``); returns the bars deleted."""
    where, key = "where symbol = ? and bar_size = ?", [symbol, bar_size]
    deleted = fetch_one(con, f"select count(*) from {catalog}.raw.bars {where}", key)[0]
    con.execute(f"delete from {catalog}.raw.bars {where}", key)
    con.execute(f"delete from {catalog}.raw.bar_series {where}", key)
    return deleted


def refresh_sessions(con: duckdb.DuckDBPyConnection, calendar: str, *, catalog: str = CATALOG) -> None:
    """Make raw.trading_sessions cover every day raw.bars spans, for ``calendar``."""
    first, last = fetch_one(con, f"select min(ts), max(ts) from {catalog}.raw.bars")
    if first is None:
        return
    # a day of margin: a UTC timestamp can sit on the neighbouring local session date
    lo, hi = (first - timedelta(days=1)).date(), (last + timedelta(days=1)).date()
    have_lo, have_hi = fetch_one(
        con,
        f"select min(session_date), max(session_date) from {catalog}.raw.trading_sessions where calendar = ?",
        [calendar],
    )
    if have_lo is not None and have_lo <= lo and have_hi >= hi:
        return
    if have_lo is not None:
        lo, hi = min(lo, have_lo), max(hi, have_hi)
    con.register("_sessions", trading_sessions(calendar, lo, hi))
    con.execute(
        f"""
        insert into {catalog}.raw.trading_sessions
        select calendar, session_date, open_utc, close_utc, is_early_close from _sessions
        on conflict do nothing
        """
    )
    con.unregister("_sessions")
