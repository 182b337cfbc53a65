"""Ingest figures, printed beside their targets (prints numbers; not a test).

1. `ingest file` throughput on >= 1M rows of real bars (the 30-minute sample repeated under
   16 symbol names), CSV and Parquet, into a fresh warehouse and again (no change), beside
   the floor: DuckDB copying the same file into a fresh database file with nothing else.
   Target: >= 1M rows/s fresh; before this work: CSV 0.33M, Parquet 0.46M rows/s.
2. `ingest ibkr` throughput against the fake gateway in its own process, answering in 1-3 s,
   with a soft throttle and IB's limit of 50 open requests, on a compressed clock: bars per
   hour for 24 symbols of 30-minute and of 1-minute history, today's way (one request at a
   time, IB's small-bar pacing) beside the adaptive window; then every bar checked (none lost
   or duplicated) and a run interrupted half-way resumed (only the missing requests asked).
   Target: >= 5x today's bars per hour.

    python benchmarks/ingest_bench.py [--copies 16] [--skip-files] [--skip-ibkr]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alphaduck.bar_sizes import parse_bar_size  # noqa: E402
from alphaduck.errors import AlphaduckError  # noqa: E402
from ingest.files import FileOptions  # noqa: E402
from ingest.ibkr import IbkrOptions, ingest_ibkr  # noqa: E402
from ingest.load import ingest_files  # noqa: E402
from ingest.pacing import PacedGate, PacingLimiter, ScaledClock  # noqa: E402
from tests.fake_ib import FakeGateway, Faults, Throttle, finer_bars, sample_frame  # noqa: E402

SAMPLE = ROOT / "data" / "sample" / "us24_30min_rth_2025-05_2026-03.csv.gz"
FILE_TARGET = 1.0  # M rows/s
FILE_BEFORE = {"CSV": 0.33, "Parquet": 0.46}
IBKR_TARGET = 5.0  # x today's bars per hour
LATENCY = (1.0, 3.0)
THROTTLE = Throttle(rate=3.0, burst=6, patience=4.0)  # binds the window: 24 in flight at 2 s ask 12/s


# -- files ----------------------------------------------------------------------------------------------


def make_inputs(workdir: Path, copies: int) -> tuple[Path, Path, int]:
    con = duckdb.connect()
    union = " union all ".join(
        f"select ts, symbol || '_{i}' as symbol, open, high, low, close, volume from src"
        for i in range(copies)
    )
    con.execute(f"create table src as select * from read_csv('{SAMPLE}', all_varchar = true)")
    csv, parquet = workdir / "bars.csv", workdir / "bars.parquet"
    con.execute(f"copy ({union}) to '{csv}' (header)")
    con.execute(
        f"copy (select ts::timestamptz as ts, symbol, open::double as open, high::double as high, low::double as low, "
        f"close::double as close, volume::bigint as volume from ({union})) to '{parquet}'"
    )
    rows = con.execute(f"select count(*) from read_csv('{csv}')").fetchall()[0][0]
    return csv, parquet, rows


def time_file_ingest(path: Path, db: Path, options: FileOptions) -> tuple[float, float, object]:
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_files([path], options, db=db)
    return time.perf_counter() - started, time.process_time() - cpu, result


def bare_copy(path: Path, db: Path) -> float:
    """The floor any ingest into a DuckDB file stands on: DuckDB copying the file into a table of
    a fresh warehouse and closing it (the close writes the checkpoint), with no parsing rules,
    checks, merge or run record."""
    reader = "read_csv" if path.suffix == ".csv" else "read_parquet"
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    try:
        con.execute(f"create table bars as select * from {reader}('{path}')")
    finally:
        con.close()
    return time.perf_counter() - started


def file_figures(copies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv, parquet, rows = make_inputs(workdir, copies)
        options = FileOptions(bar_size=parse_bar_size("30min"))
        print(
            f"ingest file: {rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB CSV, {parquet.stat().st_size / 1e6:.0f} MB "
            f"Parquet); target >= {FILE_TARGET:g} M rows/s fresh"
        )
        # a process's first ingest also imports and warms up (exchange calendars, DuckDB's
        # extensions): paid once per process, whatever the file, so timed apart from the rates
        tiny = workdir / "tiny.csv"
        duckdb.execute(f"copy (select * from read_csv('{csv}') limit 100) to '{tiny}' (header)")
        once, _, _ = time_file_ingest(tiny, workdir / "tiny.duckdb", options)
        print(f"  a process's first ingest (100 rows) takes {once:.2f} s: imports and calendars, paid once per process")
        for label, path in (("CSV", csv), ("Parquet", parquet)):
            db = workdir / f"{label}.duckdb"
            first, first_cpu, result = time_file_ingest(path, db, options)
            again, _, result2 = time_file_ingest(path, db, options)
            assert result.counts.inserted == rows and result2.counts.inserted == result2.counts.updated == 0
            rate = rows / first / 1e6
            print(
                f"  {label:8s} fresh warehouse: {first:5.2f} s = {rate:4.2f} M rows/s ({first_cpu:4.1f} s CPU; before this "
                f"work {FILE_BEFORE[label]:.2f} on a quiet machine; target {FILE_TARGET:g}: "
                f"{'met' if rate >= FILE_TARGET else 'NOT met'})"
                f"   re-ingest (0 changes): {again:5.2f} s = {rows / again / 1e6:4.2f} M rows/s"
            )
            floor = bare_copy(path, workdir / f"{label}-bare.duckdb")
            print(
                f"  {label:8s} peer, DuckDB's bare copy into a fresh file (no checks, no merge): {floor:5.2f} s = "
                f"{rows / floor / 1e6:4.2f} M rows/s; alphaduck takes {first / floor:3.1f}x that"
            )


# -- IBKR -----------------------------------------------------------------------------------------------


def _serve_gateway(frame, clock: ScaledClock, faults: Faults, conn) -> None:
    with FakeGateway(frame, clock=clock, latency=LATENCY, throttle=THROTTLE, faults=faults) as gateway:
        conn.send(gateway.port)
        conn.recv()  # the client has finished
        conn.send((gateway.requests, gateway.violations, gateway.max_open_seen, gateway.throttled))


def run_against_gateway(frame, options: IbkrOptions, db: Path, *, speed: float, today: bool = False,
                        faults: Faults | None = None):  # fmt: skip
    """One ingest against a gateway in its own process (its own GIL, as a real one):
    (result or the error, stats, gateway requests, violations, most open, throttled, simulated s)."""
    clock = ScaledClock(speed)
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_serve_gateway, args=(frame, clock, faults or Faults(), theirs), daemon=True
    )
    server.start()
    options.port = ours.recv()
    gate = PacedGate(PacingLimiter(clock), options.pacing_backoff) if today else None
    started = clock.now()
    try:
        outcome, stats = asyncio.run(ingest_ibkr(options, db=db, clock=clock, gate=gate))
    except AlphaduckError as exc:
        outcome, stats = exc, None
    took = clock.now() - started
    ours.send("done")
    requests, violations, most_open, throttled = ours.recv()
    server.join()
    return outcome, stats, requests, violations, most_open, throttled, took


def check_stored(db: Path, expected: int) -> tuple[int, int]:
    """(lost, duplicated) bars."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        n, distinct = con.execute("select count(*), count(distinct (symbol, bar_size, ts)) from raw.bars").fetchall()[0]
    finally:
        con.close()
    return expected - distinct, n - distinct


