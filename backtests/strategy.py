"""From predictions to target weights (pure functions on DataFrames).

A decision is made on bar t's close from the prediction at t and filled on the symbol's
next bar t+1 (at its open by default, or its close): the weights this module returns are
indexed by the FILL bar, which is what an engine that trades at "this row's price" needs.

Per symbol, a small state machine turns predictions into positions:
  - enter long when the signal >= long_threshold (short when <= short_threshold, off by
    default), if confidence = |proba_up - 0.5| * 2 >= min_confidence; the signal is proba_up,
    or with quantile thresholds (long_quantile=0.8) the model's uncalibrated score, whose
    validation-window quantile is the threshold, so the named share of rows is selected;
  - hold at least min_hold bars, at most max_hold; exit when the signal no longer agrees;
  - after an exit, wait cooldown bars before the next entry (with no cooldown a reversal
    long <-> short happens on one fill);
  - with flat_at_close, hold nothing across a session close (the fill on a session's last
    bar is an exit, and no entry is filled there);
  - a symbol trades from its first bar to its last: on its last bar before the panel ends
    (a delisting, or the end of its data) its position is closed and nothing is entered.
The size is fixed at entry (a fixed weight, or that weight scaled by confidence), capped
per symbol; entries that would take gross exposure over max_gross share what is left.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

FILLS = ("next_open", "next_close")
DEFAULT_FILL = "next_open"  # DESIGN.md: a decision on bar t's close is filled at bar t+1's open
SIZINGS = ("fixed", "confidence")
SIGNALS = ("proba_up", "score")


@dataclass(frozen=True)
class StrategyParams:
    long_threshold: float = 0.55
    short_threshold: float | None = None  # e.g. 0.45 to allow shorts
    # instead of the thresholds: quantiles of the model's uncalibrated scores on its
    # validation window (before the test window), e.g. long_quantile=0.8 goes long on its
    # top-fifth scores
    long_quantile: float | None = None
    short_quantile: float | None = None
    # what the thresholds compare: proba_up (a classifier's calibrated probability, or 1/0
    # by the sign of a regressor's return) or score (the uncalibrated output: a classifier's
    # raw probability, a regressor's predicted return); quantile thresholds use score
    threshold_on: str = "proba_up"
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
    fill: str | None = None  # next_open | next_close; default: the fill the model's labels measure

    def __post_init__(self) -> None:
        if self.fill is not None and self.fill not in FILLS:
            raise ValueError(f"`fill` must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"`sizing` must be one of {', '.join(SIZINGS)}, got {self.sizing!r}")
        if self.threshold_on not in SIGNALS:
            raise ValueError(f"`threshold_on` must be one of {', '.join(SIGNALS)}, got {self.threshold_on!r}")
        if self.threshold_on == "proba_up" and not 0 <= self.long_threshold <= 1:
            raise ValueError(f"`long_threshold` must be in [0, 1], got {self.long_threshold}")
        low = 0 if self.threshold_on == "proba_up" else -np.inf
        if self.short_threshold is not None and not low <= self.short_threshold < self.long_threshold:
            raise ValueError(f"`short_threshold` must be in [{low:g}, long_threshold), got {self.short_threshold}")
        for side in ("long", "short"):
            q = getattr(self, f"{side}_quantile")
            if q is not None and not 0 < q < 1:
                raise ValueError(f"`{side}_quantile` must be in (0, 1), got {q}")
        if self.long_quantile is not None and self.short_quantile is not None and not self.short_quantile < self.long_quantile:
            raise ValueError(f"`short_quantile` must be below `long_quantile`, got {self.short_quantile} >= {self.long_quantile}")
        if self.min_hold < 1 or (self.max_hold is not None and self.max_hold < self.min_hold):
            raise ValueError(f"need 1 <= min_hold <= max_hold, got min_hold={self.min_hold}, max_hold={self.max_hold}")
        if self.cooldown < 0 or self.max_weight <= 0 or self.max_gross <= 0:
            raise ValueError("`cooldown` must be >= 0 and `max_weight`, `max_gross` > 0")

    def with_model_quantiles(self, quantiles: dict[str, float] | None) -> StrategyParams:
        """Thresholds from the model's validation-window quantiles of its uncalibrated score
        (keys '0.01' .. '0.99') where a quantile is asked for: the signal becomes the score,
        so long_quantile=0.8 selects the top fifth of scores (the calibrated probability is a
        step function whose ties would select far more). Both sides then rank by score: a
        probability threshold cannot be mixed in."""
        if self.long_quantile is None and self.short_quantile is None:
            return self
        if not quantiles:
            raise ValueError("long_quantile / short_quantile need the model's validation score quantiles (retrain it)")
        values = asdict(self)
        if self.long_quantile is None:
            values["long_threshold"] = 1e308  # shorts only
        if self.short_quantile is None and self.short_threshold is not None:
            raise ValueError("`short_threshold` compares probabilities; with `long_quantile` give `short_quantile` instead")
        for side in ("long", "short"):
            q = values[f"{side}_quantile"]
            if q is not None:
                key = f"{q:.2f}"
                if key not in quantiles or abs(q - round(q, 2)) > 1e-9:
                    raise ValueError(f"`{side}_quantile` must be a multiple of 0.01 in [0.01, 0.99], got {q}")
                values[f"{side}_threshold"], values[f"{side}_quantile"] = quantiles[key], None
        values["threshold_on"] = "score"
        return StrategyParams(**values)

    def resolve_fill(self, label_fill: str | None, *, allow_mismatch: bool = False) -> StrategyParams:
        """The fill to trade at: the one asked for, else the one the model's labels measure.
        A fill that differs from the labels' is refused unless ``allow_mismatch``: the model
        learnt returns this strategy cannot earn."""
        fill = self.fill or label_fill or DEFAULT_FILL
        if label_fill and fill != label_fill and not allow_mismatch:
            price = label_fill.removeprefix("next_")
            raise ValueError(
                f"`fill={fill}` differs from the fill the model's labels measure ({label_fill}: built with "
                f"label_price={price}); rebuild the labels with `alphaduck build --var label_price="
                f"{fill.removeprefix('next_')}` and retrain, or pass --allow-fill-mismatch"
            )
        return replace(self, fill=fill)

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
    if text.lower() in ("none", "off", "") and "None" in str(annotation):
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
    score: np.ndarray  # the model's uncalibrated score on each bar (NaN: none)
    has_bar: np.ndarray
    last_of_session: np.ndarray
    last_bar: np.ndarray  # a symbol's final bar when it ends before the panel does (delisting)
    open: np.ndarray  # NaN where the symbol has no bar
    close: np.ndarray

    def fill_prices(self, fill: str) -> np.ndarray:
        """Each bar's fill price, carried over a symbol's missing bars (NaN before its first)."""
        prices = pd.DataFrame(self.open if fill == "next_open" else self.close)
        return prices.ffill().to_numpy()

    def signal(self, params: StrategyParams) -> np.ndarray:
        """What the thresholds compare: proba_up, or the uncalibrated score."""
        return self.score if params.threshold_on == "score" else self.proba

    @property
    def confidence(self) -> np.ndarray:
        """|proba_up - 0.5| * 2 in [0, 1]; 0 where there is no probability."""
        return np.nan_to_num(np.abs(self.proba - 0.5) * 2.0, nan=0.0)


def last_bars(has_bar: np.ndarray) -> np.ndarray:
    """True at each symbol's final bar when that bar comes before the panel's last row: the
    symbol stops trading there (delisted, or its data ends), so its position is closed."""
    out = np.zeros(has_bar.shape, dtype=bool)
    n_bars = has_bar.shape[0]
    for j in range(has_bar.shape[1]):
        rows = np.flatnonzero(has_bar[:, j])
        if len(rows) and rows[-1] < n_bars - 1:
            out[rows[-1], j] = True
    return out


def make_panel(predictions: pd.DataFrame, bars: pd.DataFrame) -> Panel:
    """predictions: symbol, ts, proba_up (and score); bars: symbol, ts, open, close, last_of_session."""
    if predictions.empty:
        raise ValueError("no predictions to trade on")
    wanted = ["symbol", "ts", "proba_up"] + (["score"] if "score" in predictions else [])
    merged = bars.merge(predictions[wanted], on=["symbol", "ts"], how="left")
    if "score" not in merged:
        merged["score"] = merged["proba_up"]

    def matrix(column: str) -> pd.DataFrame:
        return merged.pivot(index="ts", columns="symbol", values=column).sort_index()

    proba = matrix("proba_up")
    symbols = list(proba.columns)
    opens = matrix("open")[symbols]
    has_bar = opens.notna().to_numpy()
    return Panel(
        index=pd.DatetimeIndex(proba.index),
        symbols=symbols,
        proba=proba.to_numpy(float),
        score=matrix("score")[symbols].to_numpy(float),
        has_bar=has_bar,
        last_of_session=matrix("last_of_session")[symbols].fillna(False).to_numpy(bool),
        last_bar=last_bars(has_bar),
        open=opens.to_numpy(float),
        close=matrix("close")[symbols].to_numpy(float),
    )


def kernel_params(params: StrategyParams, n_symbols: int):
    """The strategy's parameters as the kernels read them (a KernelParams named tuple; the
    default position size is 1 / n_symbols)."""
    from backtests.kernels import KernelParams

    size = params.position_size if params.position_size is not None else 1.0 / max(n_symbols, 1)
    return KernelParams(
        long_threshold=float(params.long_threshold),
        short_threshold=float(params.short_threshold) if params.short_threshold is not None else 0.0,
        use_short=params.short_threshold is not None,
        min_confidence=float(params.min_confidence),
        min_hold=int(params.min_hold),
        max_hold=-1 if params.max_hold is None else int(params.max_hold),
        cooldown=int(params.cooldown),
        confidence_sizing=params.sizing == "confidence",
        size=float(size),
        full_size_confidence=float(params.full_size_confidence),
        max_weight=float(params.max_weight),
        max_gross=float(params.max_gross),
        flat_at_close=bool(params.flat_at_close),
    )


def weights_matrix(panel: Panel, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """Target weights (bars x symbols, held from each fill on, after caps) and sides."""
    from backtests.kernels import strategy_weights

    return strategy_weights(
        panel.signal(params), panel.confidence, panel.has_bar, panel.last_of_session, panel.last_bar,
        kernel_params(params, len(panel.symbols)),
    )  # fmt: skip


def change_matrix(weights: np.ndarray, has_bar: np.ndarray) -> np.ndarray:
    """New target weights where a symbol's target changes on one of its bars, NaN elsewhere."""
    changes = np.full(weights.shape, np.nan)
    previous = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])
    moved = has_bar & (weights != previous)
    changes[moved] = weights[moved]
    return changes


def target_weights(predictions: pd.DataFrame, bars: pd.DataFrame, params: StrategyParams) -> pd.DataFrame:
    """Signals: one row per (symbol, decision bar) that has a next bar.

    predictions: symbol, ts, proba_up (and score). bars: symbol, ts, open, close,
    last_of_session (every bar of the window, predicted or not); ``params.fill`` unset means
    the default fill. Returns symbol, ts (decision bar), fill_ts,
    fill_price, proba_up, side, target_weight (held from fill_ts on, after the caps).
    """
    panel = make_panel(predictions, bars)
    weights, sides = weights_matrix(panel, params)
    prices = panel.open if (params.fill or DEFAULT_FILL) == "next_open" else panel.close
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
