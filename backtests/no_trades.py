"""Why a backtest made no trade: one line from the actual signals and the strategy's thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.strategy import StrategyParams


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def why_no_trades(predictions: pd.DataFrame, params: StrategyParams) -> str:
    """The reason a strategy with ``params`` (thresholds resolved, as it traded) entered no
    position on ``predictions`` (columns proba_up, score, score_pct), and a parameter to try."""
    if predictions.empty:
        return "0 trades: no predictions in the window asked for (check --start/--end and --symbol)"
    if params.kind != "threshold":
        return f"0 trades: the {params.kind} strategy never changed a position (check topk, rebalance and max_gross)"
    name = params.threshold_on
    signal = predictions[name].to_numpy(float)
    signal = signal[~np.isnan(signal)]
    if signal.size == 0:
        return f"0 trades: every {name} is missing in the predictions (re-run `alphaduck predict`)"
    low, high = float(signal.min()), float(signal.max())
    short = params.short_threshold
    if high < params.long_threshold and (short is None or low > short):
        quantile = "long_quantile" if name == "score_pct" else "long_threshold"
        suggestion = float(np.quantile(signal, 0.8))
        shorts = f" / short_threshold {_fmt(short)}" if short is not None else ""
        if name == "score_pct":  # the long_quantile became a threshold on the score's percentile
            what = f"every score's validation percentile lies between {_fmt(low)} and {_fmt(high)}"
            limit = f"below long_quantile {_fmt(params.long_threshold)}{shorts}"
            hint = f"try --param long_quantile={suggestion:.2f}"
        else:
            what = f"every {name} lies between {_fmt(low)} and {_fmt(high)}"
            limit = f"inside long_threshold {_fmt(params.long_threshold)}{shorts}" if short is not None else (
                f"below long_threshold {_fmt(params.long_threshold)}")  # fmt: skip
            hint = f"try --param long_quantile=0.8 (the model's top-fifth scores) or --param {quantile}={suggestion:.2f}"
        return f"0 trades: {what}, {limit}: {hint}"
    if params.min_confidence > 0 and "proba_up" in predictions:
        confidence = np.abs(predictions["proba_up"].to_numpy(float) - 0.5) * 2
        top = float(np.nanmax(confidence)) if np.isfinite(confidence).any() else 0.0
        if top < params.min_confidence:
            return (
                f"0 trades: confidence |proba_up - 0.5| * 2 never exceeds {_fmt(top)}, below min_confidence "
                f"{_fmt(params.min_confidence)}: try --param min_confidence={top / 2:.2f}"
            )
    return (
        f"0 trades: {name} reaches a threshold ({_fmt(low)}..{_fmt(high)}) but no entry was filled: each such bar "
        "was a symbol's last bar or a session's last bar with flat_at_close (try a wider --start/--end)"
    )


def explain_no_trades(db, config) -> str:
    """:func:`why_no_trades` for a backtest ``config`` on warehouse ``db``, read as the backtest read them."""
    from alphaduck.warehouse import Warehouse
    from backtests.backtest import load_inputs, resolve_params

    inputs = load_inputs(Warehouse.of(db), config)
    params = resolve_params(config.params, inputs.model, allow_fill_mismatch=config.allow_fill_mismatch)
    return why_no_trades(inputs.predictions, params)
