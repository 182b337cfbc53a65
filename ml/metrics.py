"""Test-window metrics of a model beside naive baselines on the same rows (pure functions).

A model is only interesting if it beats what needs no model: always the majority class,
the previous bar's direction, or the sign of recent momentum. Each baseline gets honest
probabilities (frequencies measured on the training rows), so log loss and Brier compare too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    mean_squared_error,
    roc_auc_score,
)

from alphaduck.features import LABEL_NEUTRAL, label_kind

# baseline name -> the feature column whose sign it follows (None: the majority class)
BASELINES: dict[str, str | None] = {"majority": None, "previous_bar": "ret_1", "momentum": "ret_n"}


def information_coefficient(score: np.ndarray, forward_return: np.ndarray) -> float:
    """Spearman correlation of a score with the realised forward return (nan if undefined)."""
    ok = ~(np.isnan(score) | np.isnan(forward_return))
    if ok.sum() < 3 or np.ptp(score[ok]) == 0 or np.ptp(forward_return[ok]) == 0:
        return float("nan")
    return float(spearmanr(score[ok], forward_return[ok]).statistic)


def classification_metrics(y: np.ndarray, proba: np.ndarray, forward_return: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    proba = np.clip(np.asarray(proba, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, proba)) if both and np.std(proba) > 0 else 0.5,
        "log_loss": float(log_loss(y, proba, labels=[0, 1])),
        "accuracy": float(accuracy_score(y, proba >= 0.5)),
        "balanced_accuracy": float(balanced_accuracy_score(y, proba >= 0.5)),
        "brier": float(brier_score_loss(y, proba)),
        "ic": information_coefficient(proba, forward_return),
    }


def regression_metrics(
    target: np.ndarray, predicted: np.ndarray, forward_return: np.ndarray, *, neutral: float = 0.0
) -> dict[str, float]:
    """Error against the label the model learnt (a return, a rank in [0, 1], an excess return),
    how often the prediction falls on the same side of the label's neutral value as the
    outcome, and the IC with the realised forward return, whatever the label."""
    target, predicted = np.asarray(target, dtype=float), np.asarray(predicted, dtype=float)
    ok = ~np.isnan(target)
    return {
        "rmse": float(np.sqrt(mean_squared_error(target[ok], predicted[ok]))),
        "direction_accuracy": float(np.mean((predicted[ok] > neutral) == (target[ok] > neutral))),
        "label_ic": information_coefficient(predicted, target),
        "ic": information_coefficient(predicted, forward_return),
    }


def ranking_metrics(target: np.ndarray, predicted: np.ndarray, forward_return: np.ndarray) -> dict[str, float]:
    """A ranker's scores have no scale, only an order: its rank correlation with the label it
    learnt and with the realised forward return."""
    return {
        "label_ic": information_coefficient(np.asarray(predicted, float), np.asarray(target, float)),
        "ic": information_coefficient(np.asarray(predicted, float), forward_return),
    }


def baseline_scores(train: pd.DataFrame, test: pd.DataFrame, label: str) -> dict[str, np.ndarray]:
    """Each baseline's prediction for the test rows: for a direction label the probability
    of an up move given the baseline's signal, as measured on the training rows; for a
    return label the training rows' mean return given the signal."""
    scores = {}
    for name, column in BASELINES.items():
        if column is None:
            scores[name] = np.full(len(test), train[label].mean())
            continue
        signal_train, signal_test = train[column] > 0, test[column] > 0
        by_signal = train.groupby(signal_train)[label].mean()
        fallback = train[label].mean()
        scores[name] = np.where(signal_test, by_signal.get(True, fallback), by_signal.get(False, fallback)).astype(float)
    return scores


def evaluate(
    train: pd.DataFrame,
    test: pd.DataFrame,
    score: np.ndarray,
    *,
    label: str,
    return_label: str,
    objective: str,
) -> dict:
    """The model's metrics and each baseline's on the test rows, pooled, plus the IC per symbol.
    Every figure compares a prediction with the label it predicts; the IC compares it with the
    forward return of the same horizon, so models of different labels compare on it."""
    forward = test[return_label].to_numpy(float)
    target = test[label].to_numpy(float)

    def metrics(s: np.ndarray) -> dict[str, float]:
        if objective == "classification":
            return classification_metrics(test[label].to_numpy(int), s, forward)
        if objective == "lambdarank":
            return ranking_metrics(target, s, forward)
        return regression_metrics(target, s, forward, neutral=LABEL_NEUTRAL[label_kind(label)])

    result = {"model": metrics(score)}
    for name, baseline in baseline_scores(train, test, label).items():
        result[name] = metrics(baseline)
    per_symbol = {
        symbol: information_coefficient(score[idx], forward[idx])
        for symbol, idx in test.groupby("symbol").indices.items()
    }
    return {"pooled": result, "ic_per_symbol": per_symbol, "rows": int(len(test))}
