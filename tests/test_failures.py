"""Every command over the bad states a user meets (issue 13.5, 19.4): a non-zero exit, one
line naming the problem, no traceback, the warehouse as it was and nothing left behind.

The walk runs in-process (CliRunner) and with -q where a command has it, so the only output
is what the user must read; the traceback path and `python -m ml.train` run as real processes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import click
import duckdb
import pytest

from alphaduck.cli import OWN_LOGGERS, main
from tests.conftest import (
    DOW30_MEMBERSHIP,
    DOW30_SPLITS,
    PYTHON,
    ROOT,
    query,
    run_cli,
    sample_lines,
    snapshot,
)


def _files(root) -> dict[str, str]:
    """Every file under ``root`` with its content hash: equal means nothing written or left behind."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _walk(tmp_path, csv) -> dict[str, list[str]]:
    """Each command (as `alphaduck --help` lists them, groups opened) with the arguments that
    make it read the warehouse; --db comes last."""
    models, reports = tmp_path / "models", tmp_path / "reports"
    return {
        "ingest file": ["ingest", "file", csv, "--bar-size", "30min", "-q"],
        "ingest sample": ["ingest", "sample", "--dataset", "spy-daily", "-q"],
        "ingest actions": ["ingest", "actions", DOW30_SPLITS, "-q"],
        "ingest universe": ["ingest", "universe", DOW30_MEMBERSHIP, "--name", "dow30", "-q"],
        "ingest ibkr": ["ingest", "ibkr", "SPY", "--port", "9", "--connect-timeout", "1", "-q"],
        "build": ["build", "-q"],
        "lookahead": ["lookahead", "-q"],
        "sql": ["sql", "select count(*) from marts.fct_features"],
        "check": ["check", "--suite", "features", "--docs", reports / "docs", "-q"],
        "train": ["train", "--skip-gate", "--models", models, "-q"],
        "predict": ["predict", "--models", models, "--csv", reports / "p.csv", "-q"],
        "models list": ["models", "list", "--models", models],
        "models show": ["models", "show", "latest", "--models", models],
        "analyze": ["analyze", "-q"],
        "backtest": ["backtest", "--models", models, "--reports", reports, "-q"],
        "sweep": ["sweep", "--models", models, "--reports", reports, "-q"],
        "run": ["run", "--models", models, "--reports", reports],
        "dashboard": ["dashboard", "--port", "99999"],  # never serves: the walk must not block
    }


