"""The reference engine: bt (pmorissette/bt), fed fill prices and fill-aligned weights.

bt fills a rebalance at the price on that row, so the strategy's weights are indexed by
the fill bar (never the decision bar), and the price frame holds the fill price of every
bar (opens for next-open fills, closes for next-close fills), which is also where equity
is marked. ``RebalanceChanged`` trades only the symbols whose target changed on a row;
bt's own ``Rebalance`` would also trade every other holding back to its target weight
after prices moved it, paying IB's per-order minimum on each of those drift trades.
Buy-and-hold of the same symbols (equal weights, bought on the first bar) is the benchmark.
"""

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
    column = "open" if fill == "next_open" else "close"
    return bars.pivot(index="ts", columns="symbol", values=column).sort_index().ffill()


def fill_weights(signals: pd.DataFrame) -> pd.DataFrame:
    """Fill bars x symbols: the new target weight where a symbol's target changes, NaN elsewhere."""
    ordered = signals.sort_values(["symbol", "fill_ts"])
    previous = ordered.groupby("symbol")["target_weight"].shift().fillna(0.0)
    changes = ordered[ordered["target_weight"] != previous]
    return changes.pivot(index="fill_ts", columns="symbol", values="target_weight").sort_index()


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


def run_bt(
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    costs: CostModel,
    initial_capital: float,
    name: str = "strategy",
) -> EngineResult:
    """Backtest fill-aligned target weights on fill prices with bt."""
    import bt

    strategy = bt.Strategy(name, [bt.algos.WeighTarget(weights), _rebalance_changed()])
    return _run(bt, strategy, prices, costs, initial_capital, name)


def run_buy_and_hold(prices: pd.DataFrame, *, costs: CostModel, initial_capital: float) -> EngineResult:
    """Equal weights of every symbol bought on the first bar and held."""
    import bt

    first = pd.DataFrame([1.0 / prices.shape[1]] * prices.shape[1], index=prices.columns).T
    first.index = prices.index[:1]
    strategy = bt.Strategy("buy_and_hold", [bt.algos.WeighTarget(first), _rebalance_changed()])
    return _run(bt, strategy, prices, costs, initial_capital, "buy_and_hold")


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


DAILY_STATS = ("total_return", "cagr", "daily_sharpe", "daily_sortino", "daily_vol", "max_drawdown", "calmar")
