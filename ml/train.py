"""`python -m ml.train` (also `alphaduck train`): LightGBM on marts.fct_features, tuned with
a purged, embargoed time-series CV, early-stopped on a validation window, judged on a test
window beside naive baselines, and registered under models/<run_id>/.

No feature scaling: gradient-boosted trees split on thresholds of each feature, so any
monotone rescaling (standardising included) leaves the model unchanged; a scaler would
only add a fitted object that could leak test statistics if fitted on the wrong rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import pandas as pd

from alphaduck import options
from alphaduck.errors import AlphaduckError, ChecksFailedError
from alphaduck.features import built_features, label_column
from alphaduck.settings import PROJECT_ROOT, warehouse_path
from alphaduck.warehouse import connect, warehouse_id
from ml import data as feature_data
from ml.metrics import evaluate
from ml.registry import discard_run, point_latest, record_train_run, save_run
from ml.split import PurgedTimeSeriesSplit, purge_by_label_end, time_windows

OBJECTIVES = ("classification", "regression")
THREADS = 2  # fixed, so a seed gives the same model on any machine (LightGBM's determinism needs it)

# RandomizedSearchCV samples from these; n_estimators is searched too because CV folds have
# no validation set to stop on (the final fit early-stops on the validation window instead)
SEARCH_SPACE = {
    "num_leaves": [7, 15, 31, 63],
    "learning_rate": [0.02, 0.05, 0.1],
    "n_estimators": [100, 200, 400],
    "min_child_samples": [50, 100, 200, 400],
    "subsample": [0.7, 0.85, 1.0],
    "colsample_bytree": [0.3, 0.5, 0.8],
    "reg_lambda": [0.0, 1.0, 10.0],
}


@dataclass
class TrainOptions:
    bar_size: str | None = None
    symbols: list[str] = field(default_factory=list)
    objective: str = "classification"
    test_fraction: float = 0.2
    valid_fraction: float = 0.2
    test_start: str | None = None
    valid_start: str | None = None
    horizon: int | None = None  # bars held after the fill; default dbt var label_horizon
    n_iter: int = 10
    n_splits: int = 4
    embargo: int | None = None  # bars; default the label horizon
    seed: int = 7
    calibrate: bool = False
    skip_gate: bool = False
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    permutation_rows: int = 5000


@dataclass
class TrainResult:
    run_id: str
    path: Path
    metadata: dict


def _estimator(objective: str, seed: int, **params):
    import lightgbm as lgb

    # 63 histogram bins instead of 255: ~20% faster on 2 cores, and noisy market features
    # gain nothing from finer split points
    common = dict(
        random_state=seed, n_jobs=THREADS, deterministic=True, force_row_wise=True, verbose=-1, subsample_freq=1,
        max_bin=63,
    )
    cls = lgb.LGBMClassifier if objective == "classification" else lgb.LGBMRegressor
    return cls(**common, **params)


class _ProgressScorer:
    """A scorer that also advances a progress bar: RandomizedSearchCV calls it once per fit."""

    def __init__(self, scorer, advance: Callable[[], None]):
        self.scorer, self.advance = scorer, advance

    def __call__(self, estimator, X, y):
        self.advance()
        return self.scorer(estimator, X, y)


def _ic_scorer(estimator, X, y) -> float:
    from ml.metrics import information_coefficient

    return information_coefficient(estimator.predict(X), np.asarray(y, float))


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def permutation_importance(model_score: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray,
                           metric: Callable[[np.ndarray, np.ndarray], float], *, seed: int, repeats: int = 2) -> np.ndarray:  # fmt: skip
    """Mean drop of ``metric`` when one feature's column is shuffled (higher = more important)."""
    rng = np.random.default_rng(seed)
    base = metric(y, model_score(X))
    drops = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        column = X[:, j].copy()
        for _ in range(repeats):
            X[:, j] = rng.permutation(column)
            drops[j] += (base - metric(y, model_score(X))) / repeats
        X[:, j] = column
    return drops


