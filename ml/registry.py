"""The model registry: ``models/<run_id>/`` on disk, ``models/latest`` naming the newest,
and one row per training run in ``ml.train_runs``.

A run directory holds the LightGBM native model (``model.txt``), ``metadata.json``
(everything needed to reproduce and to score: features in order, label, horizon,
windows, parameters, CV scores, test metrics, data fingerprint, dbt manifest hash, gate
status), optional ``calibration.json`` (isotonic map fitted on validation) and feature
importance as CSV and PNG.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alphaduck.contracts import CPCV_PREDICTIONS, TRAIN_RUNS
from alphaduck.errors import AlphaduckError
from alphaduck.settings import MODELS_DIR
from alphaduck.warehouse import insert_frame

LATEST = "latest"
# a run directory's files: the only place that names them
MODEL_FILE = "model.txt"
CALIBRATION_FILE = "calibration.json"
IMPORTANCE_CSV = "importance.csv"
IMPORTANCE_PNG = "importance.png"
METADATA_FILE = "metadata.json"


def model_files(model_text: bytes, calibration: dict | None = None, *, fold: int | None = None) -> dict[str, bytes]:
    """The files of one fitted model (a walk-forward fold's under folds/<k>/), for save_run."""
    prefix = f"folds/{fold}/" if fold is not None else ""
    files = {prefix + MODEL_FILE: model_text}
    if calibration:
        files[prefix + CALIBRATION_FILE] = json.dumps(calibration).encode()
    return files


def importance_files(ranked: pd.DataFrame, png: bytes) -> dict[str, bytes]:
    """The run's feature importance as CSV and PNG, for save_run."""
    return {IMPORTANCE_CSV: ranked.to_csv(index=False).encode(), IMPORTANCE_PNG: png}


def newest_fold_as_run(files: dict[str, bytes], last_fold: int) -> dict[str, bytes]:
    """A walk-forward run scores what comes next with its newest fold's model: copy it to the
    run's own model files."""
    prefix = f"folds/{last_fold}/"
    return {name.removeprefix(prefix): content for name, content in files.items() if name.startswith(prefix)}


@dataclass
class RegisteredModel:
    run_id: str
    path: Path
    metadata: dict

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    @functools.cached_property
    def booster(self):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(self.path / MODEL_FILE))

    @functools.cached_property
    def calibration(self) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.path / CALIBRATION_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return np.asarray(data["x"], float), np.asarray(data["y"], float)

    def importance(self) -> pd.DataFrame | None:
        """Feature importance (gain, and test-window permutation for a single model), or None."""
        path = self.path / IMPORTANCE_CSV
        return pd.read_csv(path) if path.exists() else None

    def raw_score(self, X) -> np.ndarray:
        """The model's uncalibrated output for rows X: a classifier's raw probability, a
        regressor's predicted return. What rankings and quantile thresholds use (isotonic
        calibration is a step function: it ties scores that the raw model tells apart)."""
        # the model file is read once per RegisteredModel, not per call
        return self.booster.predict(X, num_iteration=self.metadata["parameters"].get("n_estimators"))

    @property
    def folds(self) -> list[dict]:
        """The models a run holds, as folds: a walk-forward run's, or one covering a single
        model's test window and after. Each has its windows and validation score quantiles."""
        if self.metadata.get("kind") == "walk_forward":
            return list(self.metadata["folds"])
        return [{"fold": 0, "windows": self.metadata["windows"],
                 "valid_raw_score_quantiles": self.metadata.get("valid_raw_score_quantiles")}]  # fmt: skip

    def score_percentile(self, ts: pd.Series, raw: np.ndarray) -> np.ndarray:
        """Where each raw score falls among the validation scores of the model that made it
        (the fold whose test window holds ``ts``; after the last, the last): 0.8 means
        higher than 80% of them. Quantile thresholds compare this, so long_quantile=0.8 takes
        the top fifth whichever fold scored the row."""
        stamps = pd.to_datetime(pd.Series(ts)).dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize().to_numpy()
        raw = np.asarray(raw, float)
        out = np.full(len(raw), np.nan)
        folds = self.folds
        starts = [np.datetime64(pd.Timestamp(f["windows"]["test"][0])) for f in folds]
        which = np.clip(np.searchsorted(np.array(starts), stamps, side="right") - 1, 0, len(folds) - 1)
        for k, fold in enumerate(folds):
            quantiles = fold.get("valid_raw_score_quantiles")
            if not quantiles:
                raise AlphaduckError(f"model {self.run_id} has no validation score quantiles: retrain it")
            levels = np.array([float(q) for q in quantiles])
            values = np.array(list(quantiles.values()), float)
            mine = which == k
            # monotone interpolation through (value, level) points: exact at every percent
            out[mine] = np.interp(raw[mine], values, levels, left=0.0, right=1.0)
        return out

    def score(self, X) -> np.ndarray:
        """The model's output for rows X (features in the model's order): the calibrated
        probability of an up move for a classifier, the predicted return for a regressor."""
        raw = self.raw_score(X)
        calibration = self.calibration
        if calibration is not None:
            raw = np.interp(raw, *calibration)
        return raw


