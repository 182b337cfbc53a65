"""Training past one machine: `alphaduck train --dask local|HOST:PORT` (README "Scaling out").

On Dask the hyperparameter search fans its candidate fits out to the cluster's workers
(scikit-learn's search through joblib's Dask backend: the same folds, seeds and scores as on
one machine), and the final model is fitted data-parallel by ``lightgbm.dask`` on partitions
of the training rows, one per worker. The features, the splits and the registry are the
ones a local run uses.

One difference, from LightGBM itself: its Dask interface has no early stopping (LightGBM
issue #4189), so the final fit grows the number of trees the search chose instead of
stopping on the validation window; that window still calibrates and sets the thresholds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from alphaduck.cluster import worker_count


@contextlib.contextmanager
def search_on(client) -> Iterator[int]:
    """joblib's backend for a scikit-learn search, on the client's workers; yields the n_jobs
    to give the search."""
    import joblib

    with joblib.parallel_backend("dask", client=client):
        yield -1


def fit_data_parallel(client, estimator, X: np.ndarray, y: np.ndarray):
    """Fit a LightGBM classifier's or regressor's settings with lightgbm.dask on the
    client's workers, the rows cut into one partition per worker; returns the Booster."""
    import dask.array as da
    import lightgbm as lgb

    dask_class = {lgb.LGBMClassifier: lgb.DaskLGBMClassifier, lgb.LGBMRegressor: lgb.DaskLGBMRegressor}[type(estimator)]
    params = estimator.get_params()
    params["n_jobs"] = 1  # one thread per worker: the workers are the parallelism
    parts = min(worker_count(client), max(len(y), 1))
    chunks = tuple(np.diff(np.linspace(0, len(y), parts + 1).astype(int)).tolist())
    model = dask_class(client=client, **params)
    model.fit(da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(y, chunks=(chunks,)))
    return model.to_local().booster_
