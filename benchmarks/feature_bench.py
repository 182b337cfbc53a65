"""Feature-layer figures (prints numbers; not a test).

Generates 1M bars (20 symbols x 50,000 30-minute bars on real XNYS sessions, a random walk
with realistic bar ranges), ingests them into a scratch warehouse, then times:
  1. `dbt build` of the feature models, full refresh (models and their tests);
  2. the incremental `dbt build` after one new session is ingested;
  3. a pandas + TA-Lib pass computing the same indicators and the Alpha158 family in memory.

    python benchmarks/feature_bench.py [--symbols 20] [--bars 50000] [--qlib-python .venv-qlib/bin/python]

Then the real Dow 30 daily file: ingest and a full build, beside pyqlib's Alpha158 on the
same bars, run by an interpreter that has pyqlib (`make bench` makes one in .venv-qlib: pyqlib
pulls in mlflow, jupyter and more, so it stays out of the project's venv).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alphaduck.bar_sizes import parse_bar_size  # noqa: E402
from ingest.files import FileOptions  # noqa: E402
from ingest.load import ingest_files  # noqa: E402

DBT = Path(sys.executable).with_name("dbt")
DOW30_DAILY = ROOT / "data" / "sample" / "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"
BAR = pd.Timedelta(minutes=30)


def bar_starts(n_bars: int) -> pd.DatetimeIndex:
    """The last n_bars 30-minute bar starts of regular XNYS sessions up to 2026-03-31."""
    calendar = xcals.get_calendar("XNYS", start="1995-01-03", end="2026-03-31")
    sessions = calendar.sessions
    starts = []
    for session in reversed(sessions):
        opens, closes = calendar.session_open(session), calendar.session_close(session)
        starts.append(pd.date_range(opens, closes - BAR, freq=BAR))
        if sum(len(s) for s in starts) >= n_bars + 13:
            break
    return pd.DatetimeIndex(np.concatenate([s.values for s in reversed(starts)])).tz_localize("UTC")


def random_bars(symbols: int, ts: pd.DatetimeIndex, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    n = len(ts)
    for k in range(symbols):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.001, n))
        wick = np.abs(rng.normal(0, 0.002, (2, n)))
        high = np.maximum(open_, close) * (1 + wick[0])
        low = np.minimum(open_, close) * (1 - wick[1])
        volume = rng.lognormal(13, 0.5, n).round()
        frames.append(pd.DataFrame({
            "ts": ts, "symbol": f"S{k:02d}", "open": open_.round(4), "high": high.round(4),
            "low": low.round(4), "close": close.round(4), "volume": volume,
        }))  # fmt: skip
    bars = pd.concat(frames, ignore_index=True)
    bars["high"] = bars[["open", "high", "close"]].max(axis=1)
    bars["low"] = bars[["open", "low", "close"]].min(axis=1)
    return bars


@dataclass
class Run:
    """One timed command: wall and CPU seconds (the machine may be shared: CPU time is what
    the work cost, wall what a user waits), and dbt's own breakdown when it was dbt."""

    wall: float
    cpu: float
    nodes: dict[str, float] = field(default_factory=dict)  # node name -> seconds
    dbt_elapsed: float = float("nan")  # dbt's run, after its start-up and parse

    @property
    def models(self) -> float:
        return sum(t for n, t in self.nodes.items() if n.startswith("model."))

    @property
    def tests(self) -> float:
        return sum(t for n, t in self.nodes.items() if n.startswith("test."))

    @property
    def startup(self) -> float:
        return self.wall - self.dbt_elapsed


def timed(command: list[str], env: dict | None = None, cwd: Path = ROOT) -> tuple[Run, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu), result.stdout


def dbt_env(db: Path) -> dict:
    return {**os.environ, "ALPHADUCK_DB": str(db), "DBT_PROFILES_DIR": str(ROOT), "DO_NOT_TRACK": "1"}


def dbt_parse(db: Path) -> float:
    """`dbt parse` into db's target folder: what a build there first pays once (later builds
    reuse dbt's partial parse)."""
    run, _ = timed([str(DBT), "parse", "--target-path", str(db.with_suffix(".target"))], dbt_env(db))
    return run.wall


def dbt_build(db: Path, *args: str) -> Run:
    """`dbt build ARGS` on warehouse db (unit tests excluded: they check the SQL's logic on
    fixtures, not the data, and run in `make test`), with dbt's per-node timings."""
    target = db.with_suffix(".target")
    command = [str(DBT), "build", "--exclude-resource-type", "unit_test", *args, "--target-path", str(target)]
    run, _ = timed(command, dbt_env(db))
    results = json.loads((target / "run_results.json").read_text())
    run.dbt_elapsed = results["elapsed_time"]
    run.nodes = {r["unique_id"]: r["execution_time"] for r in results["results"]}
    return run


