"""Walk-forward figures (prints numbers; not a test).

The Dow 30 + SPY daily panel bundled in data/sample (31 symbols, 1999-2023, with its splits):
ingest, build, then `alphaduck train --walk-forward` with yearly steps (252 sessions) from
2010 and a 4-setting search, as `alphaduck run --preset dow30-daily` trains it. Prints the
seconds of every fold and the total beside the target (<= 180 s on 2 cores), then the
out-of-sample rank IC that `alphaduck analyze` measures.

    python benchmarks/walk_forward_bench.py [--first-test 2010-01-01] [--step 252] [--n-iter 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from click.testing import CliRunner  # noqa: E402

from alphaduck.cli import main as cli  # noqa: E402

TARGET_SECONDS = 180.0


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"alphaduck {' '.join(map(str, args))} failed:\n{result.output}")
    return result.output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-test", default="2010-01-01")
    parser.add_argument("--step", type=int, default=252)
    parser.add_argument("--n-iter", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, models = Path(tmp) / "dow.duckdb", Path(tmp) / "models"
        started = time.perf_counter()
        run("ingest", "sample", "--dataset", "dow30-daily", "--db", db, "-q")
        run("build", "--db", db, "-q")
        prepared = time.perf_counter() - started
        started = time.perf_counter()
        run("train", "--db", db, "--models", models, "--walk-forward", "--step", args.step, "--first-test", args.first_test,
            "--objective", "regression", "--label", "xs_rank", "--horizon", "1", "--n-iter", args.n_iter, "--n-splits", "3",
            "-q")  # fmt: skip
        walked = time.perf_counter() - started
        metadata = json.loads((models / "latest" / "metadata.json").read_text())
        folds = metadata["folds"]
        print(f"Dow 30 daily, ingest + build: {prepared:.1f} s")
        print(f"walk-forward, {len(folds)} yearly folds from {args.first_test}, --n-iter {args.n_iter} (searched once):")
        for fold in folds:
            print(f"  fold {fold['fold']:2d} test {fold['windows']['test'][0]}..{fold['windows']['test'][1]}: "
                  f"{fold['seconds']:5.1f} s, {fold['rounds']:4d} trees, {fold['rows']['train']:,} training rows, "
                  f"rank IC {fold['test_ic']:+.4f}")  # fmt: skip
        print(f"  total {walked:.1f} s (target <= {TARGET_SECONDS:.0f} s on 2 cores): "
              f"{'met' if walked <= TARGET_SECONDS else 'NOT met'}")
        print(run("analyze", "--db", db, "--prediction-run", metadata["run_id"]))


if __name__ == "__main__":
    main()
