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

from alphaduck.errors import AlphaduckError
from alphaduck.settings import MODELS_DIR

LATEST = "latest"


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

        return lgb.Booster(model_file=str(self.path / "model.txt"))

    @functools.cached_property
    def calibration(self) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.path / "calibration.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return np.asarray(data["x"], float), np.asarray(data["y"], float)

    def score(self, X) -> np.ndarray:
        """The model's output for rows X (features in the model's order): the calibrated
        probability of an up move for a classifier, the predicted return for a regressor."""
        # the model file is read once per RegisteredModel, not per call
        raw = self.booster.predict(X, num_iteration=self.metadata["parameters"].get("n_estimators"))
        calibration = self.calibration
        if calibration is not None:
            raw = np.interp(raw, *calibration)
        return raw


def models_dir(root: str | Path | None = None) -> Path:
    return Path(root) if root else MODELS_DIR


def save_run(run_id: str, metadata: dict, *, root: str | Path | None = None, files: dict[str, bytes] | None = None) -> Path:
    """Write a run directory atomically (a temp dir renamed into place), then point latest at it."""
    base = models_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    final = base / run_id
    staging = base / f".{run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, content in (files or {}).items():
        (staging / name).write_bytes(content)
    (staging / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
    staging.rename(final)
    link = base / LATEST
    tmp_link = base / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(run_id)
    os.replace(tmp_link, link)
    return final


def resolve(run_id: str, *, root: str | Path | None = None) -> RegisteredModel:
    """A registered run by id, or ``latest``; refuses an unknown id naming what exists."""
    base = models_dir(root)
    path = base / run_id
    if run_id == LATEST and path.is_symlink():
        path = base / os.readlink(path)
    if not (path / "metadata.json").exists():
        known = [m.run_id for m in list_runs(root)][:5]
        hint = f" (newest: {', '.join(known)})" if known else f": no models in {base} yet, run `alphaduck train` first"
        raise AlphaduckError(f"unknown model run {run_id!r} in {base}{hint}")
    return RegisteredModel(path.name, path, json.loads((path / "metadata.json").read_text()))


def list_runs(root: str | Path | None = None) -> list[RegisteredModel]:
    """Every registered run, newest first."""
    base = models_dir(root)
    if not base.exists():
        return []
    runs = [
        RegisteredModel(p.name, p, json.loads((p / "metadata.json").read_text()))
        for p in base.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / "metadata.json").exists()
    ]
    return sorted(runs, key=lambda m: m.metadata.get("created_at", ""), reverse=True)


TRAIN_RUNS_DDL = """
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
    model_dir varchar not null
)
"""


def record_train_run(con, run_id: str, metadata: dict, model_dir: Path) -> None:
    con.execute("create schema if not exists ml")
    con.execute(TRAIN_RUNS_DDL)
    windows = metadata["windows"]
    con.execute(
        "insert or replace into ml.train_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ],
    )
