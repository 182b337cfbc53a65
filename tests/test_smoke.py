"""The pipeline as a user runs it, each command in a process of its own (the installed
`alphaduck` executable), on the bundled sample in a scratch warehouse: `alphaduck run`
(ingest -> dbt build -> gate -> train -> predict -> backtest -> report), then every quality
suite (predictions included), then the look-ahead and warm-up check of the features it built.

It is a test among the others (not a step after pytest) so that it shares the two workers
with them; `make smoke` runs this file alone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from alphaduck.contracts import BACKTEST_RUNS, FEATURE_TABLE, PREDICTIONS
from tests.conftest import ALPHADUCK, query


def _alphaduck(*args: object, cwd: Path) -> str:
    done = subprocess.run([str(ALPHADUCK), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=900)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"alphaduck {' '.join(map(str, args))} exited {done.returncode}:\n{output[-4000:]}"
    return output


def test_run_then_every_suite_then_lookahead_on_the_sample(tmp_path):
    db, models, reports = tmp_path / "smoke.duckdb", tmp_path / "models", tmp_path / "reports"
    _alphaduck("run", "--db", db, "--ingest", "sample", "--n-iter", "2", "--n-splits", "2",
               "--param", "long_quantile=0.8", "--models", models, "--reports", reports, cwd=tmp_path)  # fmt: skip
    ((features, predictions, runs),) = query(
        db,
        f"select (select count(*) from {FEATURE_TABLE}), (select count(*) from {PREDICTIONS}), "
        f"(select count(*) from {BACKTEST_RUNS})",
    )
    assert features > 50_000 and predictions > 0 and runs == 1
    assert list(reports.rglob("*.html")), f"no HTML report under {reports}"

    _alphaduck("check", "--db", db, "--suite", "all", "--docs", reports / "data_docs", "-q", cwd=tmp_path)
    assert (reports / "data_docs" / "index.html").exists()

    output = _alphaduck("lookahead", "--db", db, cwd=tmp_path)
    assert "lookahead: no finding" in output, output
