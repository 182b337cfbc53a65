"""`alphaduck lookahead`: real scratch `dbt build`s of the real sample, on real DuckDB files.

The sample passes; a copy of the dbt project that adds a column computed with lead() is
caught by that column's name; a copy whose warm-up is too short for the recursive
indicators is caught by their names. The warehouse is never written.
"""

from __future__ import annotations

import hashlib
import re
import tempfile

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from alphaduck.contracts import FEATURE_TABLE
from alphaduck.features import START_ANCHORED, WARMUP_COLUMN, is_label
from alphaduck.lookahead import (
    CUT,
    START,
    Probe,
    Series,
    check_vars,
    copy_to_scratch,
    deviation,
    plan_cuts,
    stratified,
)
from tests.conftest import DOW30_SPLITS, project_copy, run_cli, snapshot


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failed_columns(output: str) -> list[str]:
    """The "name (check)" list of the first line of a failing run."""
    line = next(line for line in output.splitlines() if "column(s) failed:" in line)
    return line.split("failed: ", 1)[1].split(", ")


def test_the_sample_passes_and_the_warehouse_is_untouched(sample_built, tmp_path, monkeypatch):
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    before, digest = snapshot(sample_built), file_digest(sample_built)

    result = run_cli("lookahead", "--db", sample_built)

    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(sample_built), read_only=True)
    columns = [r[0] for r in con.execute(f"describe {FEATURE_TABLE}").fetchall()]
    con.close()
    checked = [c for c in columns if c not in ("symbol", "bar_size", "ts") and not is_label(c)]
    settling = [c for c in checked if c not in START_ANCHORED | {WARMUP_COLUMN}]
    # three symbols, five cuts (two may fall on the same bar among the first ten) or two later
    # starts each; every column but the keys and labels (and what cannot settle)
    for check, least_copies, n_columns in (("look-ahead", 12, len(checked)), ("recursive", 6, len(settling))):
        row = re.search(rf"^ ?{check}\s+(\d+)\s+(\d+)\s+([\d,]+)\s+(\S+)", result.stdout, re.M)
        assert row, result.stdout
        copies, n, rows, worst = int(row[1]), int(row[2]), int(row[3].replace(",", "")), float(row[4])
        assert copies >= least_copies and n == n_columns and rows > 3_000 and worst <= 1e-9, row[0]
    assert "lookahead: no finding" in result.stdout
    # the recursive indicators settle well inside the 500-bar warm-up (ADX is the slowest)
    settles = re.search(r"every column settles within (\d+) bars of history \((\w+)\); warmup_bars is 500", result.stdout)
    assert settles and 250 < int(settles[1]) < 500, result.stdout
    assert snapshot(sample_built) == before and file_digest(sample_built) == digest
    assert list(scratch_root.iterdir()) == []  # the scratch warehouse is gone


def test_a_column_computed_with_lead_is_caught_by_name(sample_built, tmp_path):
    """A user's fct_features gains one column from lead(): the cut at 15:00 UTC on
    2025-09-03 finds it, there and nowhere else; the labels, which look forward by
    definition, are not named."""
    project = project_copy(tmp_path)
    model = project / "dbt_project" / "models" / "marts" / "fct_features.sql"
    model.write_text(
        "select *, lead(close) over (partition by symbol, bar_size order by ts) as close_of_next_bar\n"
        f"from (\n{model.read_text()}\n) as planted\n"
    )
    # fct_features' contract names every column: the user lists the new one, as a build demands
    contract = project / "dbt_project" / "models" / "marts" / "fct_features.yml"
    contract.write_text(contract.read_text() + "      - name: close_of_next_bar\n        data_type: double\n")
    digest = file_digest(sample_built)

    result = run_cli("lookahead", "--db", sample_built, "--project-dir", project, "--symbol", "aapl",
                     "--at", "2025-09-03T15:10", "--starts", "1", "-q")  # fmt: skip

    assert result.exit_code == 1, result.output
    assert failed_columns(result.output) == ["close_of_next_bar (look-ahead)"]
    assert re.search(
        r"look-ahead: close_of_next_bar of AAPL 30min, cut after 2025-09-03 15:00 UTC \(bar \d+\): "
        r"first differs at 2025-09-03 15:00 UTC; 1 row\(s\), a value is null on one side only",
        result.output,
    ), result.output
    assert file_digest(sample_built) == digest


