"""Opening the DuckDB warehouse: one file, UTC everywhere, clear errors when locked.

Every connection alphaduck opens has extension autoloading off (``DUCKDB_CONFIG``), writes
new files in a storage format DuckDB 1.x clients read (``STORAGE_VERSION``) and quotes the
warehouse path as a string literal. A command that finds the file locked waits for it up to
$ALPHADUCK_LOCK_WAIT seconds; while a writer waits, readers that give way (the dashboard)
stop opening the file, so a busy dashboard cannot starve `alphaduck run`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import duckdb

from alphaduck.errors import AlphaduckError, WarehouseLockedError
from alphaduck.settings import (
    DEFAULT_LOCK_WAIT,
    DUCKDB_CONFIG,
    LOCK_WAIT_ENV_VAR,
    SCHEMAS,
    STORAGE_VERSION,
    warehouse_path,
)

CATALOG = "warehouse"
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
_RETRY_EVERY = 0.05  # seconds between two attempts at a locked file
T = TypeVar("T")


def sql_string(value: object) -> str:
    """``value`` as an SQL string literal: quoted, with quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


def _holder(text: str) -> tuple[int | None, str]:
    """The pid DuckDB names in a lock error, and what that process is ('process 42 (alphaduck
    dashboard ...)'), read from /proc where there is one."""
    found = _LOCK_PID.search(text)
    if not found:
        return None, "another process"
    pid = int(found.group(1))
    return pid, f"process {pid}{_command_of(pid)}"


def _command_of(pid: int) -> str:
    with contextlib.suppress(OSError):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [Path(a.decode(errors="replace")).name if i == 0 else a.decode(errors="replace") for i, a in enumerate(args) if a]
        if words:
            command = " ".join(words)
            return f" ({command[:100]}{'...' if len(command) > 100 else ''})"
    return ""


def _explain(path: Path, exc: duckdb.Error, waited: float = 0.0) -> AlphaduckError:
    text = str(exc)
    if _is_lock_error(exc):
        _, holder = _holder(text)
        after = f"; waited {waited:.1f} s, ${LOCK_WAIT_ENV_VAR}" if waited else ""
        return WarehouseLockedError(
            f"warehouse {path} is locked by {holder} (DuckDB allows one writer per file{after}): "
            "wait for that command to finish or close it, then retry"
        )
    return AlphaduckError(f"cannot open warehouse {path}: {text.splitlines()[0]}")


def lock_wait(wait: float | None = None) -> float:
    """Seconds to wait for a locked warehouse: ``wait``, else $ALPHADUCK_LOCK_WAIT, else the default."""
    if wait is not None:
        return max(float(wait), 0.0)
    raw = os.environ.get(LOCK_WAIT_ENV_VAR)
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise AlphaduckError(f"${LOCK_WAIT_ENV_VAR} must be a number of seconds, got {raw!r}") from None


# -- writers announce that they wait; readers that give way see it ------------------------------------


