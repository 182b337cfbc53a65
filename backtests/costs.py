"""Trading costs: Interactive Brokers' tiered stock commission plus slippage (pure).

IB's US stock tiered pricing (the first tier, up to 300,000 shares a month): USD 0.0035 a
share, at least USD 0.35 an order, at most 1% of the trade's value. Exchange, clearing and
regulatory fees vary by venue and are left out; slippage (a fraction of the traded value,
in basis points) stands in for them and for the spread. Short positions pay a borrow fee
(basis points of their value a year, charged every bar). Costs are on by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CostModel:
    per_share: float = 0.0035
    min_per_order: float = 0.35
    max_pct_of_value: float = 0.01
    slippage_bps: float = 1.0
    borrow_bps: float = 25.0  # a short position's borrow fee, basis points of its value a year

    def __post_init__(self) -> None:
        for name in ("per_share", "min_per_order", "max_pct_of_value", "slippage_bps", "borrow_bps"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}")

    def __call__(self, quantity: float, price: float) -> float:
        """Total cost of one order (commission + slippage): what bt's ``commissions`` callback
        receives. The arithmetic is backtests.kernels.order_cost, the one every engine uses."""
        from backtests.kernels import order_cost

        return order_cost(float(quantity), float(price), *self.rates)

    def many(self, quantity: np.ndarray, price: np.ndarray) -> np.ndarray:
        """__call__ over arrays of orders, element by element."""
        from backtests.kernels import order_costs

        return order_costs(np.asarray(quantity, float), np.asarray(price, float), *self.rates)

    @property
    def rates(self) -> tuple[float, float, float, float]:
        """The four rates in the order the kernels take them."""
        return (self.per_share, self.min_per_order, self.max_pct_of_value, self.slippage_bps)

    def borrow_per_bar(self, bars_per_year: float) -> float:
        """The share of a short position's value it pays each bar (the yearly fee spread
        evenly over the bars a year has)."""
        return self.borrow_bps / 10_000 / bars_per_year if bars_per_year else 0.0

    def kernel_rates(self, bars_per_year: float) -> tuple[float, float, float, float, float]:
        """The four order rates and the per-bar borrow rate, as the fused sweep kernel takes them."""
        return (*self.rates, self.borrow_per_bar(bars_per_year))

    @classmethod
    def free(cls) -> CostModel:
        return cls(per_share=0.0, min_per_order=0.0, max_pct_of_value=0.0, slippage_bps=0.0, borrow_bps=0.0)