def test_a_warmup_too_short_for_the_recursive_indicators_is_caught_by_name(sample_built, tmp_path):
    """A copy of the project with warmup_bars 20: the rows it calls warm still carry where
    history started in every EMA and Wilder smoothing, and the windows longer than 20 bars
    are not even full; a one-bar return is settled and not named; nothing looks ahead."""
    project = project_copy(tmp_path)
    settings = yaml.safe_load((project / "dbt_project.yml").read_text())
    settings["vars"]["warmup_bars"] = 20
    (project / "dbt_project.yml").write_text(yaml.safe_dump(settings, sort_keys=False))

    result = run_cli("lookahead", "--db", sample_built, "--project-dir", project, "--symbol", "AAPL", "--cuts", "1",
                     "--starts", "1", "-q")  # fmt: skip

    assert result.exit_code == 1, result.output
    named = failed_columns(result.output)
    for column in ("ema", "macd", "macd_signal", "rsi", "atr", "natr", "adx", "plus_di", "minus_di", "a158_ma_60"):
        assert f"{column} (recursive)" in named, named
    assert "ret_1 (recursive)" not in named and not [n for n in named if n.endswith("(look-ahead)")]
    assert re.search(r"recursive: adx of AAPL 30min, history from .* \(bar \d+\): first differs at", result.output)
    assert "warmup_bars is 20" in result.output


def test_the_vars_are_the_builds_overrides_on_top_of_the_checked_project(tmp_path):
    """A warehouse built with `--var label_horizon=5` (the record says 5; dbt_project.yml
    says 1): the check passes it again, on top of the checked copy's own dbt_project.yml
    (warmup_bars 20 there), and --var beats both."""
    project = project_copy(tmp_path)
    settings = yaml.safe_load((project / "dbt_project.yml").read_text())
    recorded = {name: settings["vars"][name] for name in ("calendar", "rsi_window", "warmup_bars")}
    recorded |= {"label_horizon": 5}
    settings["vars"]["warmup_bars"] = 20
    (project / "dbt_project.yml").write_text(yaml.safe_dump(settings, sort_keys=False))

    passed, used = check_vars(recorded, project, {"rsi_window": 10})

    assert passed == {"label_horizon": 5, "rsi_window": 10}
    assert (used["label_horizon"], used["rsi_window"], used["warmup_bars"], used["calendar"]) == (5, 10, 20, "XNYS")


def test_a_check_that_cannot_run_says_why_in_one_line(sample_built, warehouse, tmp_path):
    cases = {
        "does not exist: run `alphaduck ingest` first": ["--db", tmp_path / "nothing.duckdb"],
        # ingested, never built
        "no marts.fct_features: run `alphaduck build` first": ["--db", warehouse],
        "has no bars for symbol AAPLL; did you mean AAPL?": ["--db", sample_built, "--symbol", "AAPLL"],
        "has no bars at bar size 1d (it has 30min)": ["--db", sample_built, "--bar-size", "1d"],
        "nothing to cut: no --at falls between the first and the last bar of AAPL 30min": [
            "--db", sample_built, "--symbol", "AAPL", "--at", "2001-01-01"],
        f"--project-dir {tmp_path}: no dbt_project.yml there": ["--db", sample_built, "--project-dir", tmp_path],
    }  # fmt: skip
    before = snapshot(warehouse)
    for message, args in cases.items():
        result = run_cli("lookahead", *args, "-q")
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert snapshot(warehouse) == before


def test_a_project_that_does_not_build_is_named(sample_built, tmp_path):
    """An intermediate model that does not compile: dbt only skips fct_features, which
    `alphaduck build` used to count as built; the check names the model and exits 2."""
    project = project_copy(tmp_path)
    broken = project / "dbt_project" / "models" / "intermediate" / "int_returns.sql"
    broken.write_text("{{ no_such_macro() }}\n" + broken.read_text())
    result = run_cli("lookahead", "--db", sample_built, "--project-dir", project, "--symbol", "SPY", "--cuts", "1",
                     "--starts", "1", "-q")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"the scratch build of {project} failed: model fct_features: skipped" in result.output
    assert "compilation error in referenced ephemeral model model.alphaduck.int_returns" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # dbt's own lines stay off the console


