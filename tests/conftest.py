"""Shared fixtures: real sample data, real DuckDB files, the real CLI."""

from __future__ import annotations

import atexit
import contextlib
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from alphaduck.cli import main
from alphaduck.warehouse import connect

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_30MIN = ROOT / "data" / "sample" / "us24_30min_rth_2025-05_2026-03.csv.gz"
SAMPLE_DAILY = ROOT / "data" / "sample" / "spy_daily_1999-11_2023-03.csv.gz"
SAMPLE_ETH = ROOT / "data" / "sample" / "spy_15min_eth_2022-10_2022-11.csv.gz"

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# a locked warehouse fails at once in tests; tests/test_locking.py sets a wait where it tests one
os.environ.setdefault("ALPHADUCK_LOCK_WAIT", "0")
# each pytest-xdist worker keeps the dbt artifacts of its builds to itself
# (settings.dbt_artifacts_dir): two builds writing the repo's target/manifest.json at once
# could hand a reader (a selector's "did you mean", a model's manifest hash) half a file
_DBT_ARTIFACTS = Path(tempfile.mkdtemp(prefix="alphaduck-dbt-"))
atexit.register(shutil.rmtree, _DBT_ARTIFACTS, ignore_errors=True)
os.environ.setdefault("DBT_TARGET_PATH", str(_DBT_ARTIFACTS / "target"))
os.environ.setdefault("DBT_LOG_PATH", str(_DBT_ARTIFACTS / "logs"))


# `make test` hands whole files to two workers (--dist loadfile) in the order collected
# (--no-loadscope-reorder: xdist would order them by their number of tests, which put the
# one-test 70 s smoke run last, with the other worker idle meanwhile): the longest files go
# first, the short ones fill in at the end. Worker seconds per file, measured with -n 2.
LONGEST_FIRST = (
    "test_scale_out.py",  # 120
    "test_features.py",  # 120
    "test_smoke.py",  # 59
    "test_backtest.py",  # 55
    "test_adjustment.py",  # 44
    "test_research.py",  # 36
    "test_build.py",  # 30
    "test_dask.py",  # 29
    "test_ml.py",  # 28
    "test_dbt_conventions.py",  # 27
    "test_quality.py",  # 24
    "test_lookahead.py",  # 23
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


def run_cli(*args: str, env: dict | None = None):
    """Run `alphaduck ARGS...` in-process, the way a shell would (exit code, stdout+stderr)."""
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def snapshot(db: Path) -> dict | None:
    """Row count and content hash of every raw table: equal snapshots mean an unchanged warehouse."""
    if not Path(db).exists():
        return None
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_schema || '.' || table_name from information_schema.tables order by 1"
            ).fetchall()
        ]
        return {
            t: con.execute(f"select count(*), sum(hash(columns(*))) from {t}").fetchall()[0] for t in tables
        }
    finally:
        con.close()


def build_steps(output: str) -> list[tuple[int, int]]:
    """(done, total) of each progress line `alphaduck build` printed without a terminal."""
    words = [line.split() for line in output.splitlines() if line.startswith("dbt build: ")]
    return [tuple(int(n) for n in w[2].split("/")) for w in words if len(w) > 2 and "/" in w[2]]


def sample_lines(n: int, symbol: str = "SPY") -> list[str]:
    """The header and the first ``n`` rows of one symbol from the 30-minute sample (real bars)."""
    with gzip.open(SAMPLE_30MIN, "rt") as fh:
        header = next(fh).rstrip("\n")
        rows = [line.rstrip("\n") for line in fh if f",{symbol}," in line]
    return [header, *rows[:n]]


@pytest.fixture(scope="session")
def loaded_warehouse(tmp_path_factory) -> Path:
    """A warehouse with the SPY daily sample in it, built once through the real CLI."""
    db = tmp_path_factory.mktemp("wh") / "base.duckdb"
    result = run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def warehouse(loaded_warehouse: Path, tmp_path: Path) -> Path:
    """A private copy of the loaded warehouse for one test."""
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(loaded_warehouse, db)
    return db


PYTHON = sys.executable

