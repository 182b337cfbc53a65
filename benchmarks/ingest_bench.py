"""Ingest figures (prints numbers; not a test).

1. `ingest file` throughput on >= 1M rows of real bars (the 30-minute sample repeated
   under 16 symbol names), CSV and Parquet, into a fresh warehouse and again (no change).
2. IBKR against the fake gateway with a compressed clock: the achieved request rate as a
   share of IB's pacing ceiling (60 requests per 10 minutes), and pacing violations.

    python benchmarks/ingest_bench.py [--copies 16] [--speed 20]
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
from ingest.files import FileOptions  # noqa: E402
from ingest.ibkr import IbkrOptions, ingest_ibkr  # noqa: E402
from ingest.load import ingest_files  # noqa: E402
from ingest.pacing import ScaledClock  # noqa: E402
from tests.fake_ib import FakeGateway, sample_frame  # noqa: E402

SAMPLE = ROOT / "data" / "sample" / "us24_30min_rth_2025-05_2026-03.csv.gz"


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


def time_file_ingest(path: Path, db: Path, options: FileOptions) -> tuple[float, object]:
    started = time.perf_counter()
    result = ingest_files([path], options, db=db)
    return time.perf_counter() - started, result


def file_figures(copies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv, parquet, rows = make_inputs(workdir, copies)
        options = FileOptions(bar_size=parse_bar_size("30min"))
        print(
            f"ingest file: {rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB CSV, {parquet.stat().st_size / 1e6:.0f} MB Parquet)"
        )
        for label, path in (("CSV", csv), ("Parquet", parquet)):
            db = workdir / f"{label}.duckdb"
            first, result = time_file_ingest(path, db, options)
            again, result2 = time_file_ingest(path, db, options)
            assert result.counts.inserted == rows and result2.counts.inserted == result2.counts.updated == 0
            print(
                f"  {label:8s} fresh warehouse: {first:6.2f} s = {rows / first / 1e6:5.2f} M rows/s   "
                f"re-ingest (0 changes): {again:6.2f} s = {rows / again / 1e6:5.2f} M rows/s"
            )


def _serve_gateway(frame, clock: ScaledClock, conn) -> None:
    with FakeGateway(frame, clock=clock) as gateway:
        conn.send(gateway.port)
        conn.recv()  # the client has finished
        conn.send((gateway.requests, gateway.violations, gateway.broken_rules))


def pacing_figures(speed: float, symbols: int) -> None:
    frame = sample_frame(SAMPLE)
    names = sorted(frame["symbol"].unique())[:symbols]
    clock = ScaledClock(speed)
    # the gateway gets its own process (and GIL), as a real one would: in-process, a
    # thread hand-over of 50 ms real time is a whole second on a x20 clock.
    # Both sides read the same system-wide monotonic clock from the same origin.
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=_serve_gateway, args=(frame, clock, theirs), daemon=True
    )
    server.start()
    port = ours.recv()
    with tempfile.TemporaryDirectory() as tmp:
        options = IbkrOptions(
            symbols=names, bar_size=parse_bar_size("30 mins"), port=port,
            start=datetime(2025, 5, 12, tzinfo=UTC), end=datetime(2026, 3, 10, tzinfo=UTC), pacing_backoff=15.0,
        )  # fmt: skip
        started = time.perf_counter()
        result, stats = asyncio.run(ingest_ibkr(options, db=Path(tmp) / "ib.duckdb", clock=clock))
        wall = time.perf_counter() - started
    ours.send("done")
    requests, violations, broken_rules = ours.recv()
    server.join()
    paced = [r for r in requests if r.kind in ("historical", "head")]
    n = len(paced)
    span = paced[-1].at - paced[0].at
    # the earliest IB's 60-per-10-minutes rule lets the n-th request go, the first at t=0
    ceiling_span = max(0, (n - 1) // 60) * 600.0
    in_any_window = max(sum(1 for s in paced if t - 600 < s.at <= t) for t in (r.at for r in paced))
    historical = [r.at for r in paced if r.kind == "historical"]
    historical_in_window = max(sum(1 for s in historical if t - 600 < s <= t) for t in historical)
    print(
        f"ingest ibkr vs fake gateway (clock x{speed:g}, {len(names)} symbols, 30-minute bars, 2025-05..2026-03):"
    )
    print(
        f"  {n} paced requests ({stats.requests} incl. retries) over {span:,.0f} simulated s in {wall:.1f} s wall"
    )
    print(
        f"  share of IB's pacing ceiling: {ceiling_span / span:.1%} (ceiling allows them in {ceiling_span:,.0f} s)"
    )
    print(
        f"  most requests in any 10 minutes at the gateway: {in_any_window} incl. head-timestamp requests, "
        f"{historical_in_window} historical (limit 60); pacing violations: {len(violations)}"
        + (f" ({', '.join(broken_rules)})" if broken_rules else "")
    )
    print(f"  bars stored: {result.counts.inserted:,}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--copies", type=int, default=16, help="copies of the 64,152-row sample (16 -> 1.03M rows)"
    )
    parser.add_argument(
        "--speed", type=float, default=20.0, help="how much faster than real time the clock runs"
    )
    parser.add_argument("--symbols", type=int, default=24)
    args = parser.parse_args()
    file_figures(args.copies)
    pacing_figures(args.speed, args.symbols)


if __name__ == "__main__":
    main()
