"""From predictions to target weights (pure functions on DataFrames).

A decision is made on bar t's close from the prediction at t and filled on the symbol's
next bar t+1 (at its open by default, or its close): the weights this module returns are
indexed by the FILL bar, which is what an engine that trades at "this row's price" needs.

Per symbol, a small state machine turns probabilities into positions:
  - enter long when proba_up >= long_threshold (short when <= short_threshold, off by
    default), if confidence = |proba_up - 0.5| * 2 >= min_confidence;
  - hold at least min_hold bars, at most max_hold; exit when the signal no longer agrees;
  - after an exit, wait cooldown bars before the next entry (with no cooldown a reversal
    long <-> short happens on one fill);
  - with flat_at_close, hold nothing across a session close (the fill on a session's last
    bar is an exit, and no entry is filled there).
The size is fixed at entry (a fixed weight, or that weight scaled by confidence), capped
per symbol; entries that would take gross exposure over max_gross share what is left.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

FILLS = ("next_open", "next_close")
SIZINGS = ("fixed", "confidence")


@dataclass(frozen=True)
class StrategyParams:
    long_threshold: float = 0.55
    short_threshold: float | None = None  # e.g. 0.45 to allow shorts
    # instead of the thresholds: quantiles of the model's scores on its validation window
    # (before the test window), e.g. long_quantile=0.8 goes long on its top-fifth scores
    long_quantile: float | None = None
    short_quantile: float | None = None
    min_confidence: float = 0.0
    min_hold: int = 1  # bars
    max_hold: int | None = None  # bars
    cooldown: int = 0  # bars after an exit before the next entry
    sizing: str = "fixed"
    position_size: float | None = None  # weight per position; default 1 / number of symbols
    full_size_confidence: float = 0.2  # confidence sizing: this confidence gets position_size
    max_weight: float = 1.0  # per symbol
    max_gross: float = 1.0  # sum of |weights|
    flat_at_close: bool = False
    fill: str = "next_open"

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"`fill` must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"`sizing` must be one of {', '.join(SIZINGS)}, got {self.sizing!r}")
        if not 0 <= self.long_threshold <= 1:
            raise ValueError(f"`long_threshold` must be in [0, 1], got {self.long_threshold}")
        if self.short_threshold is not None and not 0 <= self.short_threshold < self.long_threshold:
            raise ValueError(f"`short_threshold` must be in [0, long_threshold), got {self.short_threshold}")
        if self.min_hold < 1 or (self.max_hold is not None and self.max_hold < self.min_hold):
            raise ValueError(f"need 1 <= min_hold <= max_hold, got min_hold={self.min_hold}, max_hold={self.max_hold}")
        if self.cooldown < 0 or self.max_weight <= 0 or self.max_gross <= 0:
            raise ValueError("`cooldown` must be >= 0 and `max_weight`, `max_gross` > 0")

    def with_model_quantiles(self, quantiles: dict[str, float] | None) -> StrategyParams:
        """Thresholds from the model's validation score quantiles where a quantile is asked for."""
        if self.long_quantile is None and self.short_quantile is None:
            return self
        if not quantiles:
            raise ValueError("long_quantile / short_quantile need the model's validation score quantiles (retrain it)")
        values = asdict(self)
        for side in ("long", "short"):
            q = values[f"{side}_quantile"]
            if q is not None:
                key = f"{q:.2f}"
                if key not in quantiles:
                    raise ValueError(f"`{side}_quantile` must be a multiple of 0.05 in [0.05, 0.95], got {q}")
                values[f"{side}_threshold"], values[f"{side}_quantile"] = quantiles[key], None
        return StrategyParams(**values)

    @classmethod
    def parse_value(cls, pair: str) -> tuple[str, str]:
        """NAME=VALUE -> (field name, value text), refusing unknown names with a suggestion."""
        known = [f.name for f in fields(cls)]
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            raise ValueError(f"unknown strategy parameter {name!r}" + (f"; did you mean {hint[0]}?" if hint else ""))
        return name, text.strip()

    @classmethod
    def from_pairs(cls, pairs: list[str], base: StrategyParams | None = None) -> StrategyParams:
        """Apply NAME=VALUE strings (the CLI's --param)."""
        types = {f.name: f.type for f in fields(cls)}
        values = asdict(base or cls())
        for pair in pairs:
            name, text = cls.parse_value(pair)
            values[name] = _parse(text, values[name], types[name])
        return cls(**values)