def ibkr_figures(label: str, frame, bar_size: str, start: datetime, end: datetime, speeds: tuple[float, ...]) -> None:
    """Clock speeds per run (today, one at a time, window): fast enough to finish, slow enough that
    the client's own work stays small beside the gateway's 1-3 s."""
    symbols = sorted(frame["symbol"].unique())
    expected = int(((frame["ts"] >= start) & (frame["ts"] < end)).sum())

    def options(**kwargs) -> IbkrOptions:
        kwargs = {"timeout": 120, **kwargs}
        return IbkrOptions(symbols=symbols, bar_size=parse_bar_size(bar_size), start=start, end=end, **kwargs)

    print(f"  {label}, {len(symbols)} symbols, {start:%Y-%m-%d}..{end:%Y-%m-%d}, {expected:,} bars:")
    rates = {}
    runs = (
        ("today", "today: one at a time, IB's small-bar pacing", {}, speeds[0]),
        ("one", "one at a time, no pacing (--max-in-flight 1)", {"max_in_flight": 1}, speeds[1]),
        ("window", "adaptive window, up to 24 in flight", {}, speeds[2]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for key, name, extra_options, speed in runs:
            db = Path(tmp) / f"{key}.duckdb"
            result, stats, requests, violations, most_open, throttled, took = run_against_gateway(
                frame, options(**extra_options), db, speed=speed, today=key == "today"
            )
            historical = [r for r in requests if r.kind == "historical"]
            lost, duplicated = check_stored(db, expected)
            rates[key] = expected / took * 3600
            versus = "" if key == "today" else f"; {rates[key] / rates['today']:.1f}x today"
            if key == "window":
                versus += f" (target >= {IBKR_TARGET:g}x: {'met' if rates[key] >= IBKR_TARGET * rates['today'] else 'NOT met'})"
            print(
                f"    {name:46s} {rates[key]:>11,.0f} bars/h ({len(historical)} requests in {took:,.0f} simulated s, "
                f"most open {most_open}, window cuts {stats.window_cuts}, throttled {throttled}, "
                f"pacing violations {len(violations)}; lost {lost}, duplicated {duplicated}){versus}"
            )
        # resume: a run the gateway stops answering half-way, then the same command again
        db = Path(tmp) / "resumed.duckdb"
        planned = len({(r.symbol, r.end) for r in requests if r.kind == "historical"})
        half = planned // 2
        failed, *_ = run_against_gateway(frame, options(max_retries=1, timeout=5), db, speed=speeds[2],
                                         faults=Faults(stall_after=half))  # fmt: skip
        con = duckdb.connect(str(db), read_only=True)
        covered = con.execute("select count(*) from raw.ingest_coverage").fetchall()[0][0]
        con.close()
        _, _, requests, *_ = run_against_gateway(frame, options(), db, speed=speeds[2])
        asked = len({(r.symbol, r.end) for r in requests if r.kind == "historical"})  # retries once
        lost, duplicated = check_stored(db, expected)
        print(
            f"    resume: the gateway stopped answering after {half} requests ({type(failed).__name__}), {covered} "
            f"answers stored; the re-run "
            f"asked {asked} ({'exactly' if asked == planned - covered else 'NOT'} the {planned - covered} missing); "
            f"lost {lost}, duplicated {duplicated}"
        )


def ibkr_all() -> None:
    bars_30 = sample_frame(SAMPLE)
    print(
        f"ingest ibkr vs fake gateway (own process; answers in {LATENCY[0]:g}-{LATENCY[1]:g} s; soft throttle "
        f"{THROTTLE.rate:g}/s after {THROTTLE.burst}, refusing waits over {THROTTLE.patience:g} s; at most 50 open):"
    )
    ibkr_figures("30-minute bars", bars_30, "30 mins", datetime(2025, 5, 12, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC),
                 speeds=(50.0, 10.0, 2.0))  # fmt: skip
    # 1-minute bars: two weeks of the sample's 30-minute bars, each cut in 30 (the sample has none that fine)
    two_weeks = bars_30[(bars_30["ts"] >= "2025-06-02") & (bars_30["ts"] < "2025-06-14")]
    ibkr_figures("1-minute bars (derived)", finer_bars(two_weeks, 30, "1 min"), "1 min",
                 datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 14, tzinfo=UTC), speeds=(50.0, 10.0, 2.0))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16, help="copies of the 64,152-row sample (16 -> 1.03M rows)")
    parser.add_argument("--skip-files", action="store_true")
    parser.add_argument("--skip-ibkr", action="store_true")
    args = parser.parse_args()
    if not args.skip_files:
        file_figures(args.copies)
    if not args.skip_ibkr:
        ibkr_all()


if __name__ == "__main__":
    main()
