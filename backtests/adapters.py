"""Adapters for the engines current users run: vectorbt and backtesting.py (extras
``alphaduck[vectorbt]`` and ``alphaduck[backtesting]``). They take the same fill prices and
fill-aligned target weights as the bt and vector engines and return the same EngineResult,
so every engine can be checked against the others on the same signals.

Where they differ from bt (and why the tests allow a tolerance for them):

vectorbt (``Portfolio.from_orders``, size_type="targetpercent", shared cash, sells first)
  - costs: vectorbt charges a percentage of the traded value plus a fixed fee per order;
    IB's per-share rate is passed as a per-bar percentage (per_share / price) plus the
    slippage, exactly, but IB's minimum and maximum per order cannot be expressed.
  - sizing: vectorbt buys exactly the target shares and pays costs on top; bt sizes the
    order so shares x price + costs equals the allocation. With costs on, vectorbt holds
    slightly more shares and less cash, so equity drifts by about the costs times the
    returns (measured: under 1e-3 relative on the sample); with costs off they agree to 1e-9.

backtesting.py (``FractionalBacktest``: one instrument per run)
  - one instrument at a time: each symbol runs as its own sleeve with capital / n_symbols
    and a target of weight x n_symbols of that sleeve, and the sleeves' equity is summed;
    bt shares one cash balance, so sleeves and portfolio differ once their values diverge.
  - it decides in ``next()`` on bar t and fills on the next bar's open, which is our
    next_open fill; equity is marked at each bar's close (ours at the fill price), so
    curves are compared trade by trade, not bar by bar.
  - an order of a fraction of equity is sized with the commission of the fraction, and
    shares are rounded to its fractional unit (1e-8 of a share).
"""

from __future__ import annotations

import pandas as pd

from backtests.costs import CostModel
from backtests.results import EngineResult, orders_from_positions


def run_vectorbt(prices: pd.DataFrame, weights: pd.DataFrame, *, costs: CostModel, initial_capital: float) -> EngineResult:
    try:
        import vectorbt as vbt
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError("the vectorbt engine needs the extra: pip install 'alphaduck[vectorbt]'") from exc
    size = weights.reindex(index=prices.index, columns=prices.columns)
    fees = costs.per_share / prices + costs.slippage_bps / 10_000
    portfolio = vbt.Portfolio.from_orders(
        close=prices, size=size, size_type="targetpercent", direction="both", fees=fees.fillna(0.0),
        init_cash=float(initial_capital), cash_sharing=True, group_by=True, call_seq="auto", update_value=False,
        freq=_frequency(prices.index),
    )  # fmt: skip
    positions = portfolio.assets().reindex(columns=prices.columns).fillna(0.0)
    equity = portfolio.value().rename("equity")
    return EngineResult(equity, positions, orders_from_positions(positions, prices, costs), {})


def _frequency(index: pd.DatetimeIndex):
    steps = pd.Series(index[1:] - index[:-1])
    return steps.mode().iloc[0] if len(steps) else pd.Timedelta(days=1)


UNIT = 1e-8  # backtesting.py's fractional unit: the smallest share fraction it trades


def _follow(strategy_class):
    """A backtesting.py Strategy that holds ``targets[bar]`` (a fraction of its equity) from
    the next bar's open: it closes the position and opens the new one when the target moves."""

    class Follow(strategy_class):
        targets: list = []

        def init(self) -> None:
            self.current = 0.0

        def next(self) -> None:
            target = self.targets[len(self.data) - 1]
            if target == self.current:
                return
            if self.position:
                self.position.close()
            # a size below 1 is a fraction of equity; 1 would mean one unit
            if target > 0:
                self.buy(size=min(target, 0.999999))
            elif target < 0:
                self.sell(size=min(-target, 0.999999))
            self.current = target

    return Follow


def run_backtesting(
    bars: pd.DataFrame, signals: pd.DataFrame, *, costs: CostModel, initial_capital: float, fill: str = "next_open"
) -> EngineResult:
    """One FractionalBacktest per symbol (sleeves of capital / n), equity summed."""
    try:
        import backtesting.backtesting as engine
        from backtesting import Strategy
        from backtesting.lib import FractionalBacktest
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError("the backtesting.py engine needs the extra: pip install 'alphaduck[backtesting]'") from exc
    engine._tqdm = lambda sequence, **_: sequence  # its per-run progress bar would interleave with ours
    if fill != "next_open":
        raise ValueError("the backtesting.py adapter fills at the next open only (its native order timing)")
    symbols = sorted(signals["symbol"].unique())
    sleeve = initial_capital / len(symbols)

    def commission(size: float, price: float) -> float:
        # backtesting.py trades whole units of UNIT shares at UNIT-scaled prices
        return costs(size * UNIT, price / UNIT) if size else 0.0

    curves, holdings, all_prices = [], {}, {}
    for symbol in symbols:
        own = bars[bars["symbol"] == symbol].sort_values("ts")
        data = pd.DataFrame(
            {"Open": own["open"].to_numpy(), "High": own[["open", "close"]].max(axis=1).to_numpy(),
             "Low": own[["open", "close"]].min(axis=1).to_numpy(), "Close": own["close"].to_numpy(), "Volume": 1e9},
            index=pd.DatetimeIndex(own["ts"]).tz_convert(None),
        )  # fmt: skip
        # decision-aligned targets as fractions of this sleeve
        mine = signals[signals["symbol"] == symbol].set_index("ts")["target_weight"] * len(symbols)
        targets = mine.reindex(pd.DatetimeIndex(own["ts"])).fillna(0.0).to_numpy()

        follow = type("Follow", (_follow(Strategy),), {"targets": targets})
        test = FractionalBacktest(
            data, follow, cash=sleeve, commission=commission, fractional_unit=UNIT, finalize_trades=False
        )
        stats = test.run()
        curve = stats["_equity_curve"]["Equity"]
        curve.index = pd.DatetimeIndex(own["ts"])
        curves.append(curve)
        trades = stats["_trades"]
        held = pd.Series(0.0, index=pd.DatetimeIndex(own["ts"]))
        for entry, exit_, units in zip(trades["EntryBar"], trades["ExitBar"], trades["Size"], strict=True):
            held.iloc[entry : exit_ if exit_ == exit_ else len(held)] += units
        holdings[symbol] = held
        all_prices[symbol] = pd.Series(own["open"].to_numpy(), index=pd.DatetimeIndex(own["ts"]))
    equity = pd.concat(curves, axis=1).ffill().sum(axis=1).rename("equity")
    positions = pd.DataFrame(holdings).reindex(equity.index).fillna(0.0)
    prices = pd.DataFrame(all_prices).reindex(equity.index).ffill()
    return EngineResult(equity, positions, orders_from_positions(positions, prices, costs), {})
