"""Point-in-time index membership into raw.universe.

A universe (e.g. ``dow30``) is a named list of membership spans: a symbol belongs to it from
``from_date`` through ``to_date`` (open-ended while it still belongs). Training, sweeps and
backtests given ``--universe NAME`` use a symbol's rows only while it was a member, so a
backtest never trades a company that joined the index later because it did well
(survivorship bias). A membership file is the universe's whole history: loading it replaces
what the warehouse held for that name, in one transaction, after every row was checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from alphaduck.contracts import UNIVERSE
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import CATALOG, attach, fetch_one, scratch
from ingest.files import (
    DATES,
    TEXT,
    ColumnType,
    StagedFiles,
    check_types,
    map_columns,
    read_error,
    read_source,
    sql_ident,
    sql_string,
)
from ingest.store import MergeCounts, close_stale_runs, new_run_id, record_run
from ingest.tables import ensure_tables
from ingest.validate import EARLIEST_BAR

UNIVERSE_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker"),
    "from_date": ("from_date", "from", "start", "start_date", "added", "date_added"),
    "to_date": ("to_date", "to", "end", "end_date", "removed", "date_removed"),
}
UNIVERSE_TYPES: dict[str, ColumnType] = {"symbol": TEXT, "from_date": DATES, "to_date": DATES}


@dataclass(frozen=True)
class UniverseResult:
    run_id: str
    name: str
    rows_read: int
    counts: MergeCounts
    symbols: int


def _date_sql(column: str, duck_type: str) -> str:
    if duck_type == "DATE":
        return column
    if duck_type.startswith("TIMESTAMP"):
        return f"{column}::date"
    text = f"nullif(trim({column}), '')"
    return f"coalesce(try_cast({text} as date), try_strptime({text}, '%Y%m%d')::date)"


def stage_universe(con: duckdb.DuckDBPyConnection, path: Path, staged: StagedFiles) -> int:
    """Read and check one membership file into ``staged.table``; returns its rows."""
    origin = str(path)
    if path.stat().st_size == 0:
        raise AlphaduckError(f"{path}: file is empty")
    kind, source = read_source(path)
    staged.kinds[origin] = kind
    try:
        types = {name: t for name, t, *_ in con.execute(f"describe select * from {source}").fetchall()}
    except duckdb.Error as exc:
        raise read_error(path, kind, exc) from exc
    mapping = map_columns(path, list(types), UNIVERSE_ALIASES, ("symbol", "from_date"))
    check_types(path, mapping, types, UNIVERSE_TYPES)
    col = {c: sql_ident(name) for c, name in mapping.items()}
    to_date = _date_sql(col["to_date"], types[mapping["to_date"]]) if "to_date" in mapping else "null::date"
    to_blank = f"coalesce(trim({col['to_date']}::varchar), '') = ''" if "to_date" in mapping else "true"
    try:
        con.execute(
            f"""
            create or replace temp table _universe_rows as
            select row_number() over () as row_no,
                   upper(trim({col["symbol"]}::varchar)) as symbol,
                   {col["from_date"]}::varchar as from_raw, {_date_sql(col["from_date"], types[mapping["from_date"]])} as from_date,
                   {col["to_date"] + "::varchar" if "to_date" in mapping else "null::varchar"} as to_raw,
                   {to_blank} as to_blank, {to_date} as to_date
            from {source}
            """
        )
    except duckdb.Error as exc:
        raise read_error(path, kind, exc) from exc
    rows = fetch_one(con, "select count(*) from _universe_rows")[0]
    if rows == 0:
        raise AlphaduckError(f"{path}: file has a header but no rows")
    bad = fetch_one(
        con,
        f"""
        select row_no, problem, count(*) over () from (
            select row_no, case
                when coalesce(symbol, '') = '' then 'column {mapping["symbol"]}: missing symbol'
                when from_date is null then 'column {mapping["from_date"]}: cannot parse ' || coalesce('''' || from_raw || '''', 'an empty value') || ' as a date'
                when from_date < '{EARLIEST_BAR:%Y-%m-%d}'::date then 'column {mapping["from_date"]}: ' || from_date || ' is before {EARLIEST_BAR:%Y-%m-%d}'
                when not to_blank and to_date is null then 'column {mapping.get("to_date", "to_date")}: cannot parse ''' || to_raw || ''' as a date'
                when to_date < from_date then 'column {mapping.get("to_date", "to_date")}: ' || to_date || ' is before its from date ' || from_date
            end as problem from _universe_rows
        ) where problem is not null order by row_no limit 1
        """,
    )
    if bad:
        row_no, problem, n = bad
        more = f" ({n - 1} more bad rows)" if n > 1 else ""
        raise AlphaduckError(f"{staged.locate(origin, row_no)}, {problem}{more}")
    con.execute(f"insert into {staged.table} select {sql_string(origin)}, row_no, symbol, from_date, to_date from _universe_rows")
    con.execute("drop table _universe_rows")
    return rows


def check_overlaps(con: duckdb.DuckDBPyConnection, staged: StagedFiles) -> None:
    """A symbol cannot join a universe it is already in: overlapping spans are a typo."""
    clash = fetch_one(
        con,
        f"""
        select a.origin, a.row_no, b.origin, b.row_no, a.symbol from {staged.table} as a
        join {staged.table} as b on a.symbol = b.symbol and (a.origin, a.row_no) < (b.origin, b.row_no)
         and b.from_date <= coalesce(a.to_date, '9999-12-31'::date) and a.from_date <= coalesce(b.to_date, '9999-12-31'::date)
        order by b.origin, b.row_no limit 1
        """,
    )
    if clash:
        o1, r1, o2, r2, symbol = clash
        raise AlphaduckError(
            f"{staged.locate(o2, r2)}: {symbol}'s membership overlaps the one at {staged.locate(o1, r1)} "
            "(one row per span; a symbol that left and came back has two rows that do not overlap)"
        )


def ingest_universe_files(paths: Sequence[Path], *, name: str, db: str | Path | None = None) -> UniverseResult:
    """Check every file, then replace universe ``name`` in raw.universe in one transaction."""
    name = name.strip().lower()
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise AlphaduckError(f"universe name {name!r}: use letters, digits, '-' and '_'")
    con = scratch()
    try:
        staged = StagedFiles("_universe")
        con.execute(f"create temp table {staged.table} (origin varchar, row_no bigint, symbol varchar, from_date date, to_date date)")
        rows = sum(stage_universe(con, Path(p), staged) for p in paths)
        check_overlaps(con, staged)
        source = ("file:" + ",".join(Path(p).name for p in paths))[:200]
        started_at, run_id = datetime.now(UTC), new_run_id(source)
        attach(con, db)
        con.execute("begin")
        try:
            ensure_tables(con, CATALOG)
            close_stale_runs(con, found_by=run_id)
            before = fetch_one(con, f"select count(*) from {CATALOG}.{UNIVERSE} where universe = ?", [name])[0]
            con.execute(f"delete from {CATALOG}.{UNIVERSE} where universe = ?", [name])
            con.execute(
                f"insert into {CATALOG}.{UNIVERSE} select ?, symbol, from_date, to_date, ?, ? from {staged.table}",
                [name, source, datetime.now(UTC)],
            )
            counts = MergeCounts(rows, before)
            record_run(con, run_id, source=source, status="ok", counts=counts, started_at=started_at,
                       parameters={"paths": [str(p) for p in paths], "universe": name, "table": UNIVERSE})  # fmt: skip
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        symbols = fetch_one(con, f"select count(distinct symbol) from {staged.table}")[0]
        return UniverseResult(run_id, name, rows, counts, symbols)
    finally:
        con.close()
