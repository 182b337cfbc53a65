"""`alphaduck build`: the real `dbt build`, in-process, on real DuckDB files."""

from __future__ import annotations

import shutil
import subprocess

import duckdb
import pytest

from tests.conftest import PYTHON, build_steps, locked, project_copy, run_cli, snapshot


@pytest.fixture(scope="module")
def built(loaded_warehouse, tmp_path_factory):
    """The SPY daily sample, built once."""
    db = tmp_path_factory.mktemp("build") / "built.duckdb"
    shutil.copy(loaded_warehouse, db)
    result = run_cli("build", "--db", db)
    assert result.exit_code == 0, result.output
    return db, result.output


def test_build_makes_the_feature_table_and_reports_it(built):
    db, output = built
    # staging (5 tables and views), int_bars, int_smoothing, fct_features, fct_predictions
    assert "dbt build: 9 models" in output and "0 failed, 0 models skipped" in output
    # no terminal here: a line per node, counting up to dbt's own total and never past it
    # (ephemeral models are compiled into others, never run: they are not steps)
    steps = build_steps(output)
    assert [done for done, _ in steps] == list(range(1, len(steps) + 1))
    assert {total for _, total in steps} == {len(steps)}, steps[-1]
    con = duckdb.connect(str(db), read_only=True)
    rows, warm = con.execute("select count(*), count(*) filter (where warmup_complete) from marts.fct_features").fetchall()[0]
    con.close()
    assert rows == 5_885 and warm == 5_885 - 500