def planning_seconds(db: Path) -> float:
    """DuckDB's planning time of fct_features' query (EXPLAIN: bind + optimise, no run)."""
    import duckdb

    sql = (db.with_suffix(".target") / "compiled/alphaduck/dbt_project/models/marts/fct_features.sql").read_text()
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        started = time.perf_counter()
        con.execute("explain " + sql).fetchall()
        return time.perf_counter() - started
    finally:
        con.close()


def dbt_startup() -> float:
    started = time.perf_counter()
    subprocess.run([str(DBT), "--version"], capture_output=True, check=True)
    return time.perf_counter() - started


def pandas_talib_pass(bars: pd.DataFrame) -> float:
    import talib

    started = time.perf_counter()
    for _, g in bars.groupby("symbol", sort=False):
        o, h, l, c, v = (g[x].to_numpy(float) for x in ("open", "high", "low", "close", "volume"))  # noqa: E741
        out = {
            "sma": talib.SMA(c, 20), "ema": talib.EMA(c, 20), "wma": talib.WMA(c, 20), "rsi": talib.RSI(c, 14),
            "cci": talib.CCI(h, l, c, 14), "roc": talib.ROC(c, 10), "mfi": talib.MFI(h, l, c, v, 14),
            "adx": talib.ADX(h, l, c, 14), "plus_di": talib.PLUS_DI(h, l, c, 14), "minus_di": talib.MINUS_DI(h, l, c, 14),
            "atr": talib.ATR(h, l, c, 14), "natr": talib.NATR(h, l, c, 14), "willr": talib.WILLR(h, l, c, 14),
            "obv": talib.OBV(c, v),
        }  # fmt: skip
        out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(c, 12, 26, 9)
        out["stoch_k"], out["stoch_d"] = talib.STOCH(h, l, c, 5, 3, 0, 3, 0)
        out["bb_upper"], out["bb_middle"], out["bb_lower"] = talib.BBANDS(c, 20, 2, 2, 0)
        close, volume, high, low = g.close, g.volume, g.high, g.low
        change = close.diff()
        idx = pd.Series(np.arange(len(g)), index=g.index, dtype=float)
        for d in (5, 10, 20, 30, 60):
            roll = close.rolling(d)
            out[f"ma{d}"] = roll.mean() / close
            out[f"std{d}"] = roll.std() / close
            beta = close.rolling(d).cov(idx) / idx.rolling(d).var()
            out[f"beta{d}"] = beta / close
            out[f"rsqr{d}"] = close.rolling(d).corr(idx) ** 2
            out[f"resi{d}"] = (close - (roll.mean() + beta * (idx - idx.rolling(d).mean()))) / close
            out[f"max{d}"] = high.rolling(d).max() / close
            out[f"min{d}"] = low.rolling(d).min() / close
            out[f"qtlu{d}"] = roll.quantile(0.8) / close
            out[f"qtld{d}"] = roll.quantile(0.2) / close
            out[f"rank{d}"] = roll.rank(pct=True)
            out[f"rsv{d}"] = (close - out[f"min{d}"] * close) / (high.rolling(d).max() - low.rolling(d).min() + 1e-12)
            out[f"imax{d}"] = high.rolling(d).apply(np.argmax, raw=True) / d
            out[f"imin{d}"] = low.rolling(d).apply(np.argmin, raw=True) / d
            out[f"corr{d}"] = close.rolling(d).corr(np.log(volume + 1))
            out[f"cntp{d}"] = (change > 0).rolling(d).mean()
            out[f"sump{d}"] = change.clip(lower=0).rolling(d).sum() / (change.abs().rolling(d).sum() + 1e-12)
            out[f"vma{d}"] = volume.rolling(d).mean() / (volume + 1e-12)
            out[f"vstd{d}"] = volume.rolling(d).std() / (volume + 1e-12)
        pd.DataFrame(out, index=g.index)
    return time.perf_counter() - started


PEERS = {  # figures the brief sets the dbt build beside
    "full": "target <= 15 s and <= pandas + TA-Lib",
    "incremental": "target <= 3 s",
    "dow30": "target <= pyqlib's whole process on the same bars",
}