def _commands(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def test_the_walk_covers_every_command(tmp_path):
    assert set(_walk(tmp_path, "x.csv")) == set(_commands(main, click.Context(main)))


def assert_one_line_failure(result, *, exit_code: int | None = None) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    return lines[0]


def _bad_db(kind: str, loaded_warehouse, path):
    if kind == "empty":
        path.write_bytes(b"")
    else:  # truncated: the first half of a real warehouse (as after a full disk or a cut copy)
        data = loaded_warehouse.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_every_command_refuses_a_broken_warehouse_file_in_one_line(
    kind, loaded_warehouse, tmp_path, monkeypatch
):
    """Before: a truncated file crashed ingest, build, check and train with a 30-line traceback."""
    monkeypatch.chdir(tmp_path)  # whatever a command writes by default lands here, and is checked
    csv = tmp_path / "in" / "bars.csv"
    csv.parent.mkdir()
    csv.write_text("\n".join(sample_lines(3)) + "\n")
    (tmp_path / "wh").mkdir()
    db = _bad_db(kind, loaded_warehouse, tmp_path / "wh" / "w.duckdb")
    before = _files(tmp_path)
    for name, args in _walk(tmp_path, csv).items():
        if name in ("models list", "models show", "dashboard"):
            continue  # they take no --db / never open it before serving
        result = run_cli(*args, "--db", db)
        if name == "run":  # its step table reports the failed step, with the one-line reason
            assert result.exit_code != 0 and "Traceback" not in result.output, result.output
            assert sum("w.duckdb" in line for line in result.output.splitlines()) == 1, result.output
            assert _files(tmp_path) == before, name
            continue
        line = assert_one_line_failure(result)
        # names the warehouse file, or what it lacks (half a file still has its catalog), or the
        # earlier problem the command stops at (no model yet, no IB gateway on port 9)
        expected = {"predict": "no models", "sweep": "no models", "ingest ibkr": "127.0.0.1:9"}.get(
            name, "w.duckdb"
        )
        assert expected in line or (kind == "truncated" and "does not exist" in line), (name, line)
        assert _files(tmp_path) == before, name


# commands for which an ingested but not yet built warehouse is a valid start
BUILDS_OR_INGESTS = ("ingest file", "ingest sample", "ingest actions", "ingest universe", "ingest ibkr", "build", "run", "models list",
                     "models show", "dashboard")  # fmt: skip


def test_every_command_on_an_unbuilt_warehouse_says_build_first(warehouse, tmp_path, monkeypatch):
    """Before: `train` crashed with a DuckDB CatalogException traceback and `check --suite
    features` with an executemany InvalidInputException traceback."""
    monkeypatch.chdir(tmp_path)
    before = snapshot(warehouse)
    for name, args in _walk(tmp_path, "unused.csv").items():
        if name in BUILDS_OR_INGESTS:
            continue
        result = run_cli(*args, "--db", warehouse)
        assert result.exit_code != 0 and "Traceback" not in result.output, (name, result.output)
        if name == "check":  # the gate reports (and records in ml.gate_runs) the suite it could not run
            assert result.exit_code == 1
            assert "features: cannot run: no marts.fct_features" in result.output
            after = snapshot(warehouse)
            assert {t: v for t, v in after.items() if not t.startswith("ml.gate_")} == before
            before = after
            continue
        line = assert_one_line_failure(result)
        if name == "sql":  # the user's own query: DuckDB's message, with its "did you mean"
            assert "Table with name fct_features does not exist" in line
        else:
            assert "build" in line or "train" in line, (name, line)  # names the step to run first
        assert snapshot(warehouse) == before, name
    # nothing partial: no model directory, no CSV, no report (only the gate's Data Docs of its run)
    assert not (tmp_path / "models").exists()
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["docs"]


def test_every_command_refuses_an_older_schema_in_one_line_and_build_leaves_it_alone(warehouse, tmp_path, monkeypatch):
    """raw.bars without its volume column (a warehouse from another version, or altered by
    hand). Before: `build` created its stage tables in it, then dbt failed on several lines;
    ingest and check crashed with a BinderException traceback."""
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect(str(warehouse))
    con.execute("alter table raw.bars drop column volume")
    con.close()
    csv = tmp_path / "bars.csv"
    csv.write_text("\n".join(sample_lines(3)) + "\n")
    before = snapshot(warehouse)
    for name, args in _walk(tmp_path, csv).items():
        if name in ("models list", "models show", "dashboard", "ingest ibkr", "ingest actions", "ingest universe"):
            continue  # no --db, or they stop before the bars (IB gateway; the actions and universe tables are intact)
        result = run_cli(*args, "--db", warehouse)
        if name in ("check", "run"):  # reports: the failed suite / step, with its one-line reason
            assert result.exit_code != 0 and "Traceback" not in result.output, result.output
            assert "volume" in result.output or "cannot run" in result.output, (name, result.output)
        else:
            line = assert_one_line_failure(result)
            if name == "build":
                assert "raw.bars has no column volume (an older or altered schema)" in line
            if name.startswith("ingest"):
                assert "lacks a column" in line and "volume" in line, line
        # unchanged, but for the gate's record of its own run
        assert {t: v for t, v in snapshot(warehouse).items() if not t.startswith("ml.gate_")} == before, name


BAD_OPTIONS = {
    "start 2026-13-01": [
        (
            ["ingest", "ibkr", "SPY", "--port", "9", "--start", "2026-13-01"],
            "'--start': cannot parse '2026-13-01'",
        ),
        (["predict", "--start", "2026-13-01"], "'--start': cannot parse '2026-13-01'"),
        (["backtest", "--start", "2026-13-01"], "'--start': cannot parse '2026-13-01'"),
        (["run", "--start-date", "2026-13-01"], "'--start-date': cannot parse '2026-13-01'"),
    ],
    "a timestamp in 2299": [
        (["predict", "--end", "2299-01-01"], "'--end': 2299-01-01 is out of range"),
        (["backtest", "--end", "2299-01-01"], "'--end': 2299-01-01 is out of range"),
        (["run", "--end-date", "2299-01-01"], "'--end-date': 2299-01-01 is out of range"),
    ],
    "a value that does not parse": [
        (["backtest", "--param", "long_threshold=abc"], "--param: long_threshold='abc': 'abc' is not a number"),
        (["backtest", "--param", "flat_at_close=maybe"], "--param: flat_at_close='maybe': 'maybe' is not true or false"),
        (["sweep", "--grid", "long_quantile=0.7,x"], "--grid: long_quantile='x': 'x' is not a number (or none)"),
        (["sweep", "--param", "min_hold=x"], "--param: min_hold='x': 'x' is not a whole number"),
        (["run", "--param", "max_hold=x"], "--param: max_hold='x': 'x' is not a whole number (or none)"),
        (["build", "--var", "label_horizon"], "--var: 'label_horizon': expected NAME=VALUE"),
        (["check", "--threshold", "max_ks=abc"], "--threshold max_ks='abc': 'abc' is not a float"),
    ],
    "port 99999": [
        (["dashboard", "--port", "99999"], "'--port': 99999 is not in the range"),
        (["ingest", "ibkr", "SPY", "--port", "99999"], "'--port': 99999 is not in the range"),
        (["run", "--ingest", "ibkr", "--port", "99999"], "'--port': 99999 is not in the range"),
    ],
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_an_option_that_does_not_parse_is_one_line_naming_it(case, warehouse):
    """Before: `dashboard --port 99999` printed its banner then an AssertionError traceback from
    werkzeug; backtest/predict accepted --start 2026-13-01; click printed usage on four lines;
    `--param long_threshold=abc` said "could not convert string to float: 'abc'" (which
    parameter?) and `--param flat_at_close=maybe` was silently false."""
    before = snapshot(warehouse)
    for args, expected in BAD_OPTIONS[case]:
        result = run_cli(*args, "--db", warehouse)
        line = assert_one_line_failure(result, exit_code=2)
        assert expected in line, (args, line)
    assert snapshot(warehouse) == before


def test_python_m_ml_train_is_one_line_too(warehouse):
    """`python -m ml.train` has no root group: it gets the same one-line errors."""
    before = snapshot(warehouse)
    env = {**os.environ, "ALPHADUCK_DB": str(warehouse)}
    env.pop("ALPHADUCK_DEBUG", None)
    proc = subprocess.run([PYTHON, "-m", "ml.train", "--skip-gate", "-q"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("Error: "), proc.stderr
    assert "run `alphaduck build`" in proc.stderr
    assert snapshot(warehouse) == before


def test_an_unexpected_failure_is_one_line_and_minus_v_shows_the_traceback_and_our_log(
    loaded_warehouse, tmp_path
):
    """A damaged warehouse: one line without -v; with -v the traceback and alphaduck's own log
    lines, and no library's INFO lines (before, -v set the root logger to INFO: GX alone
    logged ~200 lines)."""
    db = _bad_db("truncated", loaded_warehouse, tmp_path / "w.duckdb")
    args = ["ingest", "sample", "--dataset", "spy-daily", "--db", str(db), "-q"]
    quiet = run_cli(*args)
    line = assert_one_line_failure(quiet)
    assert "damaged or truncated" in line
    proc = subprocess.run([PYTHON, "-m", "alphaduck", "-v", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == quiet.exit_code
    assert "Traceback (most recent call last)" in proc.stderr
    assert "INFO alphaduck: IOException turned into: warehouse" in proc.stderr  # our own log line
    loggers = {
        line.split()[1].rstrip(":")
        for line in proc.stderr.splitlines()
        if line.startswith(("INFO ", "DEBUG "))
    }
    assert {n.split(".")[0] for n in loggers} <= set(OWN_LOGGERS), loggers
    assert proc.stderr.rstrip().splitlines()[-1] == line


def test_one_line_strips_ansi_and_newlines():
    from alphaduck.errors import AlphaduckError, ChecksFailedError

    for error in (AlphaduckError, ChecksFailedError):
        assert (
            error("\x1b[31mCompilation Error\x1b[0m in\n  model x").message == "Compilation Error in model x"
        )


def test_the_ci_gate_example_runs_alphaduck_check():
    workflow = ROOT / ".github" / "workflows" / "alphaduck-gate.yml"
    import yaml

    steps = [
        s.get("run", "")
        for job in yaml.safe_load(workflow.read_text())["jobs"].values()
        for s in job["steps"]
    ]
    assert any("alphaduck check" in s for s in steps)
    assert ".github/workflows/alphaduck-gate.yml" in (ROOT / "README.md").read_text()


UNWRITABLE_OUTPUTS = [
    (["train", "--skip-gate", "--symbol", "SPY", "--n-iter", "1", "--n-splits", "2", "--models", "{out}"], "--models"),
    (["predict", "--models", "{models}", "--csv", "{out}/p.csv"], "--csv"),
    (["backtest", "--models", "{models}", "--engine", "vector", "--reports", "{out}"], "--reports"),
    (["sweep", "--models", "{models}", "--grid", "min_hold=1,2", "--reports", "{out}"], "--reports"),
    (["check", "--suite", "raw", "--docs", "{out}"], "--docs"),
    (["run", "--skip", "ingest", "--models", "{models}", "--reports", "{out}"], "--reports"),
]


@pytest.mark.parametrize("kind", ["kernel filesystem", "under a file"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(kind, predicted, tmp_path):
    """Before: predict upserted its rows and then died writing --csv, backtest recorded its
    trial and then died writing the report: the warehouse changed for a failed command.
    /sys refuses new files to root as well (a chmod'ed folder would not: tests may run as root);
    a path under a regular file is refused everywhere. No tmpfs "full disk" here: mounting one
    needs root."""
    db, models, _ = predicted
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    if kind == "kernel filesystem":
        out = Path("/sys/alphaduck-cannot-write-here")
    else:
        (tmp_path / "a-file").write_text("")
        out = tmp_path / "a-file" / "out"
    before, registry = snapshot(copy), sorted(p.name for p in models.iterdir())
    for args, option in UNWRITABLE_OUTPUTS:
        args = [a.format(out=out, models=models) for a in args]
        result = run_cli(*args, "--db", copy, *(["-q"] if args[0] != "run" else []))  # run has no -q
        line = assert_one_line_failure(result, exit_code=2)
        assert line.startswith(f"Error: {option} {out}"), (args[0], line)
    assert snapshot(copy) == before  # no command changed it (one snapshot: hashing the sample takes a while)
    assert sorted(p.name for p in models.iterdir()) == registry


def test_a_full_disk_is_one_line_and_leaves_no_result(predicted, tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does (and needs no root). Before:
    `unexpected OSError` after predict had committed its rows; now the CSV is written inside the
    transaction, so the failure rolls the rows back, and the line says the disk is full. A
    backtest whose report lands on a full disk records no run (its trial stays in the ledger:
    it was tried, and a re-run is the same trial)."""
    db, models, _ = predicted
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    assert Path("/dev/full").exists(), "this test needs Linux's /dev/full (a device that is always full)"
    count = "select count(*), max(created_at) from ml.predictions"
    before = query(copy, count)
    assert query(copy, "select table_name from duckdb_tables() where schema_name = 'backtest'") == []
    result = run_cli("predict", "--models", models, "--csv", "/dev/full", "--db", copy, "-q")
    line = assert_one_line_failure(result, exit_code=2)
    assert "no space left on the device" in line, line
    assert query(copy, count) == before
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "full.html").symlink_to("/dev/full")
    result = run_cli("backtest", "--models", models, "--engine", "vector", "--reports", reports, "--run-id", "full",
                     "--db", copy, "-q")  # fmt: skip
    assert "no space left on the device" in assert_one_line_failure(result, exit_code=2)
    tables = "select table_name from duckdb_tables() where schema_name = 'backtest' order by 1"
    assert query(copy, tables) == []  # no backtest table came into being, let alone a run


def test_a_failing_build_without_a_terminal_logs_plain_lines_and_honours_no_color(warehouse, tmp_path):
    """One real `dbt build` shows three things. In CI (stderr not a terminal) the rich bar
    shows nothing: before, a 16-minute demo printed nothing; now each dbt node finishing is a
    line. dbt colours its failure lines (ESC[31m) whatever NO_COLOR says: before, they came
    through; now NO_COLOR reaches dbt. The warehouse sits in o'brien/ (issue 13.4: a quote in
    --db works through dbt and the dashboard too)."""
    from dashboard import queries

    folder = tmp_path / "o'brien"
    folder.mkdir()
    db = folder / "wh.duckdb"
    shutil.move(warehouse, db)
    con = duckdb.connect(str(db))
    con.execute("update raw.bars set low = 0, close = 0 where ts = (select max(ts) from raw.bars)")
    con.close()
    result = run_cli("build", "--db", db, "--select", "stg_bars", env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    assert "Failure in test positive_price_stg_bars " in result.output  # dbt's own line...
    assert "\x1b[" not in result.output  # ...without colour codes
    # our summary, naming the row's first bad price
    assert "  test positive_price_stg_bars: fail: Got 1 result, configured to fail if != 0 (low: 1 row)" in result.output
    steps = [line for line in result.output.splitlines() if line.startswith("dbt build: ") and "/" in line.split()[2]]
    assert steps[0].startswith("dbt build: 1/") and any(line.endswith(" stg_bars") for line in steps), result.output
    done, total = steps[-1].split()[2].split("/")
    assert done == total and len(steps) == int(total)
    with queries.reader(db) as con:
        assert con.execute("select count(*) from staging.stg_bars").fetchone()[0] == 5_885
    assert sorted(p.name for p in folder.iterdir()) == ["wh.duckdb"]  # dbt wrote nothing beside it


def test_the_plain_ticker_logs_now_and_then_and_at_the_end(capsys):
    from alphaduck.progress import PlainTicker

    every_time, seldom = PlainTicker("sweep", "configurations", every=0), PlainTicker("sweep", "configurations", every=3600)
    for _ in range(3):
        every_time.tick()
        seldom.tick()
    seldom.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"sweep: {n} configurations" for n in (1, 2, 3, 3)]
