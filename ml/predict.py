"""`python -m ml.predict` (also `alphaduck predict`): score feature rows with a registered
model and upsert them into ml.predictions, so analysts and the backtests read predictions
in SQL. This module writes ml.predictions and owns its definition (PREDICTIONS_DDL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import PREDICTION_KEY, PREDICTIONS, TRAIN_RUNS
from alphaduck.errors import AlphaduckError
from alphaduck.features import FEATURE_TABLE, LABEL_NEUTRAL, feature_columns, label_kind
from alphaduck.warehouse import Warehouse, relation_exists
from ml import data as feature_data
from ml.registry import RegisteredModel, check_fits, resolve

PREDICTIONS_DDL = f"""
create schema if not exists {PREDICTIONS.split('.')[0]};
create table if not exists {PREDICTIONS} (
    run_id varchar not null,            -- models/<run_id>/ that scored the row
    symbol varchar not null,
    bar_size varchar not null,
    ts timestamptz not null,            -- the decision bar (its close)
    proba_up double,                    -- classifier: P(label_direction_<h> = 1)
    predicted_direction tinyint not null,
    confidence double,                  -- |proba_up - 0.5| * 2
    predicted_return double,            -- regressor: predicted label_fwd_return_<h>
    created_at timestamptz not null,
    score double,                       -- the uncalibrated model output rankings use
    horizon integer,                    -- h of the labels the model learnt (bars held after the fill)
    primary key ({', '.join(PREDICTION_KEY)})
);
-- warehouses made before these columns existed get them
alter table {PREDICTIONS} add column if not exists score double;
alter table {PREDICTIONS} add column if not exists horizon integer;
"""
COLUMNS = [
    "run_id", "symbol", "bar_size", "ts", "proba_up", "predicted_direction", "confidence", "predicted_return", "score",
    "horizon", "created_at",
]  # fmt: skip
VALUES = ("proba_up", "predicted_direction", "confidence", "predicted_return", "score", "horizon")


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ml.predictions (or add the columns an older warehouse lacks)."""
    con.execute(PREDICTIONS_DDL)


@dataclass
class PredictResult:
    run_id: str
    rows: int
    inserted: int
    updated: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None