DBT = Path(sys.executable).with_name("dbt")
ALPHADUCK = Path(sys.executable).with_name("alphaduck")  # the installed executable, for a process of its own


# a data build in a test skips dbt's unit tests (half of a small build's time): they check the
# SQL's logic on fixtures whatever the warehouse holds, and tests/test_dbt_conventions.py runs them
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def run_dbt(*args: str, db: Path, target: Path | None = None, project: Path = ROOT,
            real_cli: bool = False) -> subprocess.CompletedProcess:  # fmt: skip
    """`dbt ARGS...` on warehouse ``db`` in ``project`` (the repo's by default): dbt's own CLI,
    run in this process (dbtRunner, its console in .stdout, its exit code in .returncode)
    with the project parsed once per process (alphaduck.build.parsed_manifest; a process
    that starts `dbt` spends ~12 s importing and parsing before it builds anything), or the
    `dbt` executable in a process of its own with ``real_cli``."""
    import io

    import yaml
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

    from alphaduck.build import dbt_on, parsed_manifest

    target = target or Path(db).with_suffix(".target")
    logs = target / "logs"
    paths = ["--project-dir", str(project), "--profiles-dir", str(project)]
    paths += ["--target-path", str(target), "--log-path", str(logs)]
    if real_cli:
        env = {**os.environ, "ALPHADUCK_DB": str(db), "DO_NOT_TRACK": "1"}
        return subprocess.run([str(DBT), *args, *paths], cwd=project, env=env, capture_output=True, text=True)
    passed_vars = yaml.safe_load(args[args.index("--vars") + 1]) if "--vars" in args else {}
    console = io.StringIO()
    with dbt_on(Path(db)):
        manifest = None if args[0] == "parse" else parsed_manifest(project, project, Path(db), passed_vars, target, logs)
        capture_stdout_logs(console)
        try:
            result = dbtRunner(manifest=manifest).invoke([*args, *paths])
        finally:
            stop_capture_stdout_logs()
    output = console.getvalue() + (f"\nEncountered an error:\n{result.exception}\n" if result.exception else "")
    code = 0 if result.success else 2 if result.exception is not None else 1  # dbt's own exit codes
    return subprocess.CompletedProcess(["dbt", *args], code, output, "")


