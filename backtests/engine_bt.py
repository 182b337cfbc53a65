"""The reference engine: bt (pmorissette/bt), fed fill prices and fill-aligned weights.

bt fills a rebalance at the price on that row, so the strategy's weights are indexed by
the fill bar (never the decision bar), and the price frame holds the fill price of every
bar (opens for next-open fills, closes for next-close fills), which is also where equity
is marked. ``RebalanceChanged`` trades only the symbols whose target changed on a row;
bt's own ``Rebalance`` would also trade every other holding back to its target weight
after prices moved it, paying IB's per-order minimum on each of those drift trades.
The benchmark (equal weight across the tradable symbols, backtests.results.benchmark_weights)
runs through the same function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from backtests.results import EngineResult, orders_from_positions


def _weigh_changed(weights: pd.DataFrame):
    import bt

    class WeighChanged(bt.Algo):
        """bt's WeighTarget, except that a bar without new targets lets the bar's other algos
        (the borrow fee) run: it sets temp['weights'] only on the rows of ``weights``."""

        def __call__(self, target):
            if target.now in weights.index:
                target.temp["weights"] = weights.loc[target.now].dropna()
            return True

    return WeighChanged()


def _rebalance_changed():
    import bt

    class RebalanceChanged(bt.Algo):
        """Set each symbol in temp['weights'] to its target weight of the value before this
        row's trades; closes first (they free cash), then the others in column order."""

        def __call__(self, target):
            if "weights" not in target.temp:
                return True
            targets = target.temp["weights"]
            base = target.value
            for name, weight in sorted(targets.items(), key=lambda kv: kv[1] != 0):
                target.rebalance(weight, child=name, base=base, update=False)
            target.root.update(target.now)
            return True

    return RebalanceChanged()


def _charge_borrow(rate: float):
    import bt

    class ChargeBorrow(bt.Algo):
        """Every bar, after its trades: short positions pay ``rate`` of their value (a cost,
        so not a flow: it shows in the returns)."""

        def __call__(self, target):
            owed = sum(-c.position * c.price * rate for c in target.children.values() if c.position < 0)
            if owed:
                target.adjust(-owed, flow=False)
            return True

    return ChargeBorrow()


def run_bt(
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    costs: CostModel,
    initial_capital: float,
    name: str = "strategy",
    bars_per_year: float | None = None,
) -> EngineResult:
    """Backtest fill-aligned target weights on fill prices with bt; ``bars_per_year`` spreads
    the shorts' yearly borrow fee over the bars (none charged without it)."""
    import bt

    rate = costs.borrow_per_bar(bars_per_year) if bars_per_year else 0.0
    algos = [_weigh_changed(weights), _rebalance_changed()] + ([_charge_borrow(rate)] if rate else [])
    return _run(bt, bt.Strategy(name, algos), prices, costs, initial_capital, name)


def _run(bt, strategy, prices: pd.DataFrame, costs: CostModel, initial_capital: float, name: str) -> EngineResult:
    test = bt.Backtest(
        strategy, prices, initial_capital=initial_capital, commissions=costs, integer_positions=False, progress_bar=False
    )
    result = bt.run(test)
    node = result.backtests[name].strategy
    # bt prepends a row one day before the first bar holding the initial capital: drop it
    equity = node.values.iloc[1:].rename("equity")
    positions = node.positions.reindex(index=equity.index, columns=prices.columns).fillna(0.0)
    transactions = orders_from_positions(positions, prices, costs)
    stats = result.stats[name]
    daily = {k: (float(v) if isinstance(v, int | float | np.floating) and np.isfinite(v) else None)
             for k, v in stats.items() if k in DAILY_STATS}  # fmt: skip
    return EngineResult(equity, positions, transactions, daily)


DAILY_STATS = ("total_return", "cagr", "daily_sharpe", "daily_sortino", "daily_vol", "max_drawdown", "calmar")