def test_a_second_build_with_nothing_new_writes_nothing(built, tmp_path):
    db = tmp_path / "again.duckdb"
    shutil.copy(built[0], db)
    before = snapshot(db)
    result = run_cli("build", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    after = snapshot(db)
    assert after["marts.fct_features"] == before["marts.fct_features"]


def test_a_failing_data_test_exits_1_and_is_named(built, tmp_path):
    db = tmp_path / "bad.duckdb"
    shutil.copy(built[0], db)
    con = duckdb.connect(str(db))
    con.execute("update raw.bars set low = 0, close = 0 where ts = (select max(ts) from raw.bars)")
    con.close()
    result = run_cli("build", "--db", db)
    assert result.exit_code == 1
    assert "test positive_price_stg_bars: fail: Got 1 result, configured to fail if != 0 (low: 1 row)" in result.output
    # the models after the failed test were skipped, not built: only the staging ones count
    out = " ".join(result.output.split())
    assert "dbt build: 5 models" in out and ", 4 models skipped" in out, out[:400]


def test_no_warehouse_or_no_bars_says_to_ingest_first(tmp_path):
    missing = run_cli("build", "--db", tmp_path / "nothing.duckdb")
    assert missing.exit_code == 2
    assert "does not exist: run `alphaduck ingest` first" in missing.output
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    result = run_cli("build", "--db", empty)
    assert result.exit_code == 2
    assert "has no raw.bars: run `alphaduck ingest sample`" in result.output


def test_a_locked_warehouse_is_named(built, tmp_path):
    db = tmp_path / "locked.duckdb"
    shutil.copy(built[0], db)
    with locked(db) as pid:
        result = run_cli("build", "--db", db)
    assert result.exit_code == 2
    assert f"is locked by process {pid}" in result.output


def test_sql_answers_an_analysts_question_read_only(built):
    db, _ = built
    before = snapshot(db)
    result = run_cli("sql", "--db", db, "select count(*) as n, min(rsi) >= 0 as ok from marts.fct_features where warmup_complete")
    assert result.exit_code == 0, result.output
    assert "5385" in result.output and "true" in result.output  # DuckDB renders booleans as true/false
    bad = run_cli("sql", "--db", db, "select nope from marts.fct_features")
    assert bad.exit_code == 2 and 'query failed: Binder Error: Referenced column "nope" not found' in bad.output
    assert snapshot(db) == before


def test_a_process_reuses_its_parse_until_a_project_file_changes(loaded_warehouse, tmp_path, monkeypatch):
    """`alphaduck build` keeps the dbt manifests it parsed for the rest of the process and on
    disk for the next one (a full parse costs ~6 s, and dbt starts one over for every new
    warehouse path): a second warehouse, under another name (so another catalog), is built
    without parsing, an edited model is parsed again and takes effect, a new process builds
    from the kept parse without parsing, and a new value of an environment variable the
    project reads is parsed again."""
    from alphaduck.build import dbt_build

    project = project_copy(tmp_path)
    warehouses = []
    for folder, name in (("first", "warehouse"), ("second", "other"), ("third", "warehouse")):
        db = tmp_path / folder / f"{name}.duckdb"
        db.parent.mkdir()
        shutil.copy(loaded_warehouse, db)
        warehouses.append(db)

    def build(db):
        target = db.parent / "target"
        outcome = dbt_build(db, project_dir=project, target_dir=target, select=("stg_bar_sizes",), data_tests=False)
        assert outcome.ok and outcome.models == 1, outcome.failures
        parsed = (target / "partial_parse.msgpack").exists()  # dbt writes it only when it parses
        con = duckdb.connect(str(db), read_only=True)
        columns = [c for (c,) in con.execute("select column_name from information_schema.columns "
                                             "where table_name = 'stg_bar_sizes'").fetchall()]  # fmt: skip
        con.close()
        return parsed, columns

    first, second = build(warehouses[0]), build(warehouses[1])
    assert first[0] and not second[0]
    assert first[1] == second[1] and "edited" not in first[1]
    model = project / "dbt_project" / "models" / "staging" / "stg_bar_sizes.sql"
    model.write_text(model.read_text().replace("select * from renamed", "select *, 1 as edited from renamed"))
    parsed, columns = build(warehouses[2])
    assert parsed and columns == [*first[1], "edited"]

    # a new process starts from the parse the last one kept on disk: it does not parse
    fourth = tmp_path / "fourth" / "again.duckdb"
    fourth.parent.mkdir()
    shutil.copy(loaded_warehouse, fourth)
    script = ("import sys; from pathlib import Path; from alphaduck.build import dbt_build; "
              "o = dbt_build(Path(sys.argv[1]), project_dir=Path(sys.argv[2]), target_dir=Path(sys.argv[1]).parent / 'target', "
              "select=('stg_bar_sizes',), data_tests=False); sys.exit(0 if o.ok and o.models == 1 else 1)")  # fmt: skip
    done = subprocess.run([PYTHON, "-c", script, str(fourth), str(project)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not (fourth.parent / "target" / "partial_parse.msgpack").exists()
    con = duckdb.connect(str(fourth), read_only=True)
    assert "edited" in [c for (c,) in con.execute("select column_name from information_schema.columns "
                                                   "where table_name = 'stg_bar_sizes'").fetchall()]  # fmt: skip
    con.close()

    # a config that reads the environment at parse time: another value is parsed again
    model.write_text("{{ config(alias='stg_bar_sizes_' ~ env_var('ALPHADUCK_PARSE_TAG', 'none')) }}\n" + model.read_text())
    for tag in ("a", "b"):
        monkeypatch.setenv("ALPHADUCK_PARSE_TAG", tag)
        outcome = dbt_build(fourth, project_dir=project, target_dir=fourth.parent / "target", select=("stg_bar_sizes",),
                            data_tests=False)  # fmt: skip
        assert outcome.ok, outcome.failures
        con = duckdb.connect(str(fourth), read_only=True)
        tables = {t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()}
        con.close()
        assert f"stg_bar_sizes_{tag}" in tables


def test_build_writes_dbts_artifacts_where_dbt_target_path_says(warehouse, tmp_path, monkeypatch):
    """`alphaduck build` honours dbt's own DBT_TARGET_PATH / DBT_LOG_PATH (training reads the
    manifest back from there for the model's record), else uses <project>/target."""
    import json

    from alphaduck.settings import PROJECT_ROOT, dbt_artifacts_dir

    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert dbt_artifacts_dir("target") == PROJECT_ROOT / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "artifacts"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt_logs"))
    result = run_cli("build", "--db", warehouse, "--select", "stg_bar_sizes", "-q")
    assert result.exit_code == 0, result.output
    ran = json.loads((tmp_path / "artifacts" / "run_results.json").read_text())["results"]
    assert [r["unique_id"] for r in ran if r["unique_id"].startswith("model.")] == ["model.alphaduck.stg_bar_sizes"]
    assert (tmp_path / "artifacts" / "manifest.json").exists() and (tmp_path / "dbt_logs" / "dbt.log").exists()
