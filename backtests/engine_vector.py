"""The fast engine: the same fills, costs and sizing as the bt engine, computed by one
compiled pass over the bars x symbols matrix (backtests.kernels.simulate).

It takes exactly what ``engine_bt.run_bt`` takes (fill prices, and target weights on the
rows where a target changes) and returns the same EngineResult; tests hold the two equity
curves equal to 1e-9 on the sample, long-only and long/short.
"""

from __future__ import annotations

import pandas as pd

from backtests.costs import CostModel
from backtests.results import EngineResult, orders_from_positions


def run_vector(prices: pd.DataFrame, weights: pd.DataFrame, *, costs: CostModel, initial_capital: float,
               bars_per_year: float | None = None) -> EngineResult:  # fmt: skip
    """The vector engine; ``bars_per_year`` spreads the shorts' yearly borrow fee over the bars
    (none charged without it)."""
    from backtests.kernels import simulate

    changes = weights.reindex(index=prices.index, columns=prices.columns).to_numpy(float)
    equity, held = simulate(
        prices.to_numpy(float), changes, float(initial_capital),
        costs.per_share, costs.min_per_order, costs.max_pct_of_value, costs.slippage_bps,
        costs.borrow_per_bar(bars_per_year) if bars_per_year else 0.0,
    )  # fmt: skip
    positions = pd.DataFrame(held, index=prices.index, columns=prices.columns)
    return EngineResult(
        equity=pd.Series(equity, index=prices.index, name="equity"),
        positions=positions,
        transactions=orders_from_positions(positions, prices, costs),
        daily_stats={},
    )