def check_feature_list(model: RegisteredModel, table_columns: list[str]) -> None:
    """Refuse a model whose features differ from the table's, naming what is missing and extra."""
    table_features = feature_columns(table_columns)
    missing = [f for f in model.features if f not in table_columns]
    extra = [f for f in table_features if f not in model.features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from {FEATURE_TABLE}: {', '.join(missing)}")
        if extra:
            parts.append(f"in {FEATURE_TABLE} but not in the model: {', '.join(extra)}")
        raise AlphaduckError(
            f"model {model.run_id} was trained on other features ({'; '.join(parts)}): retrain with `alphaduck train`"
        )


def check_recorded(model: RegisteredModel, con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a model the warehouse has no record of (a training run that could not record
    itself, or a registry copied from elsewhere)."""
    known = relation_exists(con, TRAIN_RUNS) and con.execute(
        f"select count(*) from {TRAIN_RUNS} where run_id = ?", [model.run_id]
    ).fetchall()[0][0]
    if not known:
        raise AlphaduckError(
            f"model {model.run_id} is not in this warehouse's {TRAIN_RUNS} (its training did not finish recording, "
            "or the registry belongs to another warehouse): train one here with `alphaduck train`"
        )


def prediction_rows(
    frame: pd.DataFrame, *, run_id: str, raw: np.ndarray, score: np.ndarray, objective: str, horizon: int,
    created_at: datetime, label: str | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Prediction rows (COLUMNS) for feature rows ``frame`` scored ``score`` (calibrated) and
    ``raw`` (uncalibrated), in ``frame``'s order (pure: no I/O). A regressor predicts "up"
    above its label's neutral value (0 for a return, 0.5 for a cross-sectional rank)."""
    out = frame[["symbol", "bar_size", "ts"]].copy()
    out.insert(0, "run_id", run_id)
    if objective == "classification":
        out["proba_up"] = score
        out["predicted_direction"] = (score >= 0.5).astype("int8")
        out["confidence"] = np.abs(score - 0.5) * 2  # 0 at a coin flip, 1 when certain
        out["predicted_return"] = np.nan
    else:
        # a regressor's label value above the label's neutral point, or a ranker's relevance
        # score (no scale: above 0 reads as "up") says "up"
        neutral = LABEL_NEUTRAL[label_kind(label)] if label and objective == "regression" else 0.0
        out["proba_up"] = np.nan
        out["predicted_direction"] = (score > neutral).astype("int8")
        out["confidence"] = np.nan
        out["predicted_return"] = score if objective == "regression" else np.nan
    out["score"] = raw
    out["horizon"] = int(horizon)
    out["created_at"] = created_at
    return out[COLUMNS].reset_index(drop=True)


def score_frame(model: RegisteredModel, frame: pd.DataFrame, created_at: datetime) -> pd.DataFrame:
    """Prediction rows for feature rows ``frame``, scored by ``model`` (pure: no I/O)."""
    X = frame[model.features].to_numpy(dtype=np.float32)
    return prediction_rows(frame, run_id=model.run_id, raw=model.raw_score(X), score=model.score(X),
                           objective=model.metadata["objective"], horizon=model.metadata["horizon"],
                           created_at=created_at, label=model.metadata["label"])  # fmt: skip


def upsert_predictions(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> tuple[int, int]:
    """Insert new keys, update keys whose values changed, leave identical rows alone: inside
    the caller's transaction. Returns (inserted, updated)."""
    ensure_table(con)
    con.register("_scored", rows)
    try:
        changed = " or ".join(f"p.{c} is distinct from s.{c}" for c in VALUES)
        keys = " and ".join(f"p.{k} = s.{k}" for k in PREDICTION_KEY)
        updated = con.execute(f"select count(*) from {PREDICTIONS} p join _scored s on {keys} where {changed}").fetchall()[0][0]
        con.execute(f"delete from {PREDICTIONS} p using _scored s where {keys} and ({changed})")
        inserted = con.execute(
            f"select count(*) from _scored s where not exists (select 1 from {PREDICTIONS} p where {keys})"
        ).fetchall()[0][0]
        con.execute(
            f"insert into {PREDICTIONS} ({', '.join(COLUMNS)}) select {', '.join('s.' + c for c in COLUMNS)} "
            f"from _scored s where not exists (select 1 from {PREDICTIONS} p where {keys})"
        )
    finally:
        con.unregister("_scored")
    return inserted - updated, updated


def default_start(model: RegisteredModel) -> str:
    """Where scoring starts unless told: a single model's test window; after a walk-forward
    run's last fold (its folds scored everything before)."""
    if model.metadata.get("kind") == "walk_forward":
        return (pd.Timestamp(model.metadata["windows"]["test"][1]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    return model.metadata["windows"]["test"][0]


def write_csv(rows: pd.DataFrame, csv: Path) -> None:
    """The predictions as CSV; a file this call created is removed again if writing fails."""
    csv.parent.mkdir(parents=True, exist_ok=True)
    existed = csv.exists()
    try:
        rows.to_csv(csv, index=False)
    except OSError:
        if not existed and csv.is_file():
            csv.unlink()
        raise


def predict(
    db: Warehouse | str | Path | None,
    *,
    run_id: str = "latest",
    start: str | None = None,
    end: str | None = None,
    symbols: list[str] | None = None,
    models_root: str | Path | None = None,
    csv: Path | None = None,
) -> PredictResult:
    """Score warmed-up feature rows in [start, end] (default: from the model's test window
    on) of ``symbols`` (default: the ones the model was trained on) and upsert them into
    ml.predictions."""
    warehouse = Warehouse.of(db)
    model = resolve(run_id, root=models_root)
    start = start or default_start(model)
    symbols = symbols or model.metadata["symbols"]
    with warehouse.reader() as con:
        check_fits(model, con)
        check_recorded(model, con)
        check_feature_list(model, feature_data.table_columns(con))
        loaded = feature_data.load_features(
            con, bar_size=model.metadata["bar_size"], features=model.features, symbols=symbols, start=start, end=end
        )  # fmt: skip
    if loaded.frame.empty:
        if model.metadata.get("kind") == "walk_forward" and not end:
            return PredictResult(model.run_id, 0, 0, 0, None, None)  # nothing new since its last fold
        what = f" for {', '.join(symbols)}" if symbols else ""
        raise AlphaduckError(
            f"no warmed-up {model.metadata['bar_size']} feature rows{what} between {start} and {end or 'the last bar'}"
        )
    rows = score_frame(model, loaded.frame, datetime.now(UTC))
    with warehouse.transaction() as con:
        inserted, updated = upsert_predictions(con, rows)
        if csv is not None:  # before the commit: a CSV that cannot be written (a full disk) changes nothing
            write_csv(rows, csv)
    return PredictResult(model.run_id, len(rows), inserted, updated, rows["ts"].min(), rows["ts"].max())


if __name__ == "__main__":
    from ml.cli import predict_command

    predict_command(prog_name="python -m ml.predict")