def models_dir(root: str | Path | None = None) -> Path:
    return Path(root) if root else MODELS_DIR


def save_run(run_id: str, metadata: dict, *, root: str | Path | None = None, files: dict[str, bytes] | None = None) -> Path:
    """Write a run directory atomically (a temp dir renamed into place). ``point_latest``
    makes it the newest once the warehouse has recorded it."""
    base = models_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    final = base / run_id
    staging = base / f".{run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, content in (files or {}).items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(content)
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    staging.rename(final)
    return final


def discard_run(path: Path) -> None:
    """Remove a run directory the warehouse could not record."""
    shutil.rmtree(path, ignore_errors=True)


def point_latest(run_id: str, *, root: str | Path | None = None) -> None:
    """Point ``latest`` at a run, atomically (a new link renamed over the old one)."""
    base = models_dir(root)
    link = base / LATEST
    tmp_link = base / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(run_id)
    os.replace(tmp_link, link)


def resolve(run_id: str, *, root: str | Path | None = None) -> RegisteredModel:
    """A registered run by id, or ``latest``; refuses an unknown id naming what exists."""
    base = models_dir(root)
    path = base / run_id
    if run_id == LATEST and path.is_symlink():
        path = base / os.readlink(path)
    if not (path / METADATA_FILE).exists():
        known = [m.run_id for m in list_runs(root)][:5]
        hint = f" (newest: {', '.join(known)})" if known else f": no models in {base} yet, run `alphaduck train` first"
        raise AlphaduckError(f"unknown model run {run_id!r} in {base}{hint}")
    return RegisteredModel(path.name, path, json.loads((path / METADATA_FILE).read_text()))


def list_runs(root: str | Path | None = None) -> list[RegisteredModel]:
    """Every registered run, newest first."""
    base = models_dir(root)
    if not base.exists():
        return []
    runs = [
        RegisteredModel(p.name, p, json.loads((p / METADATA_FILE).read_text()))
        for p in base.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / METADATA_FILE).exists()
    ]
    return sorted(runs, key=lambda m: m.metadata.get("created_at", ""), reverse=True)


def check_fits(model: RegisteredModel, con, *, bar_size: str | None = None, rows: bool = True) -> None:
    """Refuse, in one line naming both sides, a model trained on another warehouse, on another
    bar size, or on training rows that this warehouse no longer holds as they were (other
    history, other adjustment, other label settings: the recorded fingerprint differs)."""
    from alphaduck.warehouse import warehouse_id
    from ml.data import training_fingerprint

    m = model.metadata
    recorded = (m.get("warehouse") or {}).get("id")
    here = warehouse_id(con)
    if recorded is None or recorded != here:
        where = (m.get("warehouse") or {}).get("path", "an unrecorded warehouse")
        raise AlphaduckError(
            f"model {model.run_id} was trained on warehouse {where} (id {str(recorded)[:8]}), not this one "
            f"(id {str(here)[:8] if here else 'none: no model was trained here'}): train one here with `alphaduck train`"
        )
    if bar_size is not None and bar_size != m["bar_size"]:
        raise AlphaduckError(f"model {model.run_id} was trained on {m['bar_size']} bars, not {bar_size}: use a {bar_size} model")
    span = m.get("training_span")
    if rows and span:
        now = training_fingerprint(con, bar_size=m["bar_size"], label=m["label"], **span)
        if now != m["training_fingerprint"]:
            raise AlphaduckError(
                f"model {model.run_id} was trained on {m['bar_size']} rows {span['first_ts'][:10]}..{span['last_ts'][:10]} "
                "that have changed in this warehouse since (rebuilt with other settings, other history or new corporate "
                "actions): retrain with `alphaduck train`"
            )