def _importance_png(importance: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = importance.head(25).iloc[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 8), sharey=True)
    axes[0].barh(top["feature"], top["gain"] / max(top["gain"].sum(), 1e-12))
    axes[0].set_title("gain (share of top 25)")
    axes[1].barh(top["feature"], top["permutation"])
    axes[1].set_title("permutation: metric drop on the test window")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def train(
    db: str | Path | None,
    opts: TrainOptions,
    *,
    models_root: str | Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Train, evaluate and register one model; returns its run id, directory and metadata."""
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import RandomizedSearchCV

    progress = on_progress or (lambda step, done, total: None)
    if opts.objective not in OBJECTIVES:
        raise AlphaduckError(f"--objective {opts.objective!r}: expected one of {', '.join(OBJECTIVES)}")
    classification = opts.objective == "classification"

    # 1. the features gate: no training on data that fails it, unless told (and recorded)
    progress("quality gate (features)", 0, 1)
    gate = {"status": "skipped", "reason": "--skip-gate"}
    if not opts.skip_gate:
        from alphaduck.quality.gate import run_gate

        report = run_gate(db, ["features"], record=True)
        if not report.success:
            failed = "; ".join(f"{r.check}: {r.expectation}: {', '.join(r.examples[:3])}" for r in report.failures())
            raise ChecksFailedError(
                f"refusing to train: the features gate failed ({failed}); fix the data, or pass --skip-gate to train anyway"
            )
        gate = {"status": "passed", "gate_run_id": report.run_id}

    # 2. the data, by time
    progress("reading features", 0, 1)
    con = connect(db, read_only=True)
    try:
        bar_size = feature_data.choose_bar_size(con, opts.bar_size)
        built = built_features(con)
        # the horizon the labels were built with (marts.feature_builds), not a guess from the data
        horizon = opts.horizon or built.horizon
        return_label = label_column("fwd_return", horizon)
        label = label_column("direction", horizon) if classification else return_label
        loaded = feature_data.load_features(con, bar_size=bar_size, symbols=opts.symbols or None,
                                            labels=[label, return_label])  # fmt: skip
    finally:
        con.close()
    frame, features = loaded.frame, loaded.features
    if frame.empty:
        what = f" for {', '.join(opts.symbols)}" if opts.symbols else ""
        raise AlphaduckError(f"no warmed-up {bar_size} feature rows{what}: ingest more history and run `alphaduck build`")
    frame = frame[frame[label].notna()]
    embargo = horizon if opts.embargo is None else opts.embargo
    try:
        windows = time_windows(
            frame["session_date"], test_fraction=opts.test_fraction, valid_fraction=opts.valid_fraction,
            test_start=opts.test_start, valid_start=opts.valid_start,
        )  # fmt: skip
    except ValueError as exc:
        raise AlphaduckError(str(exc)) from exc
    day = pd.to_datetime(frame["session_date"])
    valid_start, test_start = windows.valid[0], windows.test[0]
    # each symbol's rows whose label (the fill bar and h more of ITS bars) and embargo reach
    # the next window are purged: a symbol with a gap reaches further than the panel does
    purge = {"horizon": horizon, "embargo": embargo}
    train_rows = purge_by_label_end(frame[day < valid_start], frame.loc[day >= valid_start, "ts"].min(), **purge)
    valid_rows = purge_by_label_end(
        frame[(day >= valid_start) & (day < test_start)], frame.loc[day >= test_start, "ts"].min(), **purge
    )
    test_rows = frame[day >= test_start]
    feature_data.refuse_leaks(train_rows, features, label)
    if label != return_label:
        feature_data.refuse_leaks(train_rows, features, return_label)
    if classification:
        for name, part in (("training", train_rows), ("validation", valid_rows)):
            classes = part[label].unique()
            if len(classes) < 2:
                raise AlphaduckError(
                    f"{label} has a single class ({int(classes[0]) if len(classes) else 'none'}) in the {name} window "
                    f"{windows.train if name == 'training' else windows.valid}: nothing to learn"
                )

    def matrix(part: pd.DataFrame) -> np.ndarray:
        return part[features].to_numpy(dtype=np.float32)

    X_train, y_train = matrix(train_rows), train_rows[label].to_numpy()
    X_valid, y_valid = matrix(valid_rows), valid_rows[label].to_numpy()
    X_test = matrix(test_rows)

    # 3. hyperparameter search over purged, embargoed folds of the training window
    cv = PurgedTimeSeriesSplit(n_splits=opts.n_splits, horizon=horizon, embargo=embargo)
    total_fits = opts.n_iter * opts.n_splits
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        progress("search", done, total_fits)

    base_scorer = get_scorer("roc_auc") if classification else _ic_scorer
    search = RandomizedSearchCV(
        _estimator(opts.objective, opts.seed),
        SEARCH_SPACE,
        n_iter=opts.n_iter,
        cv=cv,
        scoring=_ProgressScorer(base_scorer, advance),
        refit=False,
        random_state=opts.seed,
        n_jobs=1,  # LightGBM uses the cores; folds run one after another
        error_score="raise",
    )
    progress("search", 0, total_fits)
    try:
        search.fit(X_train, y_train, groups=train_rows[["symbol", "ts"]].reset_index(drop=True))
    except ValueError as exc:
        raise AlphaduckError(f"cross-validation: {exc}") from exc
    best = search.best_index_
    fold_scores = [float(search.cv_results_[f"split{i}_test_score"][best]) for i in range(opts.n_splits)]

    # 4. the final fit on the training window, early-stopped on the validation window
    progress("final fit", 0, 1)
    params = {k: v for k, v in search.best_params_.items() if k != "n_estimators"}
    model = _estimator(opts.objective, opts.seed, n_estimators=opts.max_rounds, **params)
    model.fit(
        X_train, y_train, eval_X=(X_valid,), eval_y=(y_valid,),
        callbacks=[lgb.early_stopping(opts.early_stopping_rounds, verbose=False)],
    )  # fmt: skip
    best_rounds = int(model.best_iteration_ or opts.max_rounds)
    booster = model.booster_
    model_text = booster.model_to_string(num_iteration=best_rounds).encode()

    def raw_score(X: np.ndarray) -> np.ndarray:
        return booster.predict(X, num_iteration=best_rounds)

    calibration = None
    if opts.calibrate and classification:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw_score(X_valid), y_valid)
        calibration = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}

    def score(X: np.ndarray) -> np.ndarray:
        raw = raw_score(X)
        return np.interp(raw, calibration["x"], calibration["y"]) if calibration else raw

    # the validation window's score distribution: strategies can set thresholds from it
    # (a quantile of scores the model gave before the test window) instead of guessing
    valid_scores = score(X_valid)
    quantiles = {f"{q:.2f}": float(np.quantile(valid_scores, q)) for q in np.round(np.arange(0.05, 1.0, 0.05), 2)}

    # 5. the test window, beside the baselines
    progress("test metrics", 0, 1)
    test_score = score(X_test)
    metrics = evaluate(train_rows, test_rows, test_score, label=label, return_label=return_label, classification=classification)
    raw_quantiles = {f"{q:.2f}": float(np.quantile(raw_score(X_valid), q)) for q in np.round(np.arange(0.01, 1.0, 0.01), 2)}

    progress("feature importance", 0, 1)
    from sklearn.metrics import roc_auc_score

    from ml.metrics import information_coefficient

    sample = test_rows.sample(min(len(test_rows), opts.permutation_rows), random_state=opts.seed).sort_index()
    if classification:
        def metric(y, s):
            return roc_auc_score(y, s) if np.std(s) > 0 else 0.5
        y_perm = sample[label].to_numpy(int)
    else:
        def metric(y, s):
            return information_coefficient(s, y)
        y_perm = sample[label].to_numpy(float)
    permutation = permutation_importance(score, matrix(sample), y_perm, metric, seed=opts.seed)
    importance = pd.DataFrame(
        {"feature": features, "gain": booster.feature_importance("gain", iteration=best_rounds), "permutation": permutation}
    ).sort_values("gain", ascending=False, ignore_index=True)

    # 6. register: the model belongs to this warehouse and these rows
    training_span = {
        "symbols": sorted(train_rows["symbol"].unique().tolist()),
        "first_ts": train_rows["ts"].min().isoformat(),
        "last_ts": train_rows["ts"].max().isoformat(),
    }
    con = connect(db, read_only=True)
    try:
        fingerprint = feature_data.training_fingerprint(con, bar_size=bar_size, label=label, **training_span)
    finally:
        con.close()
    created = datetime.now(UTC)
    run_id = f"{created:%Y%m%dT%H%M%SZ}-{'clf' if classification else 'reg'}-{uuid.uuid4().hex[:6]}"
    metadata = {
        "run_id": run_id,
        "created_at": created.isoformat(),
        "git_commit": git_commit(),
        "objective": opts.objective,
        "label": label,
        "return_label": return_label,
        "horizon": horizon,
        "label_price": built.label_price,  # the fill the labels measure: backtests check it
        "fill": built.fill,
        "dead_band": built.dead_band,
        "embargo": embargo,
        "bar_size": bar_size,
        "symbols": sorted(frame["symbol"].unique().tolist()),
        "features": features,
        "windows": windows.as_dict(),
        "train_window": windows.as_dict()["train"],  # the drift gate's reference
        "rows": {"train": len(train_rows), "valid": len(valid_rows), "test": len(test_rows)},
        "dbt_vars": built.vars,  # what the feature table was built with (marts.feature_builds)
        "dbt_manifest_sha256": _file_hash(PROJECT_ROOT / "target" / "manifest.json"),
        "warehouse": {"id": None, "path": str(warehouse_path(db).resolve())},  # the id is set when recorded
        "training_span": training_span,
        "training_fingerprint": fingerprint,
        "parameters": {**search.best_params_, "n_estimators": best_rounds, "seed": opts.seed, "threads": THREADS},
        "search": {"space": SEARCH_SPACE, "n_iter": opts.n_iter, "scoring": "roc_auc" if classification else "ic"},
        "cv": {"splitter": repr(cv), "fold_scores": fold_scores, "mean": float(np.mean(fold_scores))},
        "calibrated": calibration is not None,
        "valid_score_quantiles": quantiles,
        # the same on the uncalibrated score (a classifier's raw probability, a regressor's
        # predicted return), at every percent: what quantile thresholds rank by
        "valid_raw_score_quantiles": raw_quantiles,
        "test_metrics": metrics,
        "gate": gate,
        "options": asdict(opts),
    }
    files = {
        "model.txt": model_text,
        "importance.csv": importance.to_csv(index=False).encode(),
        "importance.png": _importance_png(importance),
    }
    if calibration:
        files["calibration.json"] = json.dumps(calibration).encode()
    # a warehouse that cannot be written (locked) fails here, before anything is registered;
    # `latest` moves only once ml.train_runs knows the run
    con = connect(db)
    try:
        metadata["warehouse"]["id"] = warehouse_id(con, create=True)
        path = save_run(run_id, metadata, root=models_root, files=files)
        try:
            record_train_run(con, run_id, metadata, path)
        except BaseException:
            discard_run(path)
            raise
    finally:
        con.close()
    point_latest(run_id, root=models_root)
    return TrainResult(run_id, path, metadata)


def metrics_table(metadata: dict):
    """A rich table: the model's test metrics beside each baseline's."""
    from rich.table import Table

    pooled = metadata["test_metrics"]["pooled"]
    names = list(pooled["model"])
    table = Table("", *names, title=f"test window {' .. '.join(metadata['windows']['test'])}: "
                  f"{metadata['test_metrics']['rows']:,} rows, {metadata['label']}")  # fmt: skip
    for who, values in pooled.items():
        table.add_row(who, *(f"{values[n]:.4f}" for n in names), style="bold" if who == "model" else None)
    return table


@click.command(
    name="train",
    epilog="""\b
Examples:
  python -m ml.train                               # classifier on label_direction_1
  alphaduck train --n-iter 20 --n-splits 5 --seed 1
  alphaduck train --objective regression --calibrate --symbol SPY --symbol QQQ
  alphaduck train --test-start 2026-01-02 --valid-start 2025-11-03
""",
)
@options.db
@options.bar_size(help="Bar size to train on (default: the only one in the feature table).")
@click.option("--symbol", "symbols", multiple=True, help="Train on these symbols only (repeatable).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="classification", show_default=True)
@click.option("--horizon", type=click.IntRange(min=1), help="Label horizon in bars, one of dbt var label_horizons [default: label_horizon].")
@click.option("--n-iter", default=10, show_default=True, help="Parameter settings the search samples.")
@click.option("--n-splits", default=4, show_default=True, help="Purged time-series CV folds.")
@click.option("--embargo", type=int, help="Bars between training and each CV fold beyond the label horizon [default: the horizon].")
@click.option("--seed", default=7, show_default=True)
@click.option("--test-fraction", default=0.2, show_default=True, help="Last share of sessions held out for test.")
@click.option("--valid-fraction", default=0.2, show_default=True, help="Share of the rest before it, for early stopping.")
@click.option("--test-start", metavar="DATE", help="First test session (instead of --test-fraction).")
@click.option("--valid-start", metavar="DATE", help="First validation session (instead of --valid-fraction).")
@click.option("--calibrate", is_flag=True, help="Isotonic calibration of probabilities, fitted on validation.")
@click.option("--skip-gate", is_flag=True, help="Train even if the features quality gate fails (recorded in the model).")
@click.option("--models", "models_root", type=click.Path(path_type=Path), help="Registry directory [default: models].")
@options.quiet
def train_command(db, bar_size, symbols, objective, horizon, n_iter, n_splits, embargo, seed, test_fraction, valid_fraction,
                  test_start, valid_start, calibrate, skip_gate, models_root, quiet) -> None:  # fmt: skip
    """Train LightGBM on marts.fct_features and register it under models/<run_id>/."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    opts = TrainOptions(
        bar_size=bar_size.code if bar_size else None, symbols=list(symbols), objective=objective, horizon=horizon, n_iter=n_iter,
        n_splits=n_splits, embargo=embargo, seed=seed, test_fraction=test_fraction, valid_fraction=valid_fraction,
        test_start=test_start, valid_start=valid_start, calibrate=calibrate, skip_gate=skip_gate,
    )  # fmt: skip
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("train", total=None)

        def on_progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total if step == "search" else None)

        result = train(db, opts, models_root=models_root, on_progress=on_progress)
    console = Console()
    if not quiet:
        console.print(metrics_table(result.metadata))
    cv = result.metadata["cv"]
    console.print(
        f"model {result.run_id}: {len(result.metadata['features'])} features, "
        f"{result.metadata['parameters']['n_estimators']} trees, CV {cv['mean']:.4f} "
        f"({', '.join(f'{s:.4f}' for s in cv['fold_scores'])}), gate {result.metadata['gate']['status']}, "
        f"{time.perf_counter() - started:.0f} s -> {result.path}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


if __name__ == "__main__":
    train_command(prog_name="python -m ml.train")
