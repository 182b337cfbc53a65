"""The strategy on every combinatorial purged CV path: one Sharpe per path instead of one.

A model trained with ``alphaduck train --cv cpcv`` leaves in ml.cpcv_predictions, for each of
the C(N, k) splits, the scores its split's model gave the k groups of time it never saw. Each
(split, group) block is traded on its own, starting flat, with the backtest's strategy, costs
and engine rules (the vector engine, equal to bt); ``ml.split.path_returns`` then lays the
blocks out as phi = k / N x C(N, k) complete out-of-sample histories of the search window,
and each path gets its Sharpe, return and drawdown (Lopez de Prado 2018, sec. 12.4). A
strategy whose paths disagree widely, or whose median path loses, was lucky on one history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import comb

import numpy as np
import pandas as pd

from ml.split import path_returns


@dataclass
class PathResults:
    paths: pd.DataFrame  # one row per path: path, first_ts, last_ts, bars, sharpe, total_return, max_drawdown
    n_groups: int
    n_test_groups: int

    def figures(self) -> dict:
        """The distribution's summary for backtest.runs and the report."""
        sharpe = self.paths["sharpe"].to_numpy(float)
        return {
            "cpcv_paths": len(self.paths),
            "cpcv_sharpe_median": float(np.median(sharpe)),
            "cpcv_sharpe_min": float(sharpe.min()),
            "cpcv_sharpe_max": float(sharpe.max()),
            "cpcv_share_positive": float((sharpe > 0).mean()),
            "cpcv_groups": f"N={self.n_groups}, k={self.n_test_groups}",
        }


def block_returns(equity: pd.Series, initial_capital: float, stamps: pd.Index) -> pd.Series:
    """Per-bar returns of one block's equity (the first bar against the starting capital, so
    the first fills' costs count), on the block's own decision bars only."""
    returns = equity / equity.shift(1, fill_value=initial_capital) - 1
    return returns[returns.index.isin(stamps)]


def path_statistics(returns: pd.DataFrame, bars_per_year: float) -> pd.DataFrame:
    """Sharpe (annualised), total return and max drawdown of every path (pure)."""
    rows = []
    for path in returns.columns:
        r = returns[path].dropna()
        sd = r.std(ddof=1)
        growth = (1 + r).cumprod()
        rows.append({
            "path": int(path), "first_ts": r.index.min(), "last_ts": r.index.max(), "bars": int(len(r)),
            "sharpe": float(r.mean() / sd * np.sqrt(bars_per_year)) if sd > 0 else 0.0,
            "total_return": float(growth.iloc[-1] - 1) if len(r) else 0.0,
            "max_drawdown": float((growth / growth.cummax() - 1).min()) if len(r) else 0.0,
        })  # fmt: skip
    return pd.DataFrame(rows)


def run_paths(predictions: pd.DataFrame, bars: pd.DataFrame, config, bars_per_year: float, *, n_groups: int,
              n_test_groups: int) -> PathResults:  # fmt: skip
    """Trade every (split, group) block of ``predictions`` (ml.cpcv_predictions rows with
    score_pct) with ``config``'s strategy and costs on the vector engine, and assemble the
    paths."""
    from backtests.backtest import simulate

    config = replace(config, engine="vector")
    stamps = pd.Index(predictions["ts"].unique()).sort_values()
    split_returns = []
    for split in range(comb(n_groups, n_test_groups)):
        mine = predictions[predictions["split"] == split]
        parts = []
        for _, block in mine.groupby("cv_group"):
            sim = simulate(block, bars, config, bars_per_year)
            parts.append(block_returns(sim["result"].equity, config.initial_capital, pd.Index(block["ts"].unique())))
        split_returns.append(pd.concat(parts).sort_index() if parts else pd.Series(dtype=float))
    returns = path_returns(split_returns, n_groups, n_test_groups, timestamps=stamps)
    return PathResults(path_statistics(returns, bars_per_year), n_groups, n_test_groups)
