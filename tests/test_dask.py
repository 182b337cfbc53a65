"""Past one machine (README "Scaling out"), on Dask: training searches and fits on a local
Dask cluster, and a sweep scores its configurations there, as on this machine. (The Spark
build is tests/test_scale_out.py.)"""

from __future__ import annotations

import json
import shutil
import time

from tests.conftest import query, run_cli

TWO_SYMBOLS = ("--symbol", "SPY", "--symbol", "QQQ")
SEARCH = ("--skip-gate", "--n-iter", "2", "--n-splits", "2", *TWO_SYMBOLS)


def test_training_on_dask_searches_like_one_machine_and_fits_on_its_workers(sample_copy, tmp_path):
    # a copy: training registers its runs in the warehouse, and the session's sample_built is
    # what later tests take for a warehouse no model was trained on
    runs = {}
    for name, extra in (("local", ()), ("dask", ("--dask", "local"))):
        result = run_cli("train", *SEARCH, *extra, "--db", sample_copy, "--models", tmp_path / name, "-q")
        assert result.exit_code == 0, result.output
        (path,) = [p for p in (tmp_path / name).iterdir() if p.is_dir() and p.name != "latest"]
        runs[name] = json.loads((path / "metadata.json").read_text())
    local, dask = runs["local"], runs["dask"]
    # the same candidates on the same purged folds, scored to the same numbers on the workers
    assert dask["cv"]["fold_scores"] == local["cv"]["fold_scores"]
    searched = {k: v for k, v in local["parameters"].items() if k != "n_estimators"}
    assert {k: v for k, v in dask["parameters"].items() if k != "n_estimators"} == searched
    assert dask["dask"] == "local" and local["dask"] is None
    assert dask["features"] == local["features"] and dask["windows"] == local["windows"]
    # the data-parallel fit grew the searched number of trees (no early stopping on Dask)
    model = (tmp_path / "dask" / dask["run_id"] / "model.txt").read_text()
    assert model.count("\nTree=") == dask["parameters"]["n_estimators"]
    assert 0.0 <= dask["test_metrics"]["pooled"]["model"]["auc"] <= 1.0


def test_an_unreachable_dask_scheduler_is_one_line_at_once(sample_built, tmp_path):
    # a refused connection is known at once: not after the client's 10 s of retries
    started = time.perf_counter()
    result = run_cli("train", *SEARCH, "--dask", "127.0.0.1:9", "--db", sample_built, "--models", tmp_path)
    assert time.perf_counter() - started < 5
    assert result.exit_code != 0
    assert "--dask 127.0.0.1:9: no Dask scheduler answers there" in result.output
    assert "Traceback" not in result.output
    result = run_cli("train", *SEARCH, "--dask", "scheduler-without-port", "--db", sample_built, "--models", tmp_path)
    assert result.exit_code != 0 and "--dask scheduler-without-port: expected HOST:PORT" in result.output


def test_a_sweep_on_dask_scores_every_configuration_as_this_machine_does(sample_built, tmp_path):
    db, models = tmp_path / "sweep.duckdb", tmp_path / "models"
    shutil.copy(sample_built, db)
    assert run_cli("train", *SEARCH, "--db", db, "--models", models, "-q").exit_code == 0
    grid = ("--grid", "long_quantile=0.6,0.7,0.8", "--grid", "min_hold=1,4", "--grid", "cooldown=0", "--grid", "max_hold=none",
            "--grid", "sizing=fixed,confidence", "--grid", "flat_at_close=false")  # fmt: skip
    scored = {}
    for name, extra in (("here", ("--workers", "2")), ("dask", ("--dask", "local"))):
        result = run_cli("sweep", *grid, *extra, "--db", db, "--models", models, "--reports", tmp_path / name, "-q")
        assert result.exit_code == 0, result.output
        scored[name] = query(db, "select config_id, parameters, sharpe, total_return from backtest.sweeps "
                                 "where sweep_id = (select max(sweep_id) from backtest.sweeps) order by config_id")  # fmt: skip
    assert len(scored["here"]) == 12
    assert scored["dask"] == scored["here"]
