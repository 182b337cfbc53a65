"""A model's validation window, scored in memory: where a sweep chooses its configuration
and where every backtest shows its in-sample figures beside the out-of-sample ones.

Nothing here is written to ml.predictions: the validation window is the model's, the
scores are reproducible from its file, and keeping them out of the table keeps analysts'
hit rates on the windows the model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import Warehouse
from backtests import data


@dataclass
class ScoredWindow:
    predictions: pd.DataFrame  # symbol, ts, proba_up, score
    bars: pd.DataFrame  # symbol, ts, open, high, low, close, session_date, last_of_session
    bars_per_year: float
    window: tuple[str, str]


def score_validation(db: Warehouse | str | Path | None, model) -> ScoredWindow:
    """The model's validation window: its feature rows scored by the model, and the bars."""
    from alphaduck.features import built_features
    from ml import data as feature_data
    from ml.registry import check_fits

    start, end = model.metadata["windows"]["valid"]
    with Warehouse.of(db).reader() as con:
        check_fits(model, con)
        calendar = built_features(con).calendar
        loaded = feature_data.load_features(
            con, bar_size=model.metadata["bar_size"], features=model.features, symbols=model.metadata["symbols"],
            start=start, end=end,
        )  # fmt: skip
        if loaded.frame.empty:
            raise AlphaduckError(f"model {model.run_id}: no feature rows in its validation window {start}..{end}")
        frame = loaded.frame
        X = frame[model.features].to_numpy(dtype="float32")
        score, raw = model.score(X), model.raw_score(X)
        if model.metadata["objective"] != "classification":
            score = (score > 0).astype(float)  # as data.load_predictions reads a regressor's rows
        predictions = pd.DataFrame({"symbol": frame["symbol"], "ts": frame["ts"], "proba_up": score, "score": raw,
                                    "score_pct": model.score_percentile(frame["ts"], raw)})  # fmt: skip
        bars = data.bars_for(con, predictions, model.metadata["bar_size"])
        per_year = data.bars_per_year(bars[bars["ts"] <= predictions["ts"].max()], calendar)
    return ScoredWindow(predictions, bars, per_year, (start, end))
