"""DDL of the tables the ingest stage owns (DESIGN.md: raw.*)."""

from __future__ import annotations

import duckdb

from alphaduck.bar_sizes import BAR_SIZES
from alphaduck.warehouse import ensure_schemas

BARS_DDL = """
create table if not exists {c}raw.bars (
    symbol varchar not null,
    bar_size varchar not null,
    ts timestamptz not null,          -- bar START, UTC
    open double not null,
    high double not null,
    low double not null,
    close double not null,
    volume double,                    -- null where the source has none (IB MIDPOINT, BID, ASK)
    wap double,
    bar_count bigint,
    source varchar not null,
    ingested_at timestamptz not null,
    primary key (symbol, bar_size, ts)
)
"""

INGEST_RUNS_DDL = """
create table if not exists {c}raw.ingest_runs (
    run_id varchar primary key,
    source varchar not null,
    parameters json,
    started_at timestamptz not null,
    finished_at timestamptz,
    rows_inserted bigint not null default 0,
    rows_updated bigint not null default 0,
    status varchar not null,          -- running | ok | failed | interrupted
    error varchar
)
"""

TRADING_SESSIONS_DDL = """
create table if not exists {c}raw.trading_sessions (
    calendar varchar not null,
    session_date date not null,
    open_utc timestamptz not null,
    close_utc timestamptz not null,
    is_early_close boolean not null,
    primary key (calendar, session_date)
)
"""

BAR_SIZES_DDL = """
create table if not exists {c}raw.bar_sizes (
    bar_size varchar primary key,     -- the code raw.bars stores: 30min, 1h, 1d
    ib_setting varchar not null,      -- IB's spelling: 30 mins, 1 hour, 1 day
    seconds integer not null          -- nominal length; a 1d bar spans one session
)
"""

BAR_COLUMNS = ("symbol", "bar_size", "ts", "open", "high", "low", "close", "volume", "wap", "bar_count")


def ensure_tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> None:
    """Create the pipeline schemas and the raw tables that do not exist yet."""
    ensure_schemas(con, catalog)
    prefix = f"{catalog}." if catalog else ""
    for ddl in (BARS_DDL, INGEST_RUNS_DDL, TRADING_SESSIONS_DDL, BAR_SIZES_DDL):
        con.execute(ddl.format(c=prefix))
    # dbt reads bar lengths from here, so alphaduck/bar_sizes.py stays their only definition
    values = ", ".join(f"('{b.code}', '{b.ib_setting}', {b.seconds})" for b in BAR_SIZES.values())
    con.execute(f"insert or replace into {prefix}raw.bar_sizes values {values}")
