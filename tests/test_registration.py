"""No half-done registrations (issue 13.6): a `train` that cannot record its run moves
nothing, and `predict` scores only with models its warehouse recorded."""

from __future__ import annotations

import os
import shutil

import duckdb

from tests.conftest import run_cli, snapshot
from tests.test_locking import reading


def _registry(models) -> tuple[set[str], str]:
    return {p.name for p in models.iterdir()}, os.readlink(models / "latest")


def test_a_train_that_cannot_record_its_run_leaves_the_registry_as_it_was(predicted, tmp_path):
    """A notebook holds the warehouse read-only: train reads and fits, then cannot write
    ml.train_runs; the line names the holder, `latest` still names the old run, no new run
    directory is left and the warehouse is unchanged."""
    db, models, _ = predicted
    copy, registry = tmp_path / "w.duckdb", tmp_path / "models"
    shutil.copy(db, copy)
    shutil.copytree(models, registry, symlinks=True)
    before, warehouse_before = _registry(registry), snapshot(copy)
    with reading(copy) as holder:
        result = run_cli("train", "--db", copy, "--models", registry, "--skip-gate", "--symbol", "SPY",
                         "--n-iter", "1", "--n-splits", "2", "-q", env={"ALPHADUCK_LOCK_WAIT": "0"})  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"Error: warehouse {copy} is locked by process {holder.pid} (python -c import duckdb")
    assert _registry(registry) == before
    assert snapshot(copy) == warehouse_before
    assert not list(registry.glob(".*")) and not list(tmp_path.glob("*.writer-waiting.*"))  # no temp dir left


def test_predict_refuses_a_model_its_warehouse_did_not_record(predicted, tmp_path):
    """The model directory is genuine and made from this very warehouse's data (a copy of it
    shares its identity), but this warehouse's ml.train_runs never recorded the run: refused."""
    db, models, _ = predicted
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    run = os.readlink(models / "latest")
    con = duckdb.connect(str(copy))
    con.execute("delete from ml.train_runs where run_id = ?", [run])
    con.close()
    before = snapshot(copy)
    result = run_cli("predict", "--db", copy, "--models", models, "-q")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"Error: model {run} is not in this warehouse's ml.train_runs (its training did not finish recording, or the "
        "registry belongs to another warehouse): train one here with `alphaduck train`"
    )
    assert snapshot(copy) == before