TRAIN_RUNS_DDL = f"""
create table if not exists ml.train_runs (
    run_id varchar primary key,
    created_at timestamptz not null,
    objective varchar not null,
    label varchar not null,
    horizon integer not null,
    bar_size varchar not null,
    symbols varchar[],
    n_features integer not null,
    train_window date[],
    valid_window date[],
    test_window date[],
    parameters json,
    cv_scores double[],
    test_metrics json,
    gate_status varchar,
    model_dir varchar not null,
    label_price varchar,
    warehouse_id varchar,
    training_fingerprint varchar
);
-- warehouses made before these columns existed get them
alter table ml.train_runs add column if not exists label_price varchar;
alter table ml.train_runs add column if not exists warehouse_id varchar;
alter table ml.train_runs add column if not exists training_fingerprint varchar;
alter table ml.train_runs add column if not exists kind varchar;
create table if not exists ml.train_folds (
    run_id varchar not null,          -- the walk-forward run (ml.train_runs)
    fold integer not null,
    train_window date[],
    valid_window date[],
    test_window date[],
    train_label_end timestamptz,      -- the latest bar any training label reaches
    test_first_ts timestamptz,        -- the first bar the fold predicts (after train_label_end)
    rounds integer,
    test_ic double,
    seconds double,
    primary key (run_id, fold)
);
create table if not exists {CPCV_PREDICTIONS} (
    run_id varchar not null,          -- the run trained with --cv cpcv (ml.train_runs)
    split integer not null,           -- the CPCV split whose model scored the row (trained without its groups)
    cv_group integer not null,        -- the block of time the row falls in (0 .. N-1)
    symbol varchar not null,
    bar_size varchar not null,
    ts timestamptz not null,
    proba_up double,
    predicted_direction tinyint,
    confidence double,
    predicted_return double,
    created_at timestamptz,
    score double,
    horizon integer,
    primary key (run_id, split, symbol, bar_size, ts)
);
"""


def record_train_run(con, run_id: str, metadata: dict, model_dir: Path, *, folds: list[dict] | None = None,
                     cpcv: pd.DataFrame | None = None) -> None:  # fmt: skip
    con.execute("create schema if not exists ml")
    con.execute(TRAIN_RUNS_DDL)
    windows = metadata["windows"]
    con.execute(
        f"insert or replace into {TRAIN_RUNS} (run_id, created_at, objective, label, horizon, bar_size, symbols, "
        "n_features, train_window, valid_window, test_window, parameters, cv_scores, test_metrics, gate_status, "
        "model_dir, label_price, warehouse_id, training_fingerprint) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            metadata["created_at"],
            metadata["objective"],
            metadata["label"],
            metadata["horizon"],
            metadata["bar_size"],
            metadata["symbols"],
            len(metadata["features"]),
            windows["train"],
            windows["valid"],
            windows["test"],
            json.dumps(metadata["parameters"]),
            metadata["cv"]["fold_scores"],
            json.dumps(metadata["test_metrics"]),
            metadata["gate"]["status"],
            str(model_dir),
            metadata["label_price"],
            metadata["warehouse"]["id"],
            metadata["training_fingerprint"],
        ],
    )
    con.execute(f"update {TRAIN_RUNS} set kind = ? where run_id = ?", [metadata.get("kind", "single"), run_id])
    con.execute("delete from ml.train_folds where run_id = ?", [run_id])
    for fold in folds or []:
        w = fold["windows"]
        con.execute(
            "insert into ml.train_folds values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, fold["fold"], w["train"], w["valid"], w["test"], fold["train_label_end"], fold["test_first_ts"],
             fold["rounds"], fold["test_ic"], fold["seconds"]],
        )  # fmt: skip
    con.execute(f"delete from {CPCV_PREDICTIONS} where run_id = ?", [run_id])
    if cpcv is not None:
        insert_frame(con, CPCV_PREDICTIONS, cpcv)
