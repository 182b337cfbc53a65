"""The real Dow 30 (+ SPY) daily bars bundled in data/sample, split-adjusted, for the
statistics tests (see data/sample/SOURCES.md: raw prices, 25 splits in a separate file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BARS = "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"
SPLITS = "dow30_splits_1999-11_2023-03.csv"


def shared_data() -> Path:
    """The folder holding the Dow 30 file and its splits: data/sample (bundled with the repo)."""
    folder = ROOT / "data" / "sample"
    if not (folder / BARS).is_file():
        raise FileNotFoundError(f"{folder / BARS} is missing: is this a complete checkout?")
    return folder


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
