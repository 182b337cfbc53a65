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

import functools

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

from alphaduck.pairs import split_pairs

KINDS = ("threshold", "topk", "long_short")
FILLS = ("next_open", "next_close")
DEFAULT_FILL = "next_open"  # DESIGN.md: a decision on bar t's close is filled at bar t+1's open
SIZINGS = ("fixed", "confidence")
SIGNALS = ("proba_up", "score", "score_pct")


@dataclass(frozen=True)
class StrategyParams:
    # threshold: per symbol, on its own prediction (the rules below); topk: hold the topk
    # best-scored symbols, replacing at most n_drop a rebalance (Qlib's TopkDropoutStrategy);
    # long_short: topk long and topk short (the worst-scored), dollar neutral
    kind: str = "threshold"
    topk: int = 5
    n_drop: int = 1
    rebalance: int = 1  # topk / long_short: decide every this many bars
    long_threshold: float = 0.55
    short_threshold: float | None = None  # e.g. 0.45 to allow shorts
    # instead of the thresholds: quantiles of the model's uncalibrated scores on its
    # validation window (before the test window), e.g. long_quantile=0.8 goes long on its
    # top-fifth scores
    long_quantile: float | None = None
    short_quantile: float | None = None
    # what the thresholds compare: proba_up (a classifier's calibrated probability, or 1/0
    # by the sign of a regressor's return), score (the uncalibrated output: a classifier's
    # raw probability, a regressor's predicted return) or score_pct (where the score falls
    # among the model's validation scores, 0..1); quantile thresholds use score_pct
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
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.topk < 1 or not 0 <= self.n_drop <= self.topk or self.rebalance < 1:
            raise ValueError(
                f"need topk >= 1, 0 <= n_drop <= topk and rebalance >= 1, got topk={self.topk}, n_drop={self.n_drop}, "
                f"rebalance={self.rebalance}"
            )
        if self.fill is not None and self.fill not in FILLS:
            raise ValueError(f"`fill` must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"`sizing` must be one of {', '.join(SIZINGS)}, got {self.sizing!r}")
        if self.threshold_on not in SIGNALS:
            raise ValueError(f"`threshold_on` must be one of {', '.join(SIGNALS)}, got {self.threshold_on!r}")
        if self.threshold_on == "proba_up" and not 0 <= self.long_threshold <= 1:
            raise ValueError(f"`long_threshold` must be in [0, 1], got {self.long_threshold}")
        low = -np.inf if self.threshold_on == "score" else 0
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

    def with_quantile_thresholds(self) -> StrategyParams:
        """Thresholds where a quantile is asked for: long_quantile=0.8 goes long when the
        score's percentile among the model's validation scores is at least 0.8, i.e. on the
        top fifth (the calibrated probability is a step function whose ties would select
        more; a regressor's sign would select half). Both sides then compare percentiles: a
        probability threshold cannot be mixed in."""
        if self.long_quantile is None and self.short_quantile is None:
            return self
        if self.short_quantile is None and self.short_threshold is not None:
            raise ValueError("`short_threshold` compares probabilities; with `long_quantile` give `short_quantile` instead")
        return replace(
            self,
            long_threshold=self.long_quantile if self.long_quantile is not None else 2.0,  # 2: shorts only
            short_threshold=self.short_quantile,
            long_quantile=None,
            short_quantile=None,
            threshold_on="score_pct",
        )

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
    def from_pairs(cls, pairs: list[str], base: StrategyParams | None = None) -> StrategyParams:
        """Apply NAME=VALUE strings (the CLI's --param), refusing unknown names with a suggestion."""
        types = {f.name: f.type for f in fields(cls)}
        values = asdict(base or cls())
        for name, text in split_pairs(pairs, types, what="strategy parameter"):
            try:
                values[name] = _parse(text, values[name], types[name])
            except ValueError:  # int()/float() would not say which parameter
                kind = _KINDS.get(str(types[name]).replace(" | None", ""), str(types[name]))
                none = " (or none)" if "None" in str(types[name]) else ""
                raise ValueError(f"{name}={text!r}: {text!r} is not {kind}{none}") from None
        return cls(**values)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false"}


def _parse(text: str, current, annotation: str):
    if text.lower() in ("none", "off", "") and "None" in str(annotation):
        return None
    if "bool" in str(annotation):
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(text)
        return text.lower() in _TRUE
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
    score_pct: np.ndarray  # that score's percentile among the model's validation scores (NaN: none)
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
        """What the thresholds compare: proba_up, the uncalibrated score or its percentile."""
        return {"proba_up": self.proba, "score": self.score, "score_pct": self.score_pct}[params.threshold_on]

    @functools.cached_property
    def confidence(self) -> np.ndarray:
        """|proba_up - 0.5| * 2 in [0, 1]; 0 where there is no probability (computed once: a
        sweep reads it for each of its thousand configurations)."""
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
    """predictions: symbol, ts, proba_up (and score, score_pct); bars: symbol, ts, open, close,
    last_of_session."""
    if predictions.empty:
        raise ValueError("no predictions to trade on")
    wanted = ["symbol", "ts", "proba_up"] + [c for c in ("score", "score_pct") if c in predictions]
    merged = bars.merge(predictions[wanted], on=["symbol", "ts"], how="left")
    if "score" not in merged:
        merged["score"] = merged["proba_up"]
    if "score_pct" not in merged:
        merged["score_pct"] = np.nan

    def matrix(column: str) -> pd.DataFrame:
        return merged.pivot(index="ts", columns="symbol", values=column).sort_index()

    proba = matrix("proba_up")
    symbols = list(proba.columns)
    opens = matrix("open")[symbols]
    has_bar = opens.notna().to_numpy()
    last_bar = last_bars(has_bar)
    if "leaves" in merged:  # --universe: a symbol leaving it is closed there, as at a delisting
        last_bar |= matrix("leaves")[symbols].fillna(False).to_numpy(bool)
    return Panel(
        index=pd.DatetimeIndex(proba.index),
        symbols=symbols,
        proba=proba.to_numpy(float),
        score=matrix("score")[symbols].to_numpy(float),
        score_pct=matrix("score_pct")[symbols].to_numpy(float),
        has_bar=has_bar,
        last_of_session=matrix("last_of_session")[symbols].fillna(False).to_numpy(bool),
        last_bar=last_bar,
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


def topk_weights(panel: Panel, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """Target weights (bars x symbols, held from each fill on) of a ranking strategy.

    Every ``rebalance`` bars, on the scores of the symbols tradable at that bar, Qlib's
    TopkDropoutStrategy: of the names held (best score first) and the best-scored names not
    held (as many as n_drop + topk - held), the held ones among the n_drop worst of the two
    together are sold, and the best new ones bought until topk are held again. Each name
    weighs 1 / topk (long_short: the topk best long at +0.5 / topk and the topk worst short at
    -0.5 / topk, each side with its own dropout, so the book is dollar neutral). A decision on
    bar t is filled on each symbol's next bar; a symbol that stops trading (its last bar
    before the panel ends) is sold there.
    """
    n_bars, n_symbols = panel.score.shape
    sides = (1, -1) if params.kind == "long_short" else (1,)
    size = (0.5 if params.kind == "long_short" else 1.0) / params.topk
    next_row = np.full((n_bars, n_symbols), -1, dtype=np.int64)  # each symbol's next bar after row t
    following = np.full(n_symbols, -1, dtype=np.int64)
    for t in range(n_bars - 1, -1, -1):
        next_row[t] = following
        following = np.where(panel.has_bar[t], t, following)
    held: dict[int, list[int]] = {side: [] for side in sides}
    assignments: dict[int, dict[int, float]] = {}  # symbol -> {fill row: weight}
    for t in range(0, n_bars, params.rebalance):
        tradable = panel.has_bar[t] & ~panel.last_bar[t] & (next_row[t] >= 0)
        for side in sides:
            score = panel.score[t] * side  # the short side ranks the worst first
            other = set(held[-side]) if params.kind == "long_short" else set()

            # held names best first; one without a score or a next bar sorts last (Qlib's NaN)
            rank = np.where(tradable & ~np.isnan(score), score, -np.inf)
            last = sorted(held[side], key=lambda j, rank=rank: rank[j], reverse=True)
            candidates = [j for j in np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
                          if tradable[j] and score[j] == score[j] and j not in last and j not in other]  # fmt: skip
            today = candidates[: params.n_drop + params.topk - len(last)]
            combined = sorted(last + today, key=lambda j, rank=rank: rank[j], reverse=True)
            worst = set(combined[len(combined) - params.n_drop :]) if params.n_drop else set()
            sell = [j for j in last if j in worst or not tradable[j]]
            buy = today[: len(sell) + params.topk - len(last)]
            for j in sell:
                if next_row[t, j] >= 0:
                    assignments.setdefault(j, {})[int(next_row[t, j])] = 0.0
            for j in buy:
                assignments.setdefault(j, {})[int(next_row[t, j])] = side * size
            held[side] = [j for j in last if j not in sell] + buy
    weights = np.zeros((n_bars, n_symbols))
    for j, fills in assignments.items():
        current, rows = 0.0, sorted(fills)
        for k, row in enumerate(rows):
            end = rows[k + 1] if k + 1 < len(rows) else n_bars
            current = fills[row]
            weights[row:end, j] = current
    # a symbol that stops trading is sold on its last bar and not held until it trades again
    # (a symbol that left a universe and came back)
    for j in range(n_symbols):
        for end in np.flatnonzero(panel.last_bar[:, j]):
            back = np.flatnonzero(panel.has_bar[end + 1 :, j] & ~panel.has_bar[end:-1, j])
            weights[end : end + 1 + back[0] if len(back) else None, j] = 0.0
    return weights, np.sign(weights).astype(np.int8)


def weights_matrix(panel: Panel, params: StrategyParams) -> tuple[np.ndarray, np.ndarray]:
    """Target weights (bars x symbols, held from each fill on, after caps) and sides."""
    from backtests.kernels import strategy_weights

    if params.kind != "threshold":
        return topk_weights(panel, params)

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