def _intent_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{_glob_escape(path.name)}.writer-waiting.*"))


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def waiting_writer(path: Path) -> int | None:
    """The pid of a live process waiting to write ``path``, if any (stale markers are removed)."""
    for marker in _intent_files(path):
        try:
            pid = int(marker.name.rsplit(".", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and _alive(pid):
            return pid
        if not _alive(pid):
            marker.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def _announce_writer(path: Path) -> Iterator[None]:
    marker = path.with_name(f"{path.name}.writer-waiting.{os.getpid()}")
    try:
        marker.touch()
    except OSError:  # a read-only directory: nothing to announce to
        yield
        return
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _open_waiting(path: Path, open_: Callable[[], T], *, wait: float | None, writer: bool) -> T:
    """``open_()``, retried while the file is locked by another process, for up to ``wait`` s."""
    limit = lock_wait(wait)
    started = time.monotonic()
    with contextlib.ExitStack() as announced:
        waiting = False
        while True:
            try:
                return open_()
            except duckdb.Error as exc:
                waited = time.monotonic() - started
                if not _is_lock_error(exc) or waited >= limit:
                    raise _explain(path, exc, waited if waiting else 0.0) from exc
                if not waiting:  # the first time: say so, once, and let readers that give way know
                    import click

                    click.echo(f"warehouse {path} is locked by {_holder(str(exc))[1]}: waiting up to {limit:g} s "
                               f"(${LOCK_WAIT_ENV_VAR})", err=True)  # fmt: skip
                    if writer:
                        announced.enter_context(_announce_writer(path))
                    waiting = True
                time.sleep(min(_RETRY_EVERY, max(limit - waited, 0.0)))


# -- the file ------------------------------------------------------------------------------------------


def refuse_foreign_file(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB sees it (DuckDB would try to
    load, even download, the extension that reads it: SQLite, for one)."""
    if path.is_dir():
        raise AlphaduckError(f"warehouse {path} is a directory, not a DuckDB file")
    if not path.exists():
        return
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head:
        return  # an empty file: DuckDB makes it a new database
    if head[8:12] != _DUCKDB_MAGIC:
        kind = "a SQLite database" if head.startswith(b"SQLite format 3\0") else "not a DuckDB database"
        raise AlphaduckError(f"warehouse {path} is {kind}: --db must name a DuckDB file (or a new one to create)")


def _attach_sql(path: Path, alias: str, *, read_only: bool) -> str:
    options = ["read_only"] if read_only else []
    if not read_only and not path.exists():
        options.append(f"storage_version {sql_string(STORAGE_VERSION)}")
    return f"attach {sql_string(path)} as {alias}" + (f" ({', '.join(options)})" if options else "")


def connect(
    db: str | Path | None = None, *, read_only: bool = False, wait: float | None = None, give_way: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (created on first write) with the session time zone set to UTC.

    The file is attached under one fixed catalog name and made the default: DuckDB would
    otherwise name the catalog after the file, and a warehouse called ml.duckdb or
    raw.duckdb would make `ml.predictions` or `raw.bars` ambiguous. A locked file is
    retried for ``wait`` seconds ($ALPHADUCK_LOCK_WAIT by default). A reader with
    ``give_way`` does not open the file while a writer waits for it.
    """
    path = warehouse_path(db)
    if read_only and not path.exists():
        raise AlphaduckError(f"warehouse {path} does not exist: run `alphaduck ingest` first")
    refuse_foreign_file(path)
    if give_way and (pid := waiting_writer(path)) is not None:
        raise WarehouseLockedError(f"warehouse {path} is locked by process {pid}{_command_of(pid)}, which waits to write it")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = scratch()
    try:
        _open_waiting(path, lambda: con.execute(_attach_sql(path, CATALOG, read_only=read_only)), wait=wait,
                      writer=not read_only)  # fmt: skip
    except BaseException:
        con.close()
        raise
    con.execute(f"use {CATALOG}")
    return con


def scratch() -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC, for staging and validating before the warehouse is touched."""
    con = duckdb.connect(config=dict(DUCKDB_CONFIG))
    con.execute("set TimeZone = 'UTC'")
    return con


def attach(con: duckdb.DuckDBPyConnection, db: str | Path | None, alias: str = "wh", *, wait: float | None = None) -> Path:
    """Attach the warehouse file to ``con`` read-write as ``alias``; returns its path."""
    path = warehouse_path(db)
    refuse_foreign_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _open_waiting(path, lambda: con.execute(_attach_sql(path, alias, read_only=False)), wait=wait, writer=True)
    return path


def hold(db: str | Path | None, *, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """The warehouse opened read-write as its own database, with ``DUCKDB_CONFIG``: while this
    connection is open, dbt-duckdb (same process, same path, same options: profiles.yml's
    config_options) shares this database instead of taking the file lock itself, so no
    reader can slip in between the connections dbt opens and closes during a build."""
    path = warehouse_path(db)
    refuse_foreign_file(path)
    return _open_waiting(path, lambda: duckdb.connect(str(path), config=dict(DUCKDB_CONFIG)), wait=wait, writer=True)


# The statements that make a connection a sandbox, in the order that works: the file must be
# attached before external access is switched off, and the configuration locked last.
SANDBOX_SETTINGS = (
    "set enable_external_access = false",
    "set autoload_known_extensions = false",
    "set autoinstall_known_extensions = false",
    "set lock_configuration = true",
)


def sandbox(db: str | Path | None = None, *, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """A connection for analyst SQL that cannot leave the warehouse or change it.

    The database is opened read-only as a whole (not attached read-only to an in-memory
    database: DuckDB lets a query detach that and attach the same file read-write), with no
    file, network or extension access and the configuration locked, so no ``COPY ... TO``,
    ``read_csv``, ``ATTACH``, ``INSTALL``/``LOAD`` or ``SET`` gets out.
    """
    path = warehouse_path(db)
    if not path.exists():
        raise AlphaduckError(f"warehouse {path} does not exist: run `alphaduck ingest` first")
    refuse_foreign_file(path)
    con = _open_waiting(path, lambda: duckdb.connect(str(path), read_only=True, config=dict(DUCKDB_CONFIG)),
                        wait=wait, writer=False)  # fmt: skip
    try:
        opened = con.execute("select current_database()").fetchall()[0][0]
        if opened != CATALOG:
            # the same fixed catalog name as connect(): a file called raw.duckdb would make raw.bars ambiguous
            con.execute(f"attach {sql_string(path)} as {CATALOG} (read_only)")
            con.execute(f"use {CATALOG}")
            con.execute(f'detach "{opened}"')
        con.execute("set TimeZone = 'UTC'")
        for statement in SANDBOX_SETTINGS:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


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


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame) -> None:
    """Append a DataFrame's rows to ``table``, matching columns by name."""
    con.register("_frame", frame)
    try:
        con.execute(f"insert into {table} by name select * from _frame")
    finally:
        con.unregister("_frame")


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


# -- the value every stage is handed ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Warehouse:
    """The warehouse file, made once at the CLI edge (`--db`, $ALPHADUCK_DB or the default)
    and handed to every stage: each stage opens it through these methods, under one catalog
    name (CATALOG), instead of resolving and attaching the path itself.

    >>> Warehouse.of("data/warehouse.duckdb").path.name
    'warehouse.duckdb'
    """

    path: Path

    @classmethod
    def of(cls, db: Warehouse | str | os.PathLike[str] | None) -> Warehouse:
        """``db`` as a Warehouse: one given, a path, or (None) $ALPHADUCK_DB / the default."""
        return db if isinstance(db, Warehouse) else cls(warehouse_path(db))

    def __str__(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    @contextlib.contextmanager
    def reader(self, *, give_way: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (closed on exit); with ``give_way`` it does not open while a
        writer waits for the file (the dashboard)."""
        con = connect(self.path, read_only=True, give_way=give_way)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection (closed on exit); the file is created on first write."""
        con = connect(self.path)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction: committed when the block ends,
        rolled back (nothing written) when it raises."""
        with self.writer() as con:
            con.execute("begin")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")

    def attach_to(self, con: duckdb.DuckDBPyConnection) -> None:
        """Attach the file read-write to ``con`` (a scratch connection that staged data first)
        under CATALOG."""
        attach(con, self.path, CATALOG)

    def hold(self) -> duckdb.DuckDBPyConnection:
        """The file held open for dbt's build (see ``hold``)."""
        return hold(self.path)
