"""SQL cannot leave the warehouse (issue 13 item 4): every escape an analyst's query could try
fails with one line and leaves the warehouse as it was; paths are quoted everywhere; a file
that is not DuckDB is refused before DuckDB could fetch an extension for it; no connection
alphaduck opens autoloads extensions; a backtest's --run-id cannot point outside --reports."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
import yaml

from alphaduck.settings import DUCKDB_CONFIG
from alphaduck.warehouse import connect, hold, sandbox, scratch
from tests.conftest import PYTHON, ROOT, run_cli, snapshot


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


# name -> (SQL with {db} for the warehouse path and {tmp} for a folder beside it, what DuckDB says)
ESCAPES = {
    # the issue's own: the read-only warehouse swapped for a read-write one, then bars deleted
    "detach, attach read-write, delete": (
        "use memory; detach warehouse; attach '{db}' as w; delete from w.raw.bars",
        'No catalog + schema named "memory" found',
    ),
    "detach, re-attach read-write beside it": (
        "attach '{db}' as w2; use w2; detach warehouse; attach '{db}' as w3 (read_only false); delete from w3.raw.bars",
        "Unique file handle conflict",
    ),
    "attach read-write": ("attach '{db}' as rw (read_write); delete from rw.raw.bars", "Unique file handle conflict"),
    "attach another file": ("attach '{tmp}/new.duckdb' as other", "disabled by configuration"),
    "copy to a file": ("copy (select * from raw.bars limit 5) to '{tmp}/copied.csv'", "disabled by configuration"),
    "export the database": ("export database '{tmp}/exported'", "disabled by configuration"),
    "read another file": ("select * from read_csv('{tmp}/outside.csv')", "disabled by configuration"),
    "glob the disk": ("select * from glob('/etc/*')", "disabled by configuration"),
    "install an extension": ("install sqlite", "disabled by configuration"),
    "load an extension": ("load httpfs", "disabled through configuration"),
    "re-enable external access": ("set enable_external_access = true", "the configuration has been locked"),
    "unlock the configuration": ("set lock_configuration = false", "the configuration has been locked"),
    "reset a setting": ("reset enable_external_access", "the configuration has been locked"),
    "re-enable autoloading": ("set autoload_known_extensions = true", "the configuration has been locked"),
    "delete": ("delete from raw.bars", "read-only mode"),
    "update": ("update raw.bars set close = 0", "read-only mode"),
    "insert": ("insert into raw.bars select * from raw.bars limit 1", "read-only mode"),
    "drop": ("drop table raw.bars", "read-only mode"),
    "create": ("create table raw.mine as select 1 as x", "read-only mode"),
    "create a schema, then checkpoint": ("create schema scratchpad; checkpoint", "read-only mode"),
}


@pytest.mark.parametrize("name", ESCAPES)
def test_every_escape_fails_with_one_line_and_changes_nothing(name, warehouse, tmp_path):
    (tmp_path / "outside.csv").write_text("a,b\n1,2\n")
    template, refusal = ESCAPES[name]
    sql = template.format(db=str(warehouse).replace("'", "''"), tmp=tmp_path)
    before = snapshot(warehouse)
    files = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("sql", "--db", warehouse, sql)
    assert result.exit_code == 2, result.output
    line = one_line(result.output)
    assert line.startswith("Error: query failed: ") and refusal in line, line
    assert snapshot(warehouse) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # nothing written beside it


def test_queries_still_read_everything(warehouse):
    result = run_cli("sql", "--db", warehouse, "select count(*) as n from raw.bars")
    assert result.exit_code == 0, result.output
    assert "5885" in result.output
    # temporary tables are the analyst's own scratch space, in memory: allowed
    scratchpad = run_cli("sql", "--db", warehouse, "create temp table t as select 42 as x; select x * 2 as y from t")
    assert scratchpad.exit_code == 0 and "84" in scratchpad.output


def test_a_warehouse_named_like_a_schema_still_reads(loaded_warehouse, tmp_path):
    """The sandbox opens the file as its own database; it is renamed, or raw.duckdb's
    catalog `raw` would make `raw.bars` ambiguous."""
    db = tmp_path / "raw.duckdb"
    db.write_bytes(loaded_warehouse.read_bytes())
    result = run_cli("sql", "--db", db, "select count(*) as n from raw.bars")
    assert result.exit_code == 0, result.output
    assert "5885" in result.output


def test_the_sandbox_locks_each_setting_in_the_documented_order(warehouse):
    con = sandbox(warehouse)
    try:
        settings = dict(con.execute(
            "select name, value from duckdb_settings() where name in ('enable_external_access', "
            "'autoload_known_extensions', 'autoinstall_known_extensions', 'lock_configuration', 'TimeZone')"
        ).fetchall())  # fmt: skip
        databases = con.execute("select database_name, readonly from duckdb_databases() where not internal").fetchall()
    finally:
        con.close()
    assert settings == {"enable_external_access": "false", "autoload_known_extensions": "false",
                        "autoinstall_known_extensions": "false", "lock_configuration": "true", "TimeZone": "UTC"}  # fmt: skip
    assert databases == [("warehouse", True)]


@pytest.mark.parametrize("opener", ["scratch", "connect", "connect read-only", "sandbox", "hold"])
def test_no_connection_autoloads_extensions(opener, warehouse):
    open_ = {
        "scratch": scratch,
        "connect": lambda: connect(warehouse),
        "connect read-only": lambda: connect(warehouse, read_only=True),
        "sandbox": lambda: sandbox(warehouse),
        "hold": lambda: hold(warehouse),
    }[opener]
    con = open_()
    try:
        values = con.execute(
            "select current_setting('autoload_known_extensions'), current_setting('autoinstall_known_extensions')"
        ).fetchall()[0]
    finally:
        con.close()
    assert values == (False, False)


def test_dbt_opens_the_warehouse_with_the_same_duckdb_options():
    """dbt-duckdb's connection: no autoloading either, and the same options, so that it shares
    the database `alphaduck build` holds open (DuckDB refuses a second configuration)."""
    profile = yaml.safe_load((ROOT / "profiles.yml").read_text())["alphaduck"]["outputs"]["dev"]
    assert profile["config_options"] == DUCKDB_CONFIG


def sqlite_file(path):
    con = sqlite3.connect(path)
    con.execute("create table bars (symbol text, close real)")
    con.execute("insert into bars values ('SPY', 500.0)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("sql", "select 1"),
        ("ingest", "sample", "--dataset", "spy-daily"),
        ("build",),
        ("check", "--no-docs"),
    ],
    ids=lambda a: a[0],
)
def test_a_sqlite_file_is_refused_in_one_line_without_a_download(args, tmp_path):
    """Run as a user would, in a fresh process whose home is empty: DuckDB looks for (and
    would download) extensions under ~/.duckdb; nothing may appear there."""
    db = sqlite_file(tmp_path / "bars.sqlite")
    content = db.read_bytes()
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([PYTHON, "-m", "alphaduck", *args, "--db", str(db)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_line(done.stdout + done.stderr) == f"Error: warehouse {db} is a SQLite database: --db must name a DuckDB file (or a new one to create)"
    assert db.read_bytes() == content
    assert list(home.iterdir()) == []


def test_a_quote_in_the_path_is_data_not_sql(tmp_path):
    """A path that would run SQL if pasted into a statement unquoted stays a file name."""
    folder = tmp_path / "x' (read_only); select 1; --"
    folder.mkdir()
    db = folder / "wh.duckdb"
    result = run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    counted = run_cli("sql", "--db", db, "select count(*) as n from raw.bars")
    assert counted.exit_code == 0 and "5885" in counted.output


@pytest.mark.parametrize("run_id", ["../../x", "/tmp/x", "a/b", ".hidden", "..", "x y"])
def test_a_run_id_cannot_name_a_file_outside_reports(run_id, tmp_path):
    result = run_cli("backtest", "--db", tmp_path / "w.duckdb", "--reports", tmp_path / "reports", "--run-id", run_id)
    assert result.exit_code == 2
    assert one_line(result.output) == (
        f"Error: --run-id {run_id!r} is not a plain name: use letters, digits, '.', '_' and '-' "
        "(no '/', no leading '.'), so that it cannot name a file outside its folder"
    )
    assert list(tmp_path.iterdir()) == []