def report(label: str, run: Run, peer: str) -> None:
    """One build's figures: wall, CPU, and where dbt's time went (start-up and parse,
    models, data tests), its slowest nodes, beside the peer and the target."""
    print(f"  {label}: {run.wall:6.2f} s wall, {run.cpu:6.2f} s CPU   [{peer}]")
    print(
        f"      start-up + parse {run.startup:5.2f} s | models {run.models:6.2f} s | "
        f"data tests {run.tests:5.2f} s ({sum(n.startswith('test.') for n in run.nodes)}) "
        "(node seconds: dbt runs nodes on several threads)"
    )
    slowest = sorted(run.nodes.items(), key=lambda item: -item[1])[:6]
    print("      slowest: " + ", ".join(f"{n.split('.')[-1]} {t:.2f}" for n, t in slowest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--bars", type=int, default=50_000, help="bars per symbol")
    parser.add_argument("--no-dow30", action="store_true", help="skip the Dow 30 daily build")
    parser.add_argument("--qlib-python", type=Path, default=Path(sys.executable),
                        help="an interpreter with pyqlib, for the Dow 30 peer (default: this one)")  # fmt: skip
    args = parser.parse_args()

    ts = bar_starts(args.bars)
    bars = random_bars(args.symbols, ts)
    history, last_session = bars[bars.ts < ts[-13]], bars[bars.ts >= ts[-13]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = tmp / "bench.duckdb"
        history.to_parquet(tmp / "history.parquet")
        last_session.to_parquet(tmp / "last.parquet")
        options = FileOptions(bar_size=parse_bar_size("30min"))
        ingest_files([tmp / "history.parquet"], options, db=db)
        print(f"feature build on {len(history):,} bars ({args.symbols} symbols x {len(history) // args.symbols:,} "
              "30-minute bars)")  # fmt: skip
        dbt_parse(db)  # once, so the timings below are the build
        in_memory = pandas_talib_pass(bars)
        full = dbt_build(db, "--full-refresh")
        report("dbt build, full refresh (models + data tests)", full,
               f"pandas + TA-Lib {in_memory:.2f} s; {PEERS['full']}")  # fmt: skip
        print(f"      DuckDB planning of fct_features' query (EXPLAIN): {planning_seconds(db):.2f} s")
        ingest_files([tmp / "last.parquet"], options, db=db)
        incremental = dbt_build(db)
        report(f"dbt build, incremental after one new session ({len(last_session)} bars)", incremental,
               PEERS["incremental"])  # fmt: skip
        print(f"  dbt's own start-up (dbt --version), part of every wall figure: {dbt_startup():.2f} s")
        print(f"  pandas + TA-Lib, same indicators and Alpha158 in memory (no I/O): {in_memory:.2f} s")
        print(f"  ratios: full / pandas {full.wall / in_memory:.2f}x, incremental / full "
              f"{incremental.wall / full.wall:.2f}x")  # fmt: skip
        if not args.no_dow30:
            dow30(tmp, args.qlib_python)


def dow30(tmp: Path, qlib_python: Path) -> None:
    """The real Dow 30 + SPY daily file (174k bars): ingest + full build, beside pyqlib's
    Alpha158 on the same bars (benchmarks/qlib_alpha158.py, when pyqlib is installed)."""
    import duckdb

    csv = tmp / "dow30.csv"
    con = duckdb.connect()
    con.execute(f"copy (select * from read_csv('{DOW30_DAILY}') order by symbol, ts) to '{csv}' (header)")
    con.close()
    db = tmp / "dow30.duckdb"
    started = time.perf_counter()
    ingest_files([csv], FileOptions(bar_size=parse_bar_size("1d")), db=db)
    ingested = time.perf_counter() - started
    parse = dbt_parse(db)
    build = dbt_build(db, "--full-refresh")
    print(f"Dow 30 + SPY daily file ({DOW30_DAILY.name}): ingest {ingested:.2f} s, dbt parse (first build only) "
          f"{parse:.2f} s")  # fmt: skip
    peer = f"{PEERS['dow30']}: no figure, pyqlib is not installed for {qlib_python} (make bench puts it in .venv-qlib)"
    if subprocess.run([str(qlib_python), "-c", "import qlib"], capture_output=True).returncode == 0:
        run, out = timed([str(qlib_python), str(ROOT / "benchmarks" / "qlib_alpha158.py"), str(csv)])
        verdict = "met" if build.wall <= run.wall else "NOT met"
        peer = f"pyqlib's whole process {run.wall:.2f} s ({out.strip()}); {PEERS['dow30']}: {verdict}"
    report("dbt build, full (models + data tests)", build, peer)


if __name__ == "__main__":
    main()
