"""The bundled sample's features built by DuckDB and by Spark (prints numbers; not a test).

Ingests the 24-symbol 30-minute sample into a fresh warehouse, then runs `alphaduck build
--full-refresh` (DuckDB) and `alphaduck build --target spark` (a local Spark session), each in
its own process, and prints wall time and peak memory of each: the resident memory of the
build's whole process tree (Spark's JVM is a child of the Python process), sampled every
0.2 s. Then it checks that the two feature tables agree (every float column to 1e-9 relative,
as tests/test_scale_out.py asserts on 4 of the symbols).

    python benchmarks/spark_bench.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
ALPHADUCK = Path(sys.executable).with_name("alphaduck")


def measured(args: list[str]) -> tuple[float, float]:
    """Run ``args``; its wall seconds and the peak RSS of its process tree in GB."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{child.stderr.read()[-2000:]}")
    return time.perf_counter() - started, peak / 1e9


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sample.duckdb"
        subprocess.run([ALPHADUCK, "ingest", "sample", "--db", db, "-q"], check=True)
        duck_s, duck_gb = measured([str(ALPHADUCK), "build", "--db", str(db), "--full-refresh", "-q"])
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        duck = con.execute("select * from marts.fct_features order by symbol, bar_size, ts").df()
        con.close()
        spark_s, spark_gb = measured([str(ALPHADUCK), "build", "--db", str(db), "--target", "spark", "-q"])
        con = duckdb.connect(str(db), read_only=True)
        spark = con.execute("select * from marts.fct_features order by symbol, bar_size, ts").df()
        con.close()
    floats = [c for c in duck.columns if duck[c].dtype.kind == "f"]
    # the test's criterion (numpy's isclose, rtol 1e-9, atol 1e-9 x the column's mean |x|):
    # |spark - duckdb| <= 1e-9 (|duckdb| + scale), i.e. this ratio <= 1e-9
    worst = max(
        float(((spark[c] - duck[c]).abs() / (duck[c].abs() + duck[c].abs().mean())).max())
        for c in floats
    )
    print(f"features of the bundled sample ({len(duck):,} bars, {duck['symbol'].nunique()} symbols, "
          f"{len(duck.columns)} columns), full build with its data tests:")
    print(f"{'engine':<8} {'wall':>8} {'peak memory':>12}")
    print(f"{'duckdb':<8} {duck_s:>7.1f}s {duck_gb:>10.2f} GB")
    print(f"{'spark':<8} {spark_s:>7.1f}s {spark_gb:>10.2f} GB   (local[2], driver memory 4g: the JVM included)")
    print(f"largest difference over {len(floats)} float columns: {worst:.2e} (|difference| / (|x| + the "
          f"column's mean |x|); target <= 1e-9: {'met' if worst <= 1e-9 else 'NOT met'})")


if __name__ == "__main__":
    main()
