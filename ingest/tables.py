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
    ingested_at timestamptz not null
    -- key (symbol, bar_size, ts): kept unique by ingest/store.py merge_bars, without an index
    -- (an index cost 2 s per million new bars); warehouses from before keep their primary key
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
    status varchar not null,          -- running | ok | failed | interrupted (killed: marked by the next run)
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

BAR_SERIES_DDL = """
create table if not exists {c}raw.bar_series (
    symbol varchar not null,
    bar_size varchar not null,
    what_to_show varchar not null,    -- what the bars are: TRADES, MIDPOINT, BID, ASK, BID_ASK (files: TRADES)
    use_rth boolean,                  -- true: regular hours only; false: all hours; null: not known (files)
    source varchar not null,          -- the source of the first bars of the series
    updated_at timestamptz not null,
    primary key (symbol, bar_size)
)
"""

INGEST_COVERAGE_DDL = """
create table if not exists {c}raw.ingest_coverage (
    symbol varchar not null,
    bar_size varchar not null,
    what_to_show varchar not null,
    use_rth boolean not null,
    span_start timestamptz not null,  -- IB was asked for the bars starting in [span_start, span_end)
    span_end timestamptz not null,
    bars bigint not null,             -- bars it answered with
    status varchar not null,          -- bars | closed (no data, no session) | no_data (no data in session hours)
    no_data_answers integer not null, -- "no data" answers in a row for this span (re-asked with back-off)
    fetched_at timestamptz not null,
    run_id varchar not null
)
"""

CORPORATE_ACTIONS_DDL = """
create table if not exists {c}raw.corporate_actions (
    symbol varchar not null,
    ex_date date not null,            -- first session traded without the dividend / at the new share count
    kind varchar not null,            -- split | dividend
    split_ratio double,               -- splits: new shares per old share (2 = 2:1, 1.5 = 3:2, 0.1 = 1:10)
    cash_dividend double,             -- dividends: cash per share, in the trading currency
    source varchar not null,          -- ibkr, file:NAME, sample:NAME
    ingested_at timestamptz not null,
    primary key (symbol, ex_date, kind)
)
"""

UNIVERSE_DDL = """
create table if not exists {c}raw.universe (
    universe varchar not null,        -- a name, e.g. dow30
    symbol varchar not null,
    from_date date not null,          -- first session as a member
    to_date date,                     -- last session as a member; null while it still is
    source varchar not null,
    ingested_at timestamptz not null,
    primary key (universe, symbol, from_date)
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


def _table_exists(con: duckdb.DuckDBPyConnection, catalog: str | None, schema: str, name: str) -> bool:
    database = catalog or con.execute("select current_database()").fetchall()[0][0]
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = ? and schema_name = ? and table_name = ?",
            [database, schema, name],
        ).fetchall()[0][0]
    )


def ensure_tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> None:
    """Create the pipeline schemas and the raw tables that do not exist yet."""
    ensure_schemas(con, catalog)
    prefix = f"{catalog}." if catalog else ""
    series_existed = _table_exists(con, catalog, "raw", "bar_series")
    for ddl in (
        BARS_DDL,
        INGEST_RUNS_DDL,
        TRADING_SESSIONS_DDL,
        BAR_SIZES_DDL,
        BAR_SERIES_DDL,
        INGEST_COVERAGE_DDL,
        CORPORATE_ACTIONS_DDL,
        UNIVERSE_DDL,
    ):
        con.execute(ddl.format(c=prefix))
    if not series_existed:
        # a warehouse from before series were recorded: what its bars are, as far as their source says
        con.execute(
            f"""
            insert into {prefix}raw.bar_series
            select symbol, bar_size,
                   coalesce(max(case when source like 'ibkr:%' then split_part(source, ':', 2) end), 'TRADES'),
                   null, min(source), now()
            from {prefix}raw.bars group by symbol, bar_size
            """
        )
    # dbt reads bar lengths from here, so alphaduck/bar_sizes.py stays their only definition
    values = ", ".join(f"('{b.code}', '{b.ib_setting}', {b.seconds})" for b in BAR_SIZES.values())
    con.execute(f"insert or replace into {prefix}raw.bar_sizes values {values}")
