"""Past one machine (README "Scaling out"), on Spark: the same dbt project built on a local
Spark session equals the DuckDB build, and the Python stages read Spark's files where they
lie. (Dask is tests/test_dask.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from alphaduck.spark import built_table_dir, spark_dir
from tests.conftest import (ALPHADUCK, ROOT, SAMPLE_30MIN, bars_csv, build_steps, query, query_frame, run_cli,
                            snapshot)

KEYS = ["symbol", "bar_size", "ts"]
# relative tolerance of the Spark build; a value that is cancellation noise (an r-squared of
# 1e-28 on a flat window, a residual of 1e-16) is held to it against its column's scale
RTOL = 1e-9


# four symbols of the sample: the equality holds row by row and symbol by symbol (the
# cross-sectional ranks need more than one), and Spark's executors take a sixth of the time
SPARK_SYMBOLS = ("AAPL", "MSFT", "QQQ", "SPY")


@pytest.fixture(scope="module")
def spark_built(tmp_path_factory):
    """Four symbols of the sample built on DuckDB, then the same warehouse built on Spark by
    the real CLI in a process of its own (a Spark session's folders are fixed for its process)."""
    root = tmp_path_factory.mktemp("spark")
    db = root / "sample.duckdb"
    bars = bars_csv(SAMPLE_30MIN, root / "four.csv", symbols=list(SPARK_SYMBOLS))
    for args in (("ingest", "file", bars, "-q"), ("build", "-q")):
        result = run_cli(*args, "--db", db)
        assert result.exit_code == 0, result.output
    duckdb_features = query_frame(db, "select * from marts.fct_features order by symbol, bar_size, ts")
    started = time.perf_counter()
    done = subprocess.run([ALPHADUCK, "build", "--db", db, "--target", "spark"], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"spark build of {len(SPARK_SYMBOLS)} symbols of the sample: {time.perf_counter() - started:.1f} s")
    return db, duckdb_features, done.stdout + done.stderr


def _assert_frames_equal(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck)
    pd.testing.assert_frame_equal(spark[KEYS], duck[KEYS])
    wrong = {}
    for column in duck.columns:
        a, b = duck[column], spark[column]
        if pd.api.types.is_float_dtype(a):
            a, b = a.to_numpy(float), b.to_numpy(float)
            scale = np.nanmean(np.abs(a)) if np.isfinite(a).any() else 0.0
            close = np.isclose(b, a, rtol=RTOL, atol=RTOL * scale, equal_nan=True)
            if not close.all():
                wrong[column] = (int((~close).sum()), float(a[~close][0]), float(b[~close][0]))
        elif not a.equals(b):
            wrong[column] = "values differ"
    assert not wrong, wrong


def test_spark_builds_the_features_duckdb_builds(spark_built):
    db, duckdb_features, _ = spark_built
    spark_features = query_frame(db, "select * from marts.fct_features order by symbol, bar_size, ts")
    (bars,) = query(db, "select count(*) from raw.bars")[0]
    assert len(duckdb_features) == bars > 10_000 and len(duckdb_features.columns) > 200
    assert tuple(duckdb_features["symbol"].unique()) == SPARK_SYMBOLS
    _assert_frames_equal(duckdb_features, spark_features)
    # a warm-up flag is only as good as the recursion under it: the fold over the last bars
    # (Spark) and the recursive CTE (DuckDB) agree on every warm row's EMA, MACD, RSI, ATR and
    # ADX to 1e-10, a hundred times closer than the contract
    warm = duckdb_features["warmup_complete"].to_numpy(bool)
    assert warm.sum() > 8_000
    for column in ("ema", "macd_signal", "rsi", "atr", "adx"):
        np.testing.assert_allclose(spark_features[column][warm], duckdb_features[column][warm], rtol=1e-10)


def test_a_spark_build_shows_its_progress_not_the_jvms_log(spark_built):
    *_, output = spark_built
    lines = output.splitlines()
    steps = build_steps(output)
    assert steps and [done for done, _ in steps] == list(range(1, len(steps) + 1))
    assert {total for _, total in steps} == {len(steps)}
    assert "dbt build: 9 models, 35 tests passed" in output
    # Spark's JVM logs errors only: no WARN line per dbt node, no stage progress bars, and
    # not the metastore's stack trace for each schema that already exists
    assert not [line for line in lines if " WARN " in line or "[Stage " in line], output[-2000:]
    assert "AlreadyExistsException" not in output and not [line for line in lines if line.startswith("\tat ")]


def test_the_warehouse_reads_sparks_files_without_a_copy(spark_built):
    db, *_ = spark_built
    kinds = dict(query(db, "select table_name, table_type from information_schema.tables where table_schema = 'marts'"))
    assert kinds["fct_features"] == "VIEW" and kinds["feature_builds"] == "VIEW"
    (definition,) = query(db, "select sql from duckdb_views() where schema_name = 'marts' and view_name = 'fct_features'")[0]
    files = built_table_dir(db, "marts", "fct_features")
    assert str(files) in definition and any(files.glob("*.parquet"))
    assert files.is_relative_to(spark_dir(db)) and spark_dir(db) == db.with_name("sample.spark")
    # Spark ran every data test of the project too (the build's record is Spark's)
    (record,) = query(db, "select vars from marts.feature_builds")
    assert json.loads(record[0])["label_horizons"] == [1, 5, 20]


def test_training_prediction_and_backtests_run_on_sparks_features(spark_built, tmp_path):
    db, *_ = spark_built
    models = tmp_path / "models"
    symbols = [a for s in ("SPY", "AAPL") for a in ("--symbol", s)]
    for args in (("train", "--skip-gate", "--n-iter", "1", "--n-splits", "2", *symbols), ("predict",),
                 ("backtest", "--engine", "vector", "--no-report")):  # fmt: skip
        result = run_cli(*args, "--db", db, "--models", models, "-q")
        assert result.exit_code == 0, result.output
    (rows,) = query(db, "select count(*) from marts.fct_predictions")[0]
    assert rows > 0
    # still views: nothing was copied into the warehouse on the way
    assert query(db, "select table_type from information_schema.tables where table_name = 'fct_features'") == [("VIEW",)]


def test_a_spark_build_without_java_says_so_and_changes_nothing(sample_copy, tmp_path):
    before = snapshot(sample_copy)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"} | {"PATH": str(bin_dir)}
    done = subprocess.run([ALPHADUCK, "build", "--db", sample_copy, "--target", "spark"], capture_output=True,
                          text=True, env=env, cwd=ROOT)  # fmt: skip
    assert done.returncode != 0
    assert "needs Java 17+" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert snapshot(sample_copy) == before and not spark_dir(sample_copy).exists()


def test_a_duckdb_build_after_a_spark_build_writes_tables_again(spark_built, tmp_path):
    db = tmp_path / "again.duckdb"
    shutil.copy(spark_built[0], db)
    (records,) = query(db, "select count(*) from marts.feature_builds")[0]
    result = run_cli("build", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    kinds = dict(query(db, "select table_name, table_type from information_schema.tables where table_schema = 'marts'"))
    assert kinds["fct_features"] == kinds["feature_builds"] == "BASE TABLE"
    # the Spark build's record is kept, and this build's added to it
    assert query(db, "select count(*) from marts.feature_builds") == [(records + 1,)]
    _assert_frames_equal(spark_built[1], query_frame(db, "select * from marts.fct_features order by symbol, bar_size, ts"))
