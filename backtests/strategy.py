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
    def from_pairs(cls, pairs: list[str], base: StrategyParams | None = None) -> StrategyParams:
        """Apply NAME=VALUE strings (the CLI's --param), refusing unknown names with a suggestion."""
        base = base or cls()
        known = {f.name: f for f in fields(cls)}
        values = asdict(base)
        for pair in pairs:
            name, sep, text = pair.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                raise ValueError(f"unknown strategy parameter {name!r}" + (f"; did you mean {hint[0]}?" if hint else ""))
            values[name] = _parse(text.strip(), values[name], known[name].type)
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


def _symbol_positions(
    proba: np.ndarray, last_of_session: np.ndarray, params: StrategyParams, size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Side (-1/0/1) and weight held after each bar's fill, for one symbol's bars in order.

    Bar i's decision (from proba[i]) sets the position held from bar i+1's fill.
    """
    n = len(proba)
    side_at = np.zeros(n, dtype=np.int8)
    weight_at = np.zeros(n)
    side, weight, entry, blocked_until = 0, 0.0, -1, -1
    for i in range(n - 1):
        fill = i + 1
        p = proba[i]
        confidence = abs(p - 0.5) * 2 if p == p else 0.0
        desired = 0
        if p == p and confidence >= params.min_confidence:
            if p >= params.long_threshold:
                desired = 1
            elif params.short_threshold is not None and p <= params.short_threshold:
                desired = -1
        forced_flat = params.flat_at_close and last_of_session[fill]
        exited = 0
        if side != 0:
            held = fill - entry
            if forced_flat or (params.max_hold is not None and held >= params.max_hold) or (
                desired != side and held >= params.min_hold
            ):
                exited, side, weight = side, 0, 0.0
                blocked_until = fill + params.cooldown
        # no entry on the fill that exited, except a reversal when there is no cooldown
        may_enter = fill > blocked_until or (params.cooldown == 0 and exited != 0 and desired == -exited)
        if side == 0 and desired != 0 and not forced_flat and may_enter:
            side, entry = desired, fill
            scale = 1.0 if params.sizing == "fixed" else min(1.0, confidence / params.full_size_confidence)
            weight = min(size * scale, params.max_weight)
        side_at[fill], weight_at[fill] = side, side * weight
    return side_at, weight_at


def target_weights(predictions: pd.DataFrame, bars: pd.DataFrame, params: StrategyParams) -> pd.DataFrame:
    """Signals: one row per (symbol, decision bar) that has a next bar.

    predictions: symbol, ts, proba_up. bars: symbol, ts, open, close, last_of_session (every
    bar of the window, predicted or not). Returns symbol, ts (decision bar), fill_ts,
    fill_price, proba_up, side, target_weight (held from fill_ts on, after the caps).
    """
    if predictions.empty:
        raise ValueError("no predictions to trade on")
    symbols = sorted(bars["symbol"].unique())
    size = params.position_size if params.position_size is not None else 1.0 / max(len(symbols), 1)
    price_column = "open" if params.fill == "next_open" else "close"
    merged = bars.merge(predictions[["symbol", "ts", "proba_up"]], on=["symbol", "ts"], how="left")
    merged = merged.sort_values(["symbol", "ts"], ignore_index=True)
    parts = []
    for symbol, g in merged.groupby("symbol", sort=True):
        side, weight = _symbol_positions(
            g["proba_up"].to_numpy(float), g["last_of_session"].to_numpy(bool), params, size
        )
        parts.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "ts": g["ts"].to_numpy()[:-1],
                    "fill_ts": g["ts"].to_numpy()[1:],
                    "fill_price": g[price_column].to_numpy(float)[1:],
                    "proba_up": g["proba_up"].to_numpy(float)[:-1],
                    "side": side[1:],
                    "target_weight": weight[1:],
                }
            )
        )
    signals = pd.concat(parts, ignore_index=True)
    signals["target_weight"] = cap_gross(signals, params.max_gross)
    return signals.sort_values(["fill_ts", "symbol"], ignore_index=True)


def cap_gross(signals: pd.DataFrame, max_gross: float) -> np.ndarray:
    """Target weights with gross exposure capped: at each fill time positions already held
    keep their weight and new entries share what is left of max_gross, pro rata."""
    ordered = signals.sort_values(["fill_ts", "symbol"])
    weights = ordered["target_weight"].to_numpy(float).copy()
    changed = ordered.groupby("symbol")["target_weight"].diff().fillna(ordered["target_weight"]).to_numpy() != 0
    symbols = ordered["symbol"].to_numpy()
    times = ordered["fill_ts"].to_numpy()
    scaled = weights.copy()
    held: dict[str, float] = {}
    idx = np.flatnonzero(changed)
    # groups of change events at the same fill time, in time order
    boundaries = np.flatnonzero(np.r_[True, times[idx][1:] != times[idx][:-1]]) if len(idx) else []
    for k, start in enumerate(boundaries):
        stop = boundaries[k + 1] if k + 1 < len(boundaries) else len(idx)
        events = idx[start:stop]
        for j in events:  # exits (and the exit half of flips) free capacity first
            held.pop(symbols[j], None)
        entering = [j for j in events if weights[j] != 0]
        wanted = sum(abs(weights[j]) for j in entering)
        room = max(max_gross - sum(abs(w) for w in held.values()), 0.0)
        scale = min(1.0, room / wanted) if wanted > 0 else 1.0
        for j in entering:
            scaled[j] = weights[j] * scale
            held[symbols[j]] = scaled[j]
    # every row carries the weight its symbol holds after its latest change
    out = np.empty(len(weights))
    current: dict[str, float] = {}
    for j in range(len(weights)):
        if changed[j]:
            current[symbols[j]] = scaled[j]
        out[j] = current.get(symbols[j], 0.0)
    result = np.empty(len(out))
    result[ordered.index.to_numpy()] = out
    return result