def project_copy(tmp_path: Path) -> Path:
    """A copy of the repo's dbt project (what a user edits when adding a model or a column)."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "dbt_project", root / "dbt_project")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(ROOT / name, root / name)
    return root


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory) -> Path:
    """The 24-symbol 30-minute sample, ingested and built (`alphaduck build`) once."""
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    for args in (("ingest", "sample", "-q"), ("build", "-q")):
        result = run_cli(*args, "--db", db)
        assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def sample_copy(sample_built: Path, tmp_path: Path) -> Path:
    """A private copy of the built sample for one test to change."""
    db = tmp_path / "sample.duckdb"
    shutil.copy(sample_built, db)
    return db


@contextlib.contextmanager
def locked(db: Path):
    """Another process holding the warehouse open for writing; yields its pid."""
    holder = subprocess.Popen(
        [PYTHON, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="session")
def predicted(sample_built, tmp_path_factory):
    """Four symbols of the sample trained (fast), predicted; a warehouse to backtest on."""
    root = tmp_path_factory.mktemp("predicted")
    db, models = root / "predicted.duckdb", root / "models"
    shutil.copy(sample_built, db)
    symbols = [a for s in ("SPY", "QQQ", "AAPL", "MSFT") for a in ("--symbol", s)]
    for args in (("train", "--skip-gate", "--n-iter", "2", "--n-splits", "2", *symbols), ("predict",)):
        result = run_cli(*args, "--db", db, "--models", models, "-q")
        assert result.exit_code == 0, result.output
    return db, models, root


# -- real-data panels built by the tests ---------------------------------------------------------------

DOW30_DAILY = ROOT / "data" / "sample" / "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"
DOW30_SPLITS = ROOT / "data" / "sample" / "dow30_splits_1999-11_2023-03.csv"
DOW30_MEMBERSHIP = ROOT / "data" / "sample" / "dow30_membership_1999-11_2023-03.csv"


def dow30_csv(path: Path, *, start: str = "1999-01-01", end: str = "2100-01-01", symbols: list[str] | None = None) -> Path:
    """The real Dow 30 + SPY daily bars (raw, unadjusted) of sessions in [start, end] (of
    ``symbols``, default all), as a CSV `alphaduck ingest file` reads. The panel is
    unbalanced: DOW starts 2019-03-20."""
    return bars_csv(DOW30_DAILY, path, start=start, end=end, symbols=symbols)


def bars_csv(source: Path, path: Path, *, start: str = "1999-01-01", end: str = "2100-01-01",
             symbols: list[str] | None = None) -> Path:  # fmt: skip
    """The rows of a bundled bar file (timestamps kept as written) of ``symbols`` (default all)
    whose ts falls in [start, end], as a CSV `alphaduck ingest file` reads."""
    only = f" and symbol in ({', '.join(repr(s) for s in symbols)})" if symbols else ""
    con = duckdb.connect()
    con.execute(
        f"copy (select * from read_csv('{source}', all_varchar = true) "
        f"where left(ts, 10) between '{start}' and '{end[:10]}'{only} order by symbol, ts) to '{path}' (header)"
    )
    con.close()
    return path


def eth_minute_csv(path: Path, *, sessions: int = 4, seed: int = 3, symbol: str = "SPY") -> Path:
    """A 1-minute all-hours series (04:00-20:00 New York, 960 bars a session) on real NYSE
    sessions from 2025-05-12 on: a seeded random walk in whole cents from SPY's real
    2025-05-09 close, so flat minutes (exact-zero returns) are as common as in real
    extended-hours tape. Written with UTC offsets, as `alphaduck ingest file` reads it."""
    import numpy as np
    import pandas as pd

    from alphaduck.calendars import trading_sessions

    rng = np.random.default_rng(seed)
    days = trading_sessions("XNYS", pd.Timestamp("2025-05-12").date(), pd.Timestamp("2025-07-31").date())
    days = days[~days["is_early_close"]].head(sessions)
    frames, price = [], 564.34
    for day in days["session_date"]:
        stamps = pd.date_range(f"{day} 04:00", f"{day} 19:59", freq="1min", tz="America/New_York")
        regular = (stamps.hour * 60 + stamps.minute >= 570) & (stamps.hour < 16)
        scale = np.where(regular, 0.00045, 0.00012)
        closes = np.round(price * np.exp(np.cumsum(rng.normal(0, scale))), 2)
        opens = np.round(np.concatenate([[price], closes[:-1]]) + rng.choice([0, 0, 0.01, -0.01], len(closes)), 2)
        spread = np.round(np.abs(rng.normal(0, scale * price)), 2)
        frames.append(pd.DataFrame({
            "ts": stamps.map(lambda t: t.isoformat()), "symbol": symbol, "open": opens,
            "high": np.round(np.maximum(opens, closes) + spread, 2), "low": np.round(np.minimum(opens, closes) - spread, 2),
            "close": closes,
            "volume": np.where(regular, rng.integers(20_000, 400_000, len(stamps)), rng.integers(100, 20_000, len(stamps))),
        }))  # fmt: skip
        price = closes[-1]
    pd.concat(frames).to_csv(path, index=False)
    return path


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def headless_chromium(*, offline: bool = True, window: str | None = None):
    """Headless Chromium (Debian's, `make browser`) keeping its console log. ``offline``:
    every host name resolves to nothing but localhost and there is no proxy, so a page that
    loads anything from the network shows it as an error."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
    if offline:
        flags += ["--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"]
    if window:
        flags.append(f"--window-size={window}")
    for flag in flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def query(db, sql: str, params=None) -> list[tuple]:
    """Rows of a query on a warehouse file, opened read-only (under one catalog name, so a
    file called ml.duckdb does not shadow the ml schema)."""
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def query_frame(db, sql: str, params=None):
    """A query on a warehouse file, opened read-only, as a DataFrame."""
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def execute(db, *statements: str) -> None:
    """Run statements on a warehouse file (to plant a defect)."""
    con = connect(db)
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()
