"""Opening the DuckDB warehouse: one file, UTC everywhere, clear errors when locked."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from alphaduck.errors import AlphaduckError, WarehouseLockedError
from alphaduck.settings import SCHEMAS, warehouse_path

_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def _explain(path: Path, exc: duckdb.Error) -> AlphaduckError:
    text = str(exc)
    if "lock" in text.lower():
        pid = _LOCK_PID.search(text)
        holder = f"process {pid.group(1)}" if pid else "another process"
        return WarehouseLockedError(
            f"warehouse {path} is locked by {holder} (DuckDB allows one writer per file): "
            "wait for that command to finish or close it, then retry"
        )
    return AlphaduckError(f"cannot open warehouse {path}: {text.splitlines()[0]}")


CATALOG = "warehouse"


def connect(db: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created on first write) with the session time zone set to UTC.

    The file is attached under one fixed catalog name and made the default: DuckDB would
    otherwise name the catalog after the file, and a warehouse called ml.duckdb or
    raw.duckdb would make `ml.predictions` or `raw.bars` ambiguous.
    """
    path = warehouse_path(db)
    if read_only and not path.exists():
        raise AlphaduckError(f"warehouse {path} does not exist: run `alphaduck ingest` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = scratch()
    quoted = str(path).replace("'", "''")
    try:
        con.execute(f"attach '{quoted}' as {CATALOG}{' (read_only)' if read_only else ''}")
    except duckdb.Error as exc:
        con.close()
        raise _explain(path, exc) from exc
    con.execute(f"use {CATALOG}")
    return con


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC, for staging and validating before the warehouse is touched."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    return con


def attach(con: duckdb.DuckDBPyConnection, db: str | Path | None, alias: str = "wh") -> Path:
    """Attach the warehouse file to ``con`` read-write as ``alias``; returns its path."""
    path = warehouse_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con.execute(f"attach '{path}' as {alias}")
    except duckdb.Error as exc:
        raise _explain(path, exc) from exc
    return path


def ensure_schemas(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> None:
    """Create every pipeline schema that does not exist yet."""
    prefix = f"{catalog}." if catalog else ""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {prefix}{schema}")


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of ``sql``, with the result fully consumed.

    DuckDB 2 keeps a result open after ``fetchone()`` and then refuses ``register()`` on
    the same connection, so read everything (these queries return one row anyway).
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def symbol_window_filter(
    symbols: list[str] | None, start: str | None, end: str | None, *, date_column: str = "session_date"
) -> tuple[list[str], list]:
    """WHERE clauses and parameters for "these symbols, sessions from start to end" (inclusive
    dates; ``date_column`` may be a timestamp, whose date is compared)."""
    clauses: list[str] = []
    params: list = []
    if symbols:
        clauses.append(f"symbol in ({', '.join('?' * len(symbols))})")
        params += [s.upper() for s in symbols]
    if start:
        clauses.append(f"{date_column}::date >= ?::date")
        params.append(start)
    if end:
        clauses.append(f"{date_column}::date <= ?::date")
        params.append(end)
    return clauses, params


def columns_of(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    """The columns of ``schema.name``, in order (none if it does not exist)."""
    schema, name = qualified.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall()
    ]


def relation_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether ``schema.name`` is a table or a view of the warehouse."""
    schema, name = qualified.split(".")
    return bool(
        fetch_one(
            con,
            "select (select count(*) from duckdb_tables() where schema_name = ? and table_name = ?)"
            " + (select count(*) from duckdb_views() where schema_name = ? and view_name = ?)",
            [schema, name, schema, name],
        )[0]
    )


def warehouse_id(con: duckdb.DuckDBPyConnection, *, create: bool = False) -> str | None:
    """This warehouse's identity: a random id stored in it on first need (``create`` on a
    writable connection). Models record it, and every stage that uses a model checks it, so a
    model never scores or trades a warehouse it was not trained on."""
    from alphaduck.contracts import WAREHOUSE_INFO

    if relation_exists(con, WAREHOUSE_INFO):
        row = fetch_one(con, f"select warehouse_id from {WAREHOUSE_INFO} limit 1")
        if row:
            return row[0]
    if not create:
        return None
    import uuid

    schema = WAREHOUSE_INFO.split(".")[0]
    identity = uuid.uuid4().hex
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create table if not exists {WAREHOUSE_INFO} (warehouse_id varchar not null, created_at timestamptz not null)")
    con.execute(f"insert into {WAREHOUSE_INFO} values (?, current_timestamp)", [identity])
    return identity
