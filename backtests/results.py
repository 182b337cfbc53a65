"""What every engine takes and returns: fill prices and fill-aligned target weights in, an
EngineResult out (bt, the vector engine and the adapters all share these, and none of
them imports another engine for them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.costs import CostModel


@dataclass
class EngineResult:
    equity: pd.Series  # strategy value at each bar of the price frame
    positions: pd.DataFrame  # shares held after each bar's trades (bars x symbols)
    transactions: pd.DataFrame  # one row per order: ts, symbol, quantity, price, cost
    daily_stats: dict  # bt's own figures (resampled to days) for reference


def fill_prices(bars: pd.DataFrame, fill: str) -> pd.DataFrame:
    """Bars x symbols of the price each bar fills at (forward-filled over a symbol's gaps)."""
    if fill not in ("next_open", "next_close"):
        raise ValueError(f"`fill` must be next_open or next_close, got {fill!r}")
    column = "open" if fill == "next_open" else "close"
    return bars.pivot(index="ts", columns="symbol", values=column).sort_index().ffill()


def benchmark_weights(bars: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The benchmark's target weights: equal weight across the symbols tradable at each bar,
    rebalanced only when that set changes. A symbol is tradable from its first bar to its
    last; it is bought (everyone re-weighted to 1/n) on its first bar, and sold on its last
    when that bar comes before the end of the window (a delisting). With the same symbols
    throughout this is plain equal-weight buy-and-hold.

    bars: symbol, ts (every bar of the window); index: the price frame's bars. Returns the
    rows where the set changes, NaN where a symbol's target does not change."""
    first = bars.groupby("symbol")["ts"].min()
    last = bars.groupby("symbol")["ts"].max()
    end = index[-1]
    events = sorted(set(first) | {t for t in last if t < end})
    symbols = sorted(first.index)
    rows = []
    for t in events:
        leaving = [s for s in symbols if last[s] == t and t < end]
        tradable = [s for s in symbols if first[s] <= t and last[s] >= t and s not in leaving]
        row = dict.fromkeys(leaving, 0.0) | dict.fromkeys(tradable, 1.0 / len(tradable) if tradable else 0.0)
        rows.append(pd.Series(row, name=t))
    return pd.DataFrame(rows, columns=symbols).reindex(columns=symbols)


def fill_weights(signals: pd.DataFrame) -> pd.DataFrame:
    """Fill bars x symbols: the new target weight where a symbol's target changes, NaN elsewhere."""
    ordered = signals.sort_values(["symbol", "fill_ts"])
    previous = ordered.groupby("symbol")["target_weight"].shift().fillna(0.0)
    changes = ordered[ordered["target_weight"] != previous]
    return changes.pivot(index="fill_ts", columns="symbol", values="target_weight").sort_index()


def orders_from_positions(positions: pd.DataFrame, prices: pd.DataFrame, costs: CostModel) -> pd.DataFrame:
    """One row per order: each change of a symbol's shares, at that bar's fill price. bt
    charges costs(quantity, price) once per order, so the same formula gives each order's
    cost (a reversal is one order for the whole change, as bt sends it)."""
    held = positions.to_numpy(float)
    change = np.diff(held, axis=0, prepend=0.0)
    rows, cols = np.nonzero(np.abs(change) > 1e-12)
    quantity = change[rows, cols]
    price = prices.to_numpy(float)[rows, cols]
    return pd.DataFrame(
        {
            "ts": positions.index[rows],
            "symbol": np.asarray(positions.columns)[cols],
            "quantity": quantity,
            "price": price,
            "cost": costs.many(quantity, price),
        }
    ).sort_values(["ts", "symbol"], ignore_index=True)
