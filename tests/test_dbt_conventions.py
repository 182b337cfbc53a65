"""dbt conventions that protect users, on real DuckDB files and the real `dbt`: column
docs in DuckDB's comments, source freshness on bar time, fct_features' contract (a new
label horizon means listing its columns), exposures, and a unit test for every model that
computes."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from tests.conftest import project_copy, run_cli, run_dbt, snapshot


def test_column_descriptions_reach_duckdb_comments(sample_built):
    con = duckdb.connect(str(sample_built), read_only=True)
    try:
        columns = con.execute(
            """
            select table_name, column_name, comment from duckdb_columns()
            where schema_name in ('staging', 'marts') and table_name <> 'feature_builds'
            """
        ).df()
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        )
    finally:
        con.close()
    assert set(columns.table_name) >= {"stg_bars", "fct_features", "stg_trading_sessions"}
    assert len(columns[columns.table_name == "fct_features"]) > 200
    assert columns.comment.notna().all(), columns[columns.comment.isna()].head().to_dict("records")
    rsi = columns[(columns.table_name == "fct_features") & (columns.column_name == "rsi")].comment.item()
    assert rsi.startswith("Relative strength index (Wilder)")  # the doc block, rendered
    assert tables["fct_features"].startswith("One row per (symbol, bar_size, ts)")


def test_source_freshness_fails_on_stale_bars(warehouse):
    """The SPY daily sample ends in 2023: stale. One bar an hour old makes it fresh."""
    stale = run_dbt("source", "freshness", "--select", "source:raw.bars", db=warehouse)
    assert stale.returncode == 1, stale.stdout[-2000:]
    assert "ERROR STALE freshness of raw.bars" in stale.stdout
    con = duckdb.connect(str(warehouse))
    con.execute(
        """
        insert into raw.bars
        select symbol, bar_size, date_trunc('minute', now() - interval 1 hour), open, high, low,
               close, volume, wap, bar_count, source, now()
        from raw.bars order by ts desc limit 1
        """
    )
    con.close()
    fresh = run_dbt("source", "freshness", "--select", "source:raw.bars", db=warehouse)
    assert fresh.returncode == 0, fresh.stdout[-2000:]
    assert "PASS freshness of raw.bars" in fresh.stdout


@pytest.fixture(scope="module")
def manifest(loaded_warehouse, tmp_path_factory) -> dict:
    """dbt's manifest of the project (one `dbt parse`, shared by the tests that read it)."""
    target = tmp_path_factory.mktemp("parse") / "target"
    parsed = run_dbt("parse", db=loaded_warehouse, target=target)
    assert parsed.returncode == 0, parsed.stdout[-2000:]
    return json.loads((target / "manifest.json").read_text())


def test_exposures_name_what_reads_the_marts(manifest):
    exposures = {e["name"]: e["depends_on"]["nodes"] for e in manifest["exposures"].values()}
    assert set(exposures) == {"training", "prediction", "backtest", "dashboard"}
    assert all("model.alphaduck.fct_features" in nodes for nodes in exposures.values())
    assert "model.alphaduck.fct_predictions" in exposures["backtest"]


def test_every_model_that_computes_has_a_unit_test(manifest):
    """Staging only renames and casts, and fct_features only joins the intermediate models
    on their key (its contract checks its shape); every other model gets a hand-computed
    fixture."""
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    computing = {m for m in models if not m.startswith("stg_")} - {"fct_features"}
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert len(computing) >= 12
    assert computing <= tested, f"models without a unit test: {sorted(computing - tested)}"


def test_unit_tests_pass_and_one_that_lies_fails(sample_copy, tmp_path):
    """The unit tests run (dbt needs the warehouse's relations for their column types), and
    a fixture whose expectation is wrong fails: they are not decorative."""
    result = run_dbt("test", "--select", "test_type:unit", db=sample_copy)
    assert result.returncode == 0, result.stdout[-3000:]
    passed = result.stdout.count(" PASS ")
    assert passed >= 14, result.stdout[-3000:]
    project = project_copy(tmp_path)
    smoothing = project / "dbt_project" / "models" / "intermediate" / "int_smoothing.yml"
    smoothing.write_text(smoothing.read_text().replace("{bar_seq: 3, ema: 3,", "{bar_seq: 3, ema: 3.5,"))
    lie = run_dbt("test", "--select", "int_smoothing,test_type:unit", db=sample_copy, project=project)
    assert lie.returncode == 1 and "ema_and_macd_are_seeded_with_an_sma_then_smoothed" in lie.stdout


def test_a_listed_new_label_horizon_rebuilds_the_feature_table(warehouse, tmp_path):
    """Adding h = 3 to label_horizons and its four columns to fct_features.yml (as its
    comment says): the next build sees the table's columns differ from the contract,
    rebuilds it in full, and the new labels are the next-open fills held 3 bars. Without
    the columns listed, the build stops first and names them."""
    assert run_cli("build", "--db", warehouse, "-q").exit_code == 0
    before = snapshot(warehouse)
    project = project_copy(tmp_path)
    horizons = json.dumps({"label_horizons": [1, 3, 5, 20]})
    unlisted = run_dbt("build", "--exclude-resource-type", "unit_test", "--vars", horizons, db=warehouse, project=project)
    assert unlisted.returncode == 2  # dbt's exit code for an error before any node runs
    assert (
        "missing columns label_fwd_return_3, label_direction_3, label_xs_rank_3, label_xs_excess_3"
        in " ".join(unlisted.stdout.split())
    )
    assert snapshot(warehouse) == before
    yml = project / "dbt_project" / "models" / "marts" / "fct_features.yml"
    listed = "".join(
        f"      - name: label_{kind}_3\n        data_type: {dtype}\n"
        for kind, dtype in (
            ("fwd_return", "double"),
            ("direction", "int"),
            ("xs_rank", "double"),
            ("xs_excess", "double"),
        )
    )
    yml.write_text(yml.read_text() + listed)
    result = run_dbt("build", "--exclude-resource-type", "unit_test", "--vars", horizons, db=warehouse, project=project)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rebuilding it in full" in result.stdout
    con = duckdb.connect(str(warehouse), read_only=True)
    f = con.execute("select * from marts.fct_features where symbol = 'SPY' order by ts").df()
    con.close()
    expected = f.open.shift(-4) / f.open.shift(-1) - 1
    assert pd.Series.equals(f.label_fwd_return_3.isna(), expected.isna())
    assert (f.label_fwd_return_3 - expected).abs().max() == 0
    assert f.label_direction_3.dropna().isin([0, 1]).all() and len(f) == 5_885


@pytest.mark.parametrize("selector", ["stg_barz", "tag:nightly"])
def test_a_selector_that_matches_nothing_exits_2_and_builds_nothing(warehouse, selector):
    before = snapshot(warehouse)
    result = run_cli("build", "--db", warehouse, "-s", selector)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert f"--select '{selector}' matches no model or test" in out and "nothing was built" in out
    if selector == "stg_barz":
        assert "did you mean stg_bars" in out
    assert snapshot(warehouse) == before