def _parse(text: str, current, annotation: str):
    if text.lower() in ("none", "off", ""):
        return None
    if "bool" in str(annotation):
        return text.lower() in ("1", "true", "yes", "on")
    if "int" in str(annotation) and "float" not in str(annotation):
        return int(text)
    if "float" in str(annotation):
        return float(text)
    return text


@dataclass
class Panel:
    """Bars x symbols matrices of a window: what the kernels and every engine read."""

    index: pd.DatetimeIndex
    symbols: list[str]
    proba: np.ndarray  # the prediction made on each bar (NaN: none)
    has_bar: np.ndarray
    last_of_session: np.ndarray
    open: np.ndarray  # NaN where the symbol has no bar
    close: np.ndarray

    def fill_prices(self, fill: str) -> np.ndarray:
        """Each bar's fill price, carried over a symbol's missing bars (NaN before its first)."""
        prices = pd.DataFrame(self.open if fill == "next_open" else self.close)
        return prices.ffill().to_numpy()


def make_panel(predictions: pd.DataFrame, bars: pd.DataFrame) -> Panel:
    """predictions: symbol, ts, proba_up; bars: symbol, ts, open, close, last_of_session."""
    if predictions.empty:
        raise ValueError("no predictions to trade on")
    merged = bars.merge(predictions[["symbol", "ts", "proba_up"]], on=["symbol", "ts"], how="left")

    def matrix(column: str, fill) -> pd.DataFrame:
        return merged.pivot(index="ts", columns="symbol", values=column).sort_index()

    proba = matrix("proba_up", np.nan)
    symbols = list(proba.columns)
    opens = matrix("open", np.nan)[symbols]
    return Panel(
        index=pd.DatetimeIndex(proba.index),
        symbols=symbols,
        proba=proba.to_numpy(float),
        has_bar=opens.notna().to_numpy(),
        last_of_session=matrix("last_of_session", False)[symbols].fillna(False).to_numpy(bool),
        open=opens.to_numpy(float),
        close=matrix("close", np.nan)[symbols].to_numpy(float),
    )


def kernel_params(params: StrategyParams, n_symbols: int) -> tuple:
    """The strategy's parameters in the kernels' order and encoding (None -> -1, sizing ->
    a flag, the default position size -> 1 / n_symbols)."""
    size = params.position_size if params.position_size is not None else 1.0 / max(n_symbols, 1)
    return (
        params.long_threshold, -1.0 if params.short_threshold is None else params.short_threshold,
        params.min_confidence, params.min_hold, -1 if params.max_hold is None else params.max_hold, params.cooldown,
        params.sizing == "confidence", size, params.full_size_confidence, params.max_weight, params.max_gross,
        params.flat_at_close,
    )  # fmt: skip


def weights_matrix(panel: Panel, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """Target weights (bars x symbols, held from each fill on, after caps) and sides."""
    from backtests.kernels import strategy_weights

    return strategy_weights(panel.proba, panel.has_bar, panel.last_of_session, *kernel_params(params, len(panel.symbols)))


def change_matrix(weights: np.ndarray, has_bar: np.ndarray) -> np.ndarray:
    """New target weights where a symbol's target changes on one of its bars, NaN elsewhere."""
    changes = np.full(weights.shape, np.nan)
    previous = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])
    moved = has_bar & (weights != previous)
    changes[moved] = weights[moved]
    return changes


def target_weights(predictions: pd.DataFrame, bars: pd.DataFrame, params: StrategyParams) -> pd.DataFrame:
    """Signals: one row per (symbol, decision bar) that has a next bar.

    predictions: symbol, ts, proba_up. bars: symbol, ts, open, close, last_of_session (every
    bar of the window, predicted or not). Returns symbol, ts (decision bar), fill_ts,
    fill_price, proba_up, side, target_weight (held from fill_ts on, after the caps).
    """
    panel = make_panel(predictions, bars)
    weights, sides = weights_matrix(panel, params)
    prices = panel.open if params.fill == "next_open" else panel.close
    parts = []
    for j, symbol in enumerate(panel.symbols):
        rows = np.flatnonzero(panel.has_bar[:, j])
        decision, fill = rows[:-1], rows[1:]
        parts.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "ts": panel.index[decision],
                    "fill_ts": panel.index[fill],
                    "fill_price": prices[fill, j],
                    "proba_up": panel.proba[decision, j],
                    "side": sides[fill, j],
                    "target_weight": weights[fill, j],
                }
            )
        )
    return pd.concat(parts, ignore_index=True).sort_values(["fill_ts", "symbol"], ignore_index=True)
