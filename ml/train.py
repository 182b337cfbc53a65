"""`python -m ml.train` (also `alphaduck train`): LightGBM on marts.fct_features, tuned with
a purged, embargoed time-series CV, early-stopped on a validation window, judged on a test
window beside naive baselines, and registered under models/<run_id>/. With --walk-forward,
the same steps repeat as time passes: each step of sessions is predicted by a model trained
only on what came before it, into one continuous out-of-sample series.

No feature scaling: gradient-boosted trees split on thresholds of each feature, so any
monotone rescaling (standardising included) leaves the model unchanged; a scaler would
only add a fitted object that could leak test statistics if fitted on the wrong rows.

The procedure is a chain of named steps over small values:
  features_gate -> load_training_data -> split_by_time | walk_forward_folds -> search ->
  fit -> (score, importance) -> register
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd

from alphaduck import trials
from alphaduck.errors import AlphaduckError, ChecksFailedError
from alphaduck.features import BuiltFeatures, built_features, label_column
from alphaduck.settings import DEFAULT_SEED, PROJECT_ROOT, dbt_artifacts_dir
from alphaduck.universe import load_universe
from alphaduck.warehouse import Warehouse, warehouse_id
from ml import data as feature_data
from ml.metrics import evaluate, information_coefficient
from ml.registry import (
    discard_run,
    importance_files,
    model_files,
    newest_fold_as_run,
    point_latest,
    record_train_run,
    save_run,
)
from ml.split import (
    CombinatorialPurgedKFold,
    PurgedTimeSeriesSplit,
    label_end_times,
    purge_by_label_end,
    time_windows,
)

OBJECTIVES = ("classification", "regression", "lambdarank")
# the label each objective learns by default, and the ones it may learn
DEFAULT_LABEL = {"classification": "direction", "regression": "fwd_return", "lambdarank": "xs_rank"}
ALLOWED_LABELS = {
    "classification": ("direction",),
    "regression": ("fwd_return", "xs_excess", "xs_rank"),
    "lambdarank": ("xs_rank",),
}
RANK_GRADES = 5  # lambdarank's relevance: the label's cross-sectional quintile, 0 (worst) .. 4
WINDOWS = ("expanding", "rolling")
CV_KINDS = ("purged", "cpcv")  # walk-forward purged k-fold, or combinatorial purged k-fold
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
    universe: str | None = None  # raw.universe name: a symbol's rows only while it was a member
    objective: str = "classification"
    label: str | None = None  # label kind (direction, fwd_return, xs_rank, xs_excess); default per objective
    horizon: int | None = None  # bars held after the fill; default dbt var label_horizon
    test_fraction: float = 0.2
    valid_fraction: float = 0.2
    test_start: str | None = None
    valid_start: str | None = None
    n_iter: int = 10
    n_splits: int = 4
    cv: str = "purged"
    cv_groups: int = 6  # --cv cpcv: N groups of time
    cv_test_groups: int = 2  # --cv cpcv: k of them tested by each split
    embargo: int | None = None  # bars; default the label horizon
    seed: int = DEFAULT_SEED
    calibrate: bool = False
    skip_gate: bool = False
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    permutation_rows: int = 5000
    # walk-forward: every `step` sessions from the first test session on, retrain on what
    # came before (an expanding window, or the last `train_sessions` for a rolling one),
    # early-stop on the `valid_sessions` just before the step, predict the step
    walk_forward: bool = False
    step: int = 63
    window: str = "expanding"
    train_sessions: int | None = None
    valid_sessions: int | None = None  # default: the step
    first_test: str | None = None  # default: after test_fraction... the first 1 - test_fraction of sessions
    search_each_fold: bool = False
    dask: str | None = None  # "local" or a scheduler's HOST:PORT: search and fit on Dask (ml/distributed.py)

    def check(self) -> None:
        """Refuse options that contradict each other, naming them."""
        if self.objective not in OBJECTIVES:
            raise AlphaduckError(f"--objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        kind = self.label_kind
        if kind not in ALLOWED_LABELS[self.objective]:
            raise AlphaduckError(
                f"--label {kind}: the {self.objective} objective learns {' or '.join(ALLOWED_LABELS[self.objective])}"
            )
        if self.cv not in CV_KINDS:
            raise AlphaduckError(f"--cv {self.cv!r}: expected one of {', '.join(CV_KINDS)}")
        if self.cv == "cpcv" and not 1 <= self.cv_test_groups < self.cv_groups:
            raise AlphaduckError(
                f"--cv-test-groups {self.cv_test_groups} of --cv-groups {self.cv_groups}: need 1 <= k < N"
            )
        if self.window not in WINDOWS:
            raise AlphaduckError(f"--window {self.window!r}: expected one of {', '.join(WINDOWS)}")
        if self.walk_forward and self.step < 1:
            raise AlphaduckError(f"--step must be at least 1 session, got {self.step}")
        if self.dask and self.objective == "lambdarank":
            raise AlphaduckError("--dask trains classification and regression models; lambdarank runs on one machine")
        if self.walk_forward and self.window == "rolling" and not self.train_sessions:
            raise AlphaduckError("--window rolling needs --train-sessions N (how many sessions each fold trains on)")

    @property
    def label_kind(self) -> str:
        return self.label or DEFAULT_LABEL[self.objective]


@dataclass
class TrainResult:
    run_id: str
    path: Path
    metadata: dict


# -- the estimator ------------------------------------------------------------------------------------


def _ranker_class():
    import lightgbm as lgb

    class QueryRanker(lgb.LGBMRanker):
        """LGBMRanker fed one query per timestamp through a per-row ``query`` array (a fit
        parameter scikit-learn's searches can slice with the rows), not group sizes."""

        def fit(self, X, y, query=None, **kwargs):  # noqa: D102
            return super().fit(X, y, group=_group_sizes(query), **kwargs)

    return QueryRanker


def _group_sizes(query) -> np.ndarray:
    """Sizes of the runs of equal consecutive values (rows are ordered by timestamp)."""
    query = np.asarray(query)
    if len(query) == 0:
        return np.array([], dtype=int)
    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    return np.diff(np.r_[starts, len(query)])


def _estimator(objective: str, seed: int, **params):
    import lightgbm as lgb

    # 63 histogram bins instead of 255: ~20% faster on 2 cores, and noisy market features
    # gain nothing from finer split points
    common = dict(
        random_state=seed, n_jobs=THREADS, deterministic=True, force_row_wise=True, verbose=-1, subsample_freq=1,
        max_bin=63,
    )
    cls = {"classification": lgb.LGBMClassifier, "regression": lgb.LGBMRegressor, "lambdarank": _ranker_class()}[objective]
    return cls(**common, **params)


class _ProgressScorer:
    """A scorer that also advances a progress bar: RandomizedSearchCV calls it once per fit."""

    def __init__(self, scorer, advance: Callable[[], None]):
        self.scorer, self.advance = scorer, advance

    def __call__(self, estimator, X, y):
        self.advance()
        return self.scorer(estimator, X, y)


def _ic_scorer(estimator, X, y) -> float:
    return information_coefficient(estimator.predict(X), np.asarray(y, float))


# -- step 1: the gate ---------------------------------------------------------------------------------


def features_gate(warehouse: Warehouse, opts: TrainOptions) -> dict:
    """Run the features suite; refuse failing data unless --skip-gate (recorded either way)."""
    if opts.skip_gate:
        return {"status": "skipped", "reason": "--skip-gate"}
    from quality.gate import run_gate

    report = run_gate(warehouse, ["features"], record=True)
    if not report.success:
        failed = "; ".join(f"{r.check}: {r.expectation}: {', '.join(r.examples[:3])}" for r in report.failures())
        failed += "".join(f"; {suite}: {why}" for suite, why in report.unavailable.items())
        raise ChecksFailedError(
            f"refusing to train: the features gate failed ({failed}); fix the data, or pass --skip-gate to train anyway"
        )
    return {"status": "passed", "gate_run_id": report.run_id}


# -- step 2: the data ---------------------------------------------------------------------------------


@dataclass
class TrainingData:
    frame: pd.DataFrame  # warmed-up rows with a label, ordered by ts then symbol
    features: list[str]
    label: str  # what the model learns
    return_label: str  # the forward return at the same horizon (metrics, IC)
    horizon: int
    embargo: int
    bar_size: str
    built: BuiltFeatures

    def matrix(self, rows: pd.DataFrame) -> np.ndarray:
        return rows[self.features].to_numpy(dtype=np.float32)

    def target(self, rows: pd.DataFrame, objective: str) -> np.ndarray:
        """What the estimator fits: the label, or for lambdarank its cross-sectional grade."""
        if objective == "lambdarank":
            return np.minimum((rows[self.label].to_numpy(float) * RANK_GRADES).astype(int), RANK_GRADES - 1)
        if objective == "classification":
            return rows[self.label].to_numpy(int)
        return rows[self.label].to_numpy(float)


def load_training_data(warehouse: Warehouse, opts: TrainOptions) -> TrainingData:
    """The warmed-up rows of one bar size with the label the objective learns, and the
    label settings the feature build recorded (horizon, label price: never guessed from data)."""
    with warehouse.reader() as con:
        bar_size = feature_data.choose_bar_size(con, opts.bar_size)
        built = built_features(con)
        horizon = opts.horizon or built.horizon
        if horizon not in built.horizons:
            raise AlphaduckError(
                f"--horizon {horizon}: the labels were built for horizons {built.horizons} (dbt var label_horizons)"
            )
        return_label = label_column("fwd_return", horizon)
        label = label_column(opts.label_kind, horizon)
        loaded = feature_data.load_features(con, bar_size=bar_size, symbols=opts.symbols or None,
                                            labels=[label, return_label])  # fmt: skip
        universe = load_universe(con, opts.universe) if opts.universe else None
    frame = loaded.frame if universe is None else universe.keep(loaded.frame).reset_index(drop=True)
    if frame.empty:
        what = f" for {', '.join(opts.symbols)}" if opts.symbols else ""
        raise AlphaduckError(f"no warmed-up {bar_size} feature rows{what}: ingest more history and run `alphaduck build`")
    frame = frame[frame[label].notna()].reset_index(drop=True)
    embargo = horizon if opts.embargo is None else opts.embargo
    return TrainingData(frame, loaded.features, label, return_label, horizon, embargo, bar_size, built)


# -- step 3: time ----------------------------------------------------------------------------------------


@dataclass
class Split:
    """The rows of one fit: trained on, early-stopped on, judged (or predicted) on."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    windows: dict[str, list[str]]  # train / valid / test: [first session, last session]


def _purged(data: TrainingData, rows: pd.DataFrame, boundary) -> pd.DataFrame:
    """``rows`` less those whose label (the fill bar and h more of their symbol's bars) or
    embargo reach ``boundary``: a symbol with a gap reaches further than the panel does."""
    return purge_by_label_end(rows, boundary, horizon=data.horizon, embargo=data.embargo)


def _window(rows: pd.DataFrame) -> list[str]:
    days = pd.to_datetime(rows["session_date"])
    return [f"{days.min():%Y-%m-%d}", f"{days.max():%Y-%m-%d}"]


def split_by_time(data: TrainingData, opts: TrainOptions) -> Split:
    """Train / validation / test by session (fractions or dates), each window purged before the next."""
    frame = data.frame
    try:
        windows = time_windows(
            frame["session_date"], test_fraction=opts.test_fraction, valid_fraction=opts.valid_fraction,
            test_start=opts.test_start, valid_start=opts.valid_start,
        )  # fmt: skip
    except ValueError as exc:
        raise AlphaduckError(str(exc)) from exc
    day = pd.to_datetime(frame["session_date"])
    valid_start, test_start = windows.valid[0], windows.test[0]
    train = _purged(data, frame[day < valid_start], frame.loc[day >= valid_start, "ts"].min())
    valid = _purged(data, frame[(day >= valid_start) & (day < test_start)], frame.loc[day >= test_start, "ts"].min())
    return Split(train, valid, frame[day >= test_start], windows.as_dict())


def walk_forward_folds(data: TrainingData, opts: TrainOptions) -> list[Split]:
    """Every `step` sessions from the first test session to the end: a fold predicting those
    sessions, early-stopped on the `valid_sessions` before them and trained on everything
    before that (or the last `train_sessions`), each window purged before the next."""
    frame = data.frame
    day = pd.to_datetime(frame["session_date"])
    sessions = pd.DatetimeIndex(sorted(day.unique()))
    valid_n = opts.valid_sessions or opts.step
    if opts.first_test:
        first = int(sessions.searchsorted(pd.Timestamp(opts.first_test)))
    else:
        first = int(len(sessions) * (1 - opts.test_fraction))
    minimum = valid_n + max(opts.train_sessions or 0, 10)
    if first < minimum or first >= len(sessions):
        raise AlphaduckError(
            f"walk-forward: the first test session ({sessions[min(first, len(sessions) - 1)]:%Y-%m-%d}) leaves "
            f"{first} sessions before it; each fold needs {valid_n} validation sessions and at least "
            f"{minimum - valid_n} training ones (sessions {sessions[0]:%Y-%m-%d}..{sessions[-1]:%Y-%m-%d})"
        )
    folds = []
    for start in range(first, len(sessions), opts.step):
        test_days = sessions[start : start + opts.step]
        valid_from = sessions[start - valid_n]
        train_from = sessions[max(0, start - valid_n - opts.train_sessions)] if opts.window == "rolling" else sessions[0]
        test = frame[day.isin(test_days)]
        valid = _purged(data, frame[(day >= valid_from) & (day < test_days[0])], test["ts"].min())
        train = _purged(data, frame[(day >= train_from) & (day < valid_from)], valid["ts"].min() if len(valid) else test["ts"].min())
        folds.append(Split(train, valid, test, {"train": _window(train), "valid": _window(valid), "test": _window(test)}))
    return folds


# -- step 4: hyperparameters ------------------------------------------------------------------------------


@dataclass
class SearchOutcome:
    params: dict  # the best setting, n_estimators left to early stopping
    searched: dict  # the best setting as searched
    fold_scores: list[float]
    splitter: str
    candidates: list[tuple[dict, float]] = field(default_factory=list)  # every setting tried and its mean CV score


def cross_validator(data: TrainingData, opts: TrainOptions) -> PurgedTimeSeriesSplit | CombinatorialPurgedKFold:
    """The splitter candidates are scored on: purged and embargoed per symbol by the label
    horizon, walk-forward (--cv purged) or combinatorial (--cv cpcv)."""
    if opts.cv == "cpcv":
        return CombinatorialPurgedKFold(opts.cv_groups, opts.cv_test_groups, horizon=data.horizon, embargo=data.embargo)
    return PurgedTimeSeriesSplit(n_splits=opts.n_splits, horizon=data.horizon, embargo=data.embargo)


def search(data: TrainingData, rows: pd.DataFrame, opts: TrainOptions,
           progress: Callable[[str, int, int], None]) -> SearchOutcome:  # fmt: skip
    """RandomizedSearchCV over SEARCH_SPACE on purged, embargoed folds of ``rows`` (per symbol:
    groups carry each row's symbol and timestamp)."""
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import RandomizedSearchCV

    cv = cross_validator(data, opts)
    n_splits = cv.get_n_splits()
    total = opts.n_iter * n_splits
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        progress("search", done, total)

    base = get_scorer("roc_auc") if opts.objective == "classification" else _ic_scorer
    with _search_backend(opts) as n_jobs:
        searcher = RandomizedSearchCV(
            _estimator(opts.objective, opts.seed), SEARCH_SPACE, n_iter=opts.n_iter, cv=cv,
            # (on Dask the scorer runs on the workers, which cannot reach this process's
            # progress bar: it moves when the search is done)
            scoring=base if opts.dask else _ProgressScorer(base, advance), refit=False, random_state=opts.seed,
            n_jobs=n_jobs,  # one machine: LightGBM uses the cores, folds run one after another
            error_score="raise",
        )  # fmt: skip
        progress("search", 0, total)
        fit_params = {"query": rows["ts"].to_numpy()} if opts.objective == "lambdarank" else {}
        try:
            searcher.fit(data.matrix(rows), data.target(rows, opts.objective),
                         groups=rows[["symbol", "ts"]].reset_index(drop=True), **fit_params)  # fmt: skip
        except ValueError as exc:
            raise AlphaduckError(f"cross-validation: {exc}") from exc
    progress("search", total, total)
    best = searcher.best_index_
    scores = [float(searcher.cv_results_[f"split{i}_test_score"][best]) for i in range(n_splits)]
    params = {k: v for k, v in searcher.best_params_.items() if k != "n_estimators"}
    tried = [(dict(p), float(m)) for p, m in zip(searcher.cv_results_["params"], searcher.cv_results_["mean_test_score"],
                                                 strict=True)]  # fmt: skip
    return SearchOutcome(params, dict(searcher.best_params_), scores, repr(cv), tried)


@contextlib.contextmanager
def _search_backend(opts: TrainOptions) -> Iterator[int]:
    """Where the search's fits run: here one after another (n_jobs 1), or on --dask's
    workers (ml/distributed.py)."""
    if not opts.dask:
        yield 1
        return
    from alphaduck.cluster import dask_client
    from ml import distributed

    with dask_client(opts.dask) as client, distributed.search_on(client) as n_jobs:
        yield n_jobs


def cpcv_predictions(data: TrainingData, rows: pd.DataFrame, found: SearchOutcome, opts: TrainOptions, *,
                     run_id: str, created: datetime, progress: Callable[[str, int, int], None]) -> pd.DataFrame:  # fmt: skip
    """--cv cpcv: the chosen setting refitted on every split's training rows (purged per
    symbol) and scored on its test rows. Each row of the search window is scored by k / N * C(N, k)
    models that never saw it; a backtest assembles them into that many out-of-sample paths
    and reports one Sharpe per path (Lopez de Prado 2018, ch. 12)."""
    from ml.predict import prediction_rows

    cv = cross_validator(data, opts)
    groups = rows[["symbol", "ts"]].reset_index(drop=True)
    row_group = cv.group_of_rows(groups)
    X, y = data.matrix(rows), data.target(rows, opts.objective)
    n = cv.get_n_splits()
    parts = []
    for s, (train_rows, test_rows) in enumerate(cv.split(X, groups=groups)):
        progress("CPCV paths", s, n)
        model = _estimator(opts.objective, opts.seed, **found.searched)
        extra = {"query": rows["ts"].to_numpy()[train_rows]} if opts.objective == "lambdarank" else {}
        model.fit(X[train_rows], y[train_rows], **extra)
        score = model.predict_proba(X[test_rows])[:, 1] if opts.objective == "classification" else model.predict(X[test_rows])
        part = prediction_rows(rows.iloc[test_rows], run_id=run_id, raw=score, score=score, objective=opts.objective,
                               horizon=data.horizon, created_at=created, label=data.label)  # fmt: skip
        part.insert(1, "split", s)
        part.insert(2, "cv_group", row_group[test_rows])
        parts.append(part)
    progress("CPCV paths", n, n)
    return pd.concat(parts, ignore_index=True)


def cv_metadata(found: SearchOutcome, opts: TrainOptions) -> dict:
    cv = {"kind": opts.cv, "splitter": found.splitter, "fold_scores": found.fold_scores,
          "mean": float(np.mean(found.fold_scores))}  # fmt: skip
    if opts.cv == "cpcv":
        cv |= {"n_groups": opts.cv_groups, "n_test_groups": opts.cv_test_groups,
               "n_paths": comb(opts.cv_groups - 1, opts.cv_test_groups - 1)}  # fmt: skip
    return cv


# -- step 5: the fit ---------------------------------------------------------------------------------------


@dataclass
class Fitted:
    booster: object
    rounds: int
    calibration: dict | None  # isotonic map fitted on the validation window

    def raw(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, num_iteration=self.rounds)

    def score(self, X: np.ndarray) -> np.ndarray:
        raw = self.raw(X)
        return np.interp(raw, self.calibration["x"], self.calibration["y"]) if self.calibration else raw

    def model_text(self) -> bytes:
        return self.booster.model_to_string(num_iteration=self.rounds).encode()


def fit(data: TrainingData, split: Split, found: SearchOutcome, opts: TrainOptions) -> Fitted:
    """The final fit on the training rows, early-stopped on the validation rows (on --dask:
    data-parallel, with the searched number of trees; ml/distributed.py); with --calibrate
    (classifiers), an isotonic map fitted on the validation rows."""
    import lightgbm as lgb

    for name, part in (("training", split.train), ("validation", split.valid)):
        if part.empty:
            raise AlphaduckError(f"the {name} window {split.windows.get('train' if name == 'training' else 'valid')} "
                                 "has no rows left after purging: give it more sessions")  # fmt: skip
        if opts.objective == "classification":
            classes = part[data.label].unique()
            if len(classes) < 2:
                raise AlphaduckError(
                    f"{data.label} has a single class ({int(classes[0]) if len(classes) else 'none'}) in the {name} window "
                    f"{split.windows['train' if name == 'training' else 'valid']}: nothing to learn"
                )
    params = found.params
    X_valid, y_valid = data.matrix(split.valid), data.target(split.valid, opts.objective)
    if opts.dask:
        from alphaduck.cluster import dask_client
        from ml import distributed

        rounds = int(found.searched["n_estimators"])
        with dask_client(opts.dask) as client:
            booster = distributed.fit_data_parallel(
                client, _estimator(opts.objective, opts.seed, n_estimators=rounds, **params),
                data.matrix(split.train), data.target(split.train, opts.objective),
            )  # fmt: skip
        return _calibrated(Fitted(booster, rounds, None), X_valid, y_valid, opts)
    model = _estimator(opts.objective, opts.seed, n_estimators=opts.max_rounds, **params)
    extra = {}
    if opts.objective == "lambdarank":
        extra = {"query": split.train["ts"].to_numpy(), "eval_group": [_group_sizes(split.valid["ts"].to_numpy())],
                 "eval_at": [5]}  # fmt: skip
    model.fit(
        data.matrix(split.train), data.target(split.train, opts.objective), eval_X=(X_valid,), eval_y=(y_valid,),
        callbacks=[lgb.early_stopping(opts.early_stopping_rounds, verbose=False)], **extra,
    )  # fmt: skip
    return _calibrated(Fitted(model.booster_, int(model.best_iteration_ or opts.max_rounds), None), X_valid, y_valid, opts)


def _calibrated(fitted: Fitted, X_valid: np.ndarray, y_valid: np.ndarray, opts: TrainOptions) -> Fitted:
    """``fitted`` with --calibrate's isotonic map (classifiers), fitted on the validation rows."""
    from sklearn.isotonic import IsotonicRegression

    if opts.calibrate and opts.objective == "classification":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(fitted.raw(X_valid), y_valid)
        fitted.calibration = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    return fitted


def score_quantiles(scores: np.ndarray, step: float) -> dict[str, float]:
    """Quantiles of ``scores`` at every ``step`` (keys '0.05', ...): what quantile thresholds
    and score percentiles are read from."""
    levels = np.round(np.arange(step, 1.0, step), 2)
    return {f"{q:.2f}": float(np.quantile(scores, q)) for q in levels}


# -- step 6: judging ----------------------------------------------------------------------------------------


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


def importance(data: TrainingData, fitted: Fitted, rows: pd.DataFrame, opts: TrainOptions) -> pd.DataFrame:
    """Gain (from the trees) and permutation importance (on a sample of ``rows``)."""
    from sklearn.metrics import roc_auc_score

    sample = rows.sample(min(len(rows), opts.permutation_rows), random_state=opts.seed).sort_index()
    if opts.objective == "classification":
        def metric(y, s):
            return roc_auc_score(y, s) if np.std(s) > 0 and len(np.unique(y)) == 2 else 0.5
        y = sample[data.label].to_numpy(int)
    else:
        def metric(y, s):
            return information_coefficient(s, y)
        y = sample[data.return_label].to_numpy(float)
    permutation = permutation_importance(fitted.score, data.matrix(sample), y, metric, seed=opts.seed)
    return pd.DataFrame(
        {"feature": data.features, "gain": fitted.booster.feature_importance("gain", iteration=fitted.rounds),
         "permutation": permutation}
    ).sort_values("gain", ascending=False, ignore_index=True)  # fmt: skip


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


# -- step 7: the registry -----------------------------------------------------------------------------------


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _run_id(created: datetime, objective: str, walk_forward: bool) -> str:
    kind = {"classification": "clf", "regression": "reg", "lambdarank": "rank"}[objective]
    return f"{created:%Y%m%dT%H%M%SZ}-{'wf-' if walk_forward else ''}{kind}-{uuid.uuid4().hex[:6]}"


def common_metadata(warehouse: Warehouse, data: TrainingData, opts: TrainOptions, train_rows: pd.DataFrame,
                    gate: dict) -> dict:  # fmt: skip
    """What every run records: the data it learnt from and the warehouse it belongs to."""
    span = {
        "symbols": sorted(train_rows["symbol"].unique().tolist()),
        "first_ts": train_rows["ts"].min().isoformat(),
        "last_ts": train_rows["ts"].max().isoformat(),
    }
    with warehouse.reader() as con:
        fingerprint = feature_data.training_fingerprint(con, bar_size=data.bar_size, label=data.label, **span)
    return {
        "git_commit": git_commit(),
        "objective": opts.objective,
        "label": data.label,
        "return_label": data.return_label,
        "horizon": data.horizon,
        "label_price": data.built.label_price,  # the fill the labels measure: backtests check it
        "fill": data.built.fill,
        "dead_band": data.built.dead_band,
        "embargo": data.embargo,
        "dask": opts.dask,  # where the search and the final fit ran (None: this machine)
        "bar_size": data.bar_size,
        "symbols": sorted(data.frame["symbol"].unique().tolist()),
        "universe": opts.universe,  # None: every symbol in the warehouse (survivorship bias)
        "features": data.features,
        "dbt_vars": data.built.vars,  # what the feature table was built with (marts.feature_builds)
        "dbt_manifest_sha256": _file_hash(dbt_artifacts_dir("target") / "manifest.json"),
        "warehouse": {"id": None, "path": str(warehouse.path.resolve())},  # the id is set when recorded
        "training_span": span,
        "training_fingerprint": fingerprint,
        "gate": gate,
        "options": asdict(opts),
    }


def register(warehouse: Warehouse, metadata: dict, files: dict[str, bytes], *, models_root,
             folds: list[dict] | None = None, predictions: pd.DataFrame | None = None,
             tried: list[dict] | None = None, cpcv: pd.DataFrame | None = None) -> Path:  # fmt: skip
    """Save the run directory, and record it in ml.train_runs (with its out-of-sample
    predictions, for a walk-forward run) in one transaction; `latest` moves only once the
    warehouse knows the run. A locked warehouse fails before anything is saved; a failed
    record leaves no run directory behind."""
    from ml.predict import upsert_predictions

    with warehouse.writer() as con:
        metadata["warehouse"]["id"] = warehouse_id(con, create=True)
        path = save_run(metadata["run_id"], metadata, root=models_root, files=files)
        try:
            con.execute("begin")
            record_train_run(con, metadata["run_id"], metadata, path, folds=folds, cpcv=cpcv)
            trials.record(con, tried or [])
            if predictions is not None:
                upsert_predictions(con, predictions)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            discard_run(path)
            raise
    point_latest(metadata["run_id"], root=models_root)
    return path


# -- the procedures -------------------------------------------------------------------------------------------


def prepare(warehouse: Warehouse, opts: TrainOptions, progress: Callable[[str, int, int], None]) -> tuple[dict, TrainingData]:
    """Check the options, pass the features gate, read the training rows."""
    opts.check()
    progress("quality gate (features)", 0, 1)
    gate = features_gate(warehouse, opts)
    progress("reading features", 0, 1)
    return gate, load_training_data(warehouse, opts)


def refuse_leaks(data: TrainingData, rows: pd.DataFrame) -> None:
    """No feature may be a label, or track the label or its forward return too closely."""
    for label in dict.fromkeys((data.label, data.return_label)):
        feature_data.refuse_leaks(rows, data.features, label)


def train(
    db: Warehouse | str | Path | None,
    opts: TrainOptions,
    *,
    models_root: str | Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Train, evaluate and register one model; returns its run id, directory and metadata."""
    if opts.walk_forward:
        return train_walk_forward(db, opts, models_root=models_root, on_progress=on_progress)
    warehouse = Warehouse.of(db)
    progress = on_progress or (lambda step, done, total: None)
    gate, data = prepare(warehouse, opts, progress)
    split = split_by_time(data, opts)
    refuse_leaks(data, split.train)

    found = search(data, split.train, opts, progress)
    created = datetime.now(UTC)
    run_id = _run_id(created, opts.objective, False)
    cpcv = cpcv_predictions(data, split.train, found, opts, run_id=run_id, created=created, progress=progress) \
        if opts.cv == "cpcv" else None  # fmt: skip
    progress("final fit", 0, 1)
    fitted = fit(data, split, found, opts)
    X_valid = data.matrix(split.valid)
    progress("test metrics", 0, 1)
    test_score = fitted.score(data.matrix(split.test))
    metrics = evaluate(split.train, split.test, test_score, label=data.label, return_label=data.return_label,
                       objective=opts.objective)  # fmt: skip
    progress("feature importance", 0, 1)
    ranked = importance(data, fitted, split.test, opts)

    metadata = {"run_id": run_id, "created_at": created.isoformat(), "kind": "single"}
    metadata |= common_metadata(warehouse, data, opts, split.train, gate)
    metadata |= {
        "windows": split.windows,
        "train_window": split.windows["train"],  # the drift gate's reference
        "rows": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
        "parameters": {**found.searched, "n_estimators": fitted.rounds, "seed": opts.seed, "threads": THREADS},
        "search": {"space": SEARCH_SPACE, "n_iter": opts.n_iter, "scoring": "roc_auc" if opts.objective == "classification" else "ic"},
        "cv": cv_metadata(found, opts),
        "calibrated": fitted.calibration is not None,
        # the validation window's scores: strategies take thresholds from them (a quantile of
        # what the model said before the test window) instead of guessing; the raw ones at
        # every percent are what quantile thresholds rank by
        "valid_score_quantiles": score_quantiles(fitted.score(X_valid), 0.05),
        "valid_raw_score_quantiles": score_quantiles(fitted.raw(X_valid), 0.01),
        "test_metrics": metrics,
    }  # fmt: skip
    files = model_files(fitted.model_text(), fitted.calibration) | importance_files(ranked, _importance_png(ranked))
    tried = [trials.trial_row(kind="search", run_id=metadata["run_id"], source_id=metadata["run_id"], parameters=p,
                              window=tuple(pd.Timestamp(d) for d in split.windows["train"]), score=score)
             for p, score in found.candidates]  # fmt: skip
    path = register(warehouse, metadata, files, models_root=models_root, tried=tried, cpcv=cpcv)
    return TrainResult(metadata["run_id"], path, metadata)


def train_walk_forward(
    db: Warehouse | str | Path | None,
    opts: TrainOptions,
    *,
    models_root: str | Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Retrain every `step` sessions on what came before and predict the step: one run id
    groups the fold models (models/<run_id>/folds/<k>/) and one continuous out-of-sample
    series lands in ml.predictions under that run id."""
    from ml.predict import prediction_rows

    warehouse = Warehouse.of(db)
    progress = on_progress or (lambda step, done, total: None)
    gate, data = prepare(warehouse, opts, progress)
    folds = walk_forward_folds(data, opts)
    refuse_leaks(data, folds[0].train)

    created = datetime.now(UTC)
    run_id = _run_id(created, opts.objective, True)
    files: dict[str, bytes] = {}
    fold_records, scored, timings = [], [], []
    found = None
    cpcv = None
    candidates = []
    gains = np.zeros(len(data.features))
    for k, split in enumerate(folds):
        started = time.perf_counter()
        if found is None or opts.search_each_fold:
            found = search(data, split.train, opts, lambda step, done, total, k=k: progress(f"fold {k + 1}/{len(folds)}: search", done, total))
            candidates += [(k, split, p, score) for p, score in found.candidates]
            if cpcv is None and opts.cv == "cpcv":  # the paths of the first search window
                cpcv = cpcv_predictions(data, split.train, found, opts, run_id=run_id, created=created,
                                        progress=lambda step, done, total, k=k: progress(f"fold {k + 1}/{len(folds)}: CPCV paths", done, total))  # fmt: skip
        progress(f"fold {k + 1}/{len(folds)}: fit", k, len(folds))
        fitted = fit(data, split, found, opts)
        X_test = data.matrix(split.test)
        raw, score = fitted.raw(X_test), fitted.score(X_test)
        scored.append(prediction_rows(split.test, run_id=run_id, raw=raw, score=score, objective=opts.objective,
                                      horizon=data.horizon, created_at=created, label=data.label))  # fmt: skip
        # what the model learnt from, per symbol: its last training row (a test proves the
        # label of that row ends before the fold's first prediction)
        ends = label_end_times(split.train["symbol"], split.train["ts"], data.horizon)
        label_end = pd.Series(ends).max()
        files |= model_files(fitted.model_text(), fitted.calibration, fold=k)
        gains += fitted.booster.feature_importance("gain", iteration=fitted.rounds)
        fold_ic = information_coefficient(score, split.test[data.return_label].to_numpy(float))
        seconds = time.perf_counter() - started
        timings.append(seconds)
        fold_records.append({
            "fold": k, "windows": split.windows, "rows": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
            "rounds": fitted.rounds, "parameters": found.searched, "cv_scores": found.fold_scores,
            "train_label_end": None if pd.isna(label_end) else pd.Timestamp(label_end).isoformat(),
            "train_last_ts": {s: t.isoformat() for s, t in split.train.groupby("symbol")["ts"].max().items()},
            "test_first_ts": split.test["ts"].min().isoformat(),
            "valid_raw_score_quantiles": score_quantiles(fitted.raw(data.matrix(split.valid)), 0.01),
            "calibrated": fitted.calibration is not None, "test_ic": fold_ic, "seconds": seconds,
        })  # fmt: skip
        progress(f"fold {k + 1}/{len(folds)}: done ({seconds:.1f} s)", k + 1, len(folds))

    predictions = pd.concat(scored, ignore_index=True)
    out_of_sample = pd.concat([f.test for f in folds], ignore_index=True)
    metrics = evaluate(folds[0].train, out_of_sample, predictions["proba_up"].to_numpy() if opts.objective == "classification"
                       else predictions["score"].to_numpy(),  # fmt: skip
                       label=data.label, return_label=data.return_label, objective=opts.objective)
    ranked = pd.DataFrame({"feature": data.features, "gain": gains, "permutation": np.nan}).sort_values(
        "gain", ascending=False, ignore_index=True)  # fmt: skip
    first, last = folds[0], folds[-1]
    metadata = {"run_id": run_id, "created_at": created.isoformat(), "kind": "walk_forward"}
    metadata |= common_metadata(warehouse, data, opts, first.train, gate)
    metadata |= {
        "windows": {"train": first.windows["train"], "valid": first.windows["valid"],
                    "test": [first.windows["test"][0], last.windows["test"][1]]},
        "train_window": last.windows["train"],  # the drift gate's reference: the newest model's
        "rows": {"train": len(last.train), "valid": len(last.valid), "test": len(out_of_sample)},
        "walk_forward": {"step": opts.step, "window": opts.window, "train_sessions": opts.train_sessions,
                         "valid_sessions": opts.valid_sessions or opts.step, "search_each_fold": opts.search_each_fold,
                         "fold_seconds": timings},
        "folds": fold_records,
        "parameters": {**fold_records[-1]["parameters"], "n_estimators": fold_records[-1]["rounds"], "seed": opts.seed,
                       "threads": THREADS},
        "search": {"space": SEARCH_SPACE, "n_iter": opts.n_iter, "scoring": "roc_auc" if opts.objective == "classification" else "ic"},
        "cv": cv_metadata(found, opts),
        "calibrated": bool(fold_records[-1]["calibrated"]),
        "valid_raw_score_quantiles": fold_records[-1]["valid_raw_score_quantiles"],
        "test_metrics": metrics,
    }  # fmt: skip
    files |= importance_files(ranked, _importance_png(ranked)) | newest_fold_as_run(files, len(folds) - 1)
    tried = [trials.trial_row(kind="fold", run_id=run_id, source_id=run_id, parameters={"fold": f["fold"], **f["parameters"]},
                              window=tuple(pd.Timestamp(d) for d in f["windows"]["test"]), score=f["test_ic"])
             for f in fold_records]  # fmt: skip
    # every setting the searches scored, on the training window they scored it on
    tried += [trials.trial_row(kind="search", run_id=run_id, source_id=f"{run_id}/fold{k}", parameters=p,
                               window=tuple(pd.Timestamp(d) for d in split.windows["train"]), score=score)
              for k, split, p, score in candidates]  # fmt: skip
    progress("registering and writing predictions", 0, 1)
    path = register(warehouse, metadata, files, models_root=models_root, folds=fold_records, predictions=predictions,
                    tried=tried, cpcv=cpcv)  # fmt: skip
    return TrainResult(run_id, path, metadata)


def metrics_table(metadata: dict):
    """A rich table: the model's test metrics beside each baseline's."""
    from rich.table import Table

    pooled = metadata["test_metrics"]["pooled"]
    names = list(pooled["model"])
    what = "walk-forward out-of-sample" if metadata.get("kind") == "walk_forward" else "test window"
    table = Table("", *names, title=f"{what} {' .. '.join(metadata['windows']['test'])}: "
                  f"{metadata['test_metrics']['rows']:,} rows, {metadata['label']}")  # fmt: skip
    for who, values in pooled.items():
        table.add_row(who, *(f"{values[n]:.4f}" for n in names), style="bold" if who == "model" else None)
    return table


if __name__ == "__main__":
    from alphaduck.cli import standalone
    from ml.cli import train_command

    standalone(train_command, prog_name="python -m ml.train")
