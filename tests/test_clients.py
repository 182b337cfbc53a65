"""Any DuckDB client opens the warehouse (issue 19 item 1): a file that went through ingest
and `dbt build` (under a path with a quote in it) is read by a DuckDB 1.x in its own venv."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli

DUCKDB1_VENV = ROOT / ".cache" / "venv-duckdb1"  # git-ignored; made once, reused by later runs
DUCKDB1_REQUIREMENT = "duckdb>=1.4,<2"


def _version(python) -> str | None:
    done = subprocess.run([str(python), "-c", "import duckdb; print(duckdb.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def duckdb1() -> str:
    """The python of a venv holding DuckDB 1.x. Failing to make it fails the tests that need
    it, with pip's reason: a reader we could not run proves nothing."""
    python = DUCKDB1_VENV / "bin" / "python"
    version = _version(python) if python.exists() else None
    if version is None or not version.startswith("1."):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(DUCKDB1_VENV)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              DUCKDB1_REQUIREMENT], capture_output=True, text=True)  # fmt: skip
        if pip.returncode != 0:
            pytest.fail(f"cannot install {DUCKDB1_REQUIREMENT} into {DUCKDB1_VENV}: {(pip.stderr or pip.stdout).strip()[-800:]}")
        version = _version(python)
    assert version and version.startswith("1."), version
    return str(python)


@pytest.fixture(scope="module")
def quoted_built(tmp_path_factory):
    """The SPY daily sample ingested and built by the real CLI into o'brien/wh.duckdb."""
    db = tmp_path_factory.mktemp("clients") / "o'brien" / "wh.duckdb"
    for args in (("ingest", "sample", "--dataset", "spy-daily", "-q"), ("build", "-q")):
        result = run_cli(*args, "--db", db)
        assert result.exit_code == 0, result.output
    return db


def read_with(python: str, db, sql: str) -> list:
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps([duckdb.__version__, con.execute(sys.argv[2]).fetchall()], default=str))\n"
    )
    done = subprocess.run([python, "-c", script, str(db), sql], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-3:]
    return json.loads(done.stdout)


def test_duckdb_1x_reads_a_warehouse_that_went_through_ingest_and_build(duckdb1, quoted_built):
    version, rows = read_with(
        duckdb1, quoted_built,
        "select (select count(*) from raw.bars), (select count(*) from marts.fct_features where warmup_complete), "
        "(select count(*) from raw.ingest_runs)",
    )  # fmt: skip
    assert version.startswith("1.")
    assert rows == [[5885, 5885 - 500, 1]]


def test_the_file_says_it_is_written_for_1x_clients(quoted_built):
    import duckdb

    con = duckdb.connect(str(quoted_built), read_only=True)
    try:
        tags = con.execute("select tags from duckdb_databases() where path = ?", [str(quoted_built)]).fetchall()[0][0]
    finally:
        con.close()
    assert tags["storage_version"].startswith("v1."), tags  # DuckDB 2's own format says v2


def test_the_quoted_path_reads_back_through_alphaduck_sql(quoted_built):
    result = run_cli("sql", "--db", quoted_built, "select count(*) as n from marts.fct_features")
    assert result.exit_code == 0, result.output
    assert "5885" in result.output
