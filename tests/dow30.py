"""The real Dow 30 (+ SPY) daily bars of the shared data folder, split-adjusted, for the
statistics tests (see shared/data/SOURCES.md: raw prices, 25 splits in a separate file)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BARS = "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"
SPLITS = "dow30_splits_1999-11_2023-03.csv"


def shared_data() -> Path:
    """The shared data folder: $ALPHADUCK_SHARED_DATA, else ../shared/data beside the repo,
    else /work/shared/data. A test that needs it fails (never skips) when it is absent."""
    candidates = [os.environ.get("ALPHADUCK_SHARED_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / BARS).is_file():
            return Path(candidate)
    raise FileNotFoundError(
        f"{BARS} not found in $ALPHADUCK_SHARED_DATA, {ROOT.parent / 'shared' / 'data'} or /work/shared/data: "
        "the statistics tests run on this real file"
    )


@cache
def _raw() -> pd.DataFrame:
    folder = shared_data()
    bars = pd.read_csv(folder / BARS, parse_dates=["ts"])
    splits = pd.read_csv(folder / SPLITS, parse_dates=["ex_date"])
    # back-adjust: a price before an ex-date is divided by that split's ratio
    factor = np.ones(len(bars))
    for symbol, ex_date, ratio in splits.itertuples(index=False):
        factor[((bars["symbol"] == symbol) & (bars["ts"] < ex_date)).to_numpy()] *= ratio
    for column in ("open", "high", "low", "close"):
        bars[column] = bars[column] / factor
    return bars.sort_values(["symbol", "ts"], ignore_index=True)


def dow30(start: str, end: str, symbols: list[str] | None = None) -> pd.DataFrame:
    """Split-adjusted daily bars (ts, symbol, open, high, low, close, volume) from ``start``
    to ``end`` inclusive, sorted by symbol then ts."""
    bars = _raw()
    bars = bars[(bars["ts"] >= start) & (bars["ts"] <= end)]
    if symbols is not None:
        bars = bars[bars["symbol"].isin(symbols)]
    return bars.reset_index(drop=True)
