"""`python -m ml.predict` (also `alphaduck predict`): score feature rows with a registered
model and upsert them into ml.predictions (dbt creates the table; see the
create_ml_predictions macro), so analysts and the backtests read predictions in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import pandas as pd

from alphaduck import options
from alphaduck.contracts import PREDICTIONS
from alphaduck.errors import AlphaduckError
from alphaduck.features import FEATURE_TABLE, feature_columns
from alphaduck.warehouse import connect, relation_exists
from ml import data as feature_data
from ml.registry import RegisteredModel, check_fits, resolve

COLUMNS = [
    "run_id", "symbol", "bar_size", "ts", "proba_up", "predicted_direction", "confidence", "predicted_return", "score",
    "horizon", "created_at",
]  # fmt: skip
KEY = ["run_id", "symbol", "bar_size", "ts"]


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


def score_frame(model: RegisteredModel, frame: pd.DataFrame, created_at: datetime) -> pd.DataFrame:
    """Prediction rows (COLUMNS) for feature rows ``frame`` (pure: no I/O)."""
    X = frame[model.features].to_numpy(dtype=np.float32)
    raw = model.raw_score(X)
    score = model.score(X)
    classification = model.metadata["objective"] == "classification"
    out = frame[["symbol", "bar_size", "ts"]].copy()
    out.insert(0, "run_id", model.run_id)
    if classification:
        out["proba_up"] = score
        out["predicted_direction"] = (score >= 0.5).astype("int8")
        out["confidence"] = np.abs(score - 0.5) * 2  # 0 at a coin flip, 1 when certain
        out["predicted_return"] = np.nan
    else:
        out["proba_up"] = np.nan
        out["predicted_direction"] = (score > 0).astype("int8")
        out["confidence"] = np.nan
        out["predicted_return"] = score
    out["score"] = raw
    out["horizon"] = int(model.metadata["horizon"])
    out["created_at"] = created_at
    return out[COLUMNS].reset_index(drop=True)


def upsert_predictions(con, rows: pd.DataFrame) -> tuple[int, int]:
    """Insert new keys, update keys whose values changed, leave identical rows alone."""
    con.register("_scored", rows)
    try:
        changed = " or ".join(
            f"p.{c} is distinct from s.{c}" for c in ("proba_up", "predicted_direction", "confidence", "predicted_return", "score")
        )
        keys = " and ".join(f"p.{k} = s.{k}" for k in KEY)
        con.execute("begin")
        try:
            updated = con.execute(
                f"select count(*) from {PREDICTIONS} p join _scored s on {keys} where {changed}"
            ).fetchall()[0][0]
            con.execute(f"delete from {PREDICTIONS} p using _scored s where {keys} and ({changed})")
            inserted = con.execute(
                f"select count(*) from _scored s where not exists (select 1 from {PREDICTIONS} p where {keys})"
            ).fetchall()[0][0]
            con.execute(
                f"insert into {PREDICTIONS} ({', '.join(COLUMNS)}) select {', '.join('s.' + c for c in COLUMNS)} "
                f"from _scored s where not exists (select 1 from {PREDICTIONS} p where {keys})"
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_scored")
    return inserted - updated, updated


def predict(
    db: str | Path | None,
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
    model = resolve(run_id, root=models_root)
    start = start or model.metadata["windows"]["test"][0]
    symbols = symbols or model.metadata["symbols"]
    con = connect(db, read_only=True)
    try:
        check_fits(model, con)
        check_feature_list(model, feature_data.table_columns(con))
        loaded = feature_data.load_features(
            con, bar_size=model.metadata["bar_size"], features=model.features, symbols=symbols, start=start, end=end
        )  # fmt: skip
        has_table = relation_exists(con, PREDICTIONS)
    finally:
        con.close()
    if not has_table:
        raise AlphaduckError(f"{PREDICTIONS} does not exist: run `alphaduck build` first (dbt creates it)")
    if loaded.frame.empty:
        what = f" for {', '.join(symbols)}" if symbols else ""
        raise AlphaduckError(
            f"no warmed-up {model.metadata['bar_size']} feature rows{what} between {start} and {end or 'the last bar'}"
        )
    rows = score_frame(model, loaded.frame, datetime.now(UTC))
    con = connect(db)
    try:
        # warehouses built before the score column existed get it
        con.execute(f"alter table {PREDICTIONS} add column if not exists score double")
        con.execute(f"alter table {PREDICTIONS} add column if not exists horizon integer")
        inserted, updated = upsert_predictions(con, rows)
    finally:
        con.close()
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(csv, index=False)
    return PredictResult(model.run_id, len(rows), inserted, updated, rows["ts"].min(), rows["ts"].max())


@click.command(
    name="predict",
    epilog="""\b
Examples:
  python -m ml.predict                                   # latest model, from its test window on
  alphaduck predict --run-id 20261126T120000Z-clf-1a2b3c --start 2026-01-02 --end 2026-03-31
  alphaduck predict --symbol SPY --csv reports/spy_predictions.csv
""",
)
@options.db
@click.option("--run-id", default="latest", show_default=True, help="Registered model run (see `alphaduck models list`).")
@click.option("--start", metavar="DATE", help="First session to score [default: the model's test window start].")
@click.option("--end", metavar="DATE", help="Last session to score [default: the last bar].")
@click.option("--symbol", "symbols", multiple=True, help="Score these symbols (repeatable) [default: the model's].")
@click.option("--csv", type=click.Path(path_type=Path, dir_okay=False), help="Also write the scored rows to this CSV.")
@click.option("--models", "models_root", type=click.Path(path_type=Path), help="Registry directory [default: models].")
@options.quiet
def predict_command(db, run_id, start, end, symbols, csv, models_root, quiet) -> None:
    """Score feature rows with a registered model and upsert them into ml.predictions."""
    result = predict(db, run_id=run_id, start=start, end=end, symbols=list(symbols) or None, models_root=models_root, csv=csv)
    if not quiet:
        click.echo(
            f"model {result.run_id}: {result.rows:,} rows scored ({result.first_ts:%Y-%m-%d %H:%M} .. "
            f"{result.last_ts:%Y-%m-%d %H:%M} UTC), {result.inserted:,} inserted, {result.updated:,} updated in {PREDICTIONS}"
            + (f"; CSV {csv}" if csv else "")
        )


if __name__ == "__main__":
    predict_command(prog_name="python -m ml.predict")
