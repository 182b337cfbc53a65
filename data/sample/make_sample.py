"""Rebuild the bundled sample from ../shared/data (run from the repo root).

    python data/sample/make_sample.py ../shared/data

Writes, next to this script:
- us24_30min_rth_2025-05_2026-03.csv.gz: the 24-symbol 5-minute RTH panel resampled to
  30-minute bars (first open, max high, min low, last close, summed volume, bar start ts).
- spy_daily_1999-11_2023-03.csv.gz: SPY rows of the Dow 30 + SPY daily file, unchanged.
- spy_15min_eth_2022-10_2022-11.csv.gz: October and November 2022 of the SPY 15-minute
  extended-hours file, unchanged (regular and extended hours, across a DST change).
- dow30_spy_daily_raw_1999-11_2023-03.csv.gz and dow30_splits_1999-11_2023-03.csv: the
  Dow 30 + SPY raw daily bars and their splits, copied unchanged.
"""

import shutil
import sys
from pathlib import Path

import duckdb

here = Path(__file__).resolve().parent
shared = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
con = duckdb.connect()
con.sql("set TimeZone = 'America/New_York'")

con.sql(f"""
copy (
    with bars as (
        select symbol, ts::timestamptz as ts, open::double as open, high::double as high,
               low::double as low, close::double as close, volume::bigint as volume
        from read_csv('{shared / "us24_5min_rth_2025-05_2026-03.csv.gz"}', all_varchar = true)
    ),
    bucketed as (
        select *, time_bucket(interval 30 minutes, ts) as bucket from bars
    ),
    resampled as (
        select
            bucket as ts,
            symbol,
            arg_min(open, ts) as open,
            max(high) as high,
            min(low) as low,
            arg_max(close, ts) as close,
            sum(volume) as volume,
            count(*) as n
        from bucketed
        group by all
    )
    -- DuckDB's %z prints whole-hour offsets as '-04'; US/Eastern has no others
    select strftime(ts, '%Y-%m-%dT%H:%M:%S%z') || ':00' as ts,
           symbol, round(open, 4) as open, round(high, 4) as high,
           round(low, 4) as low, round(close, 4) as close, volume
    from resampled
    order by symbol, resampled.ts
) to '{here / "us24_30min_rth_2025-05_2026-03.csv.gz"}' (header, compression gzip)
""")

con.sql(f"""
copy (
    select ts, open, high, low, close, volume
    from read_csv('{shared / "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"}', all_varchar = true)
    where symbol = 'SPY'
    order by ts
) to '{here / "spy_daily_1999-11_2023-03.csv.gz"}' (header, compression gzip)
""")

con.sql(f"""
copy (
    select * from read_csv('{shared / "spy_15min_eth_2021-03_2023-02.csv"}', all_varchar = true)
    where ts >= '2022-10-01' and ts < '2022-12-01'
    order by ts
) to '{here / "spy_15min_eth_2022-10_2022-11.csv.gz"}' (header, compression gzip)
""")

for name in ("dow30_spy_daily_raw_1999-11_2023-03.csv.gz", "dow30_splits_1999-11_2023-03.csv"):
    shutil.copyfile(shared / name, here / name)