def test_the_scratch_holds_the_probed_series_their_copies_and_every_raw_table(sample_copy, tmp_path):
    """raw.bars keeps only the probed series plus each copy's bars; a symbol-keyed raw table
    (the real Dow 30 splits as raw.corporate_actions) is repeated under every copy's name,
    since a copy is the same instrument; the warehouse is only read."""
    loaded = run_cli("ingest", "actions", DOW30_SPLITS, "--db", sample_copy)
    assert loaded.exit_code == 0, loaded.output
    before = snapshot(sample_copy)
    con = duckdb.connect(str(sample_copy), read_only=True)
    stamps = con.execute("select ts from raw.bars where symbol = 'AAPL' order by ts").df()["ts"]
    con.close()
    aapl = Series("AAPL", "30min", pd.DatetimeIndex(stamps))
    cut, late = Probe(CUT, "AAPL", "30min", 40, aapl.ts[40]), Probe(START, "AAPL", "30min", 700, aapl.ts[700])
    scratch = tmp_path / "scratch.duckdb"

    written = copy_to_scratch(sample_copy, scratch, [aapl], [cut, late])

    n = len(aapl.ts)
    assert written == n + 41 + (n - 700)
    con = duckdb.connect(str(scratch), read_only=True)
    bars = dict(con.execute("select symbol, count(*) from raw.bars group by 1").fetchall())
    spans = con.execute("select symbol, min(ts), max(ts) from raw.bars group by 1 order by 1").fetchall()
    splits = con.execute("select symbol, count(*) from raw.corporate_actions where symbol like 'AAPL%' group by 1").fetchall()
    tables = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()}
    con.close()
    assert bars == {"AAPL": n, "AAPL~cut40": 41, "AAPL~from700": n - 700}
    assert spans == [("AAPL", aapl.ts[0], aapl.ts[-1]), ("AAPL~cut40", aapl.ts[0], aapl.ts[40]),
                     ("AAPL~from700", aapl.ts[700], aapl.ts[-1])]  # fmt: skip
    assert sorted(splits) == [("AAPL", 4), ("AAPL~cut40", 4), ("AAPL~from700", 4)]
    con = duckdb.connect(str(sample_copy), read_only=True)
    source_tables = {t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()}
    con.close()
    assert {"bars", "corporate_actions", "trading_sessions"} <= tables == source_tables
    assert snapshot(sample_copy) == before


# -- the pure parts ---------------------------------------------------------------------------------


def test_cuts_spread_from_the_first_bars_to_the_last():
    rng = np.random.default_rng(0)
    picks = stratified(1, 9_998, 4, rng, log=True)
    # one per decade of 1..10,000 bars: warm-up seeds are probed as well as settled values
    assert [len(str(p)) for p in picks] == [1, 2, 3, 4]
    assert stratified(1, 0, 5, rng, log=True) == [] and len(set(stratified(1, 3, 5, rng, log=True))) <= 3


def test_a_cut_at_a_timestamp_keeps_the_bars_up_to_it():
    ts = pd.date_range("2025-01-02 14:30", periods=10, freq="30min", tz="UTC")
    series = Series("X", "30min", ts)
    at = [pd.Timestamp("2025-01-02 16:10", tz="UTC"), pd.Timestamp("2025-01-02 14:00", tz="UTC"), ts[-1]]
    probes = plan_cuts(series, cuts=5, at=at, rng=np.random.default_rng(0))
    # 16:10 keeps the 16:00 bar; before the first bar and at the last one there is nothing to cut
    assert [(p.kind, p.seq, p.ts, p.name) for p in probes] == [(CUT, 3, ts[3], "X~cut3")]


def test_deviation_is_relative_and_a_null_on_one_side_is_infinite():
    a = pd.Series([100.0, 0.5, np.nan, np.nan, 3.0, np.inf])
    b = pd.Series([100.0 * (1 + 1e-10), 0.5 + 1e-12, np.nan, 1.0, np.nan, np.inf])
    assert deviation(a, b) == pytest.approx([1e-10, 1e-12, 0.0, np.inf, np.inf, 0.0], rel=1e-3)
    flags = deviation(pd.Series([True, False, None], dtype=object), pd.Series([True, True, None], dtype=object))
    assert list(flags) == [0.0, np.inf, 0.0]
