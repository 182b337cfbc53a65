"""Splitting a panel of bars by time: the train / validation / test windows, and a
purged, embargoed cross-validation splitter for scikit-learn's searches.

The feature table is a panel: every symbol has a row at (nearly) every timestamp. A split
that cut between two symbols' rows at the same timestamp would train on one and validate
on the other with the same market moment on both sides, so every split here is made on
unique timestamps, and all rows of one timestamp fall on the same side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import TimeSeriesSplit


class PurgedTimeSeriesSplit:
    """Walk-forward splits on timestamps, purged of label overlap and embargoed.

    Each test fold is a block of consecutive unique timestamps; its training set is every
    timestamp before it except the last ``horizon + embargo``, so no training label (which
    looks ``horizon`` bars ahead) reaches into the test fold, and ``embargo`` more bars keep
    serially correlated features apart. Built on scikit-learn's ``TimeSeriesSplit(gap=...)``
    applied to the unique timestamps, then mapped back to rows. Never shuffles.

    Parameters
    ----------
    n_splits : int, default=5
        Number of test folds. Must be at least 2.
    horizon : int
        Bars each label looks ahead (dbt var ``label_horizon``). Must be at least 1.
    embargo : int or None, default=None
        Extra bars left out between training and each test fold. Defaults to ``horizon``.
    max_train_size : int or None, default=None
        Most timestamps in a training set (a rolling instead of an expanding window).

    Yields
    ------
    train, test : ndarray of int
        Row indices (into ``X``) of the training and test rows of one fold.

    Notes
    -----
    With ``u`` unique timestamps, each test fold holds ``u // (n_splits + 1)`` of them and
    the gap between the last training and the first test timestamp is
    ``horizon + embargo`` timestamps.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.repeat(np.arange(8), 2)  # two symbols, eight timestamps
    >>> cv = PurgedTimeSeriesSplit(n_splits=2, horizon=1, embargo=1)
    >>> for train, test in cv.split(ts, groups=ts):
    ...     print("TRAIN:", np.unique(ts[train]), "TEST:", np.unique(ts[test]))
    TRAIN: [0 1] TEST: [4 5]
    TRAIN: [0 1 2 3] TEST: [6 7]
    """

    def __init__(self, n_splits: int = 5, *, horizon: int, embargo: int | None = None, max_train_size: int | None = None):
        if not isinstance(n_splits, int | np.integer) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer of at least 2, got n_splits={n_splits!r}")
        if not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ValueError(f"horizon must be an integer of at least 1 bar, got horizon={horizon!r}")
        embargo = horizon if embargo is None else embargo
        if not isinstance(embargo, int | np.integer) or embargo < 0:
            raise ValueError(f"embargo must be a non-negative integer, got embargo={embargo!r}")
        self.n_splits = int(n_splits)
        self.horizon = int(horizon)
        self.embargo = int(embargo)
        self.max_train_size = max_train_size

    @property
    def gap(self) -> int:
        return self.horizon + self.embargo

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train, test) row indices; ``groups`` is the timestamp of every row (required)."""
        if groups is None:
            raise ValueError("PurgedTimeSeriesSplit needs groups: the timestamp of every row")
        stamps = np.asarray(groups)
        if len(stamps) != _n_rows(X):
            raise ValueError(f"groups has {len(stamps)} timestamps for {_n_rows(X)} rows")
        unique, position = np.unique(stamps, return_inverse=True)
        test_size = len(unique) // (self.n_splits + 1)
        if test_size == 0 or len(unique) - self.gap - test_size * self.n_splits <= 0:
            raise ValueError(
                f"Too many splits={self.n_splits} for {len(unique)} unique timestamps with test_size={test_size} "
                f"and gap={self.gap} (horizon={self.horizon} + embargo={self.embargo}): no training timestamps left"
            )
        splitter = TimeSeriesSplit(n_splits=self.n_splits, gap=self.gap, max_train_size=self.max_train_size)
        for train_stamps, test_stamps in splitter.split(unique):
            # rows whose timestamp position falls in each set, in row order
            yield (np.flatnonzero(np.isin(position, train_stamps)), np.flatnonzero(np.isin(position, test_stamps)))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def __repr__(self) -> str:
        return (
            f"PurgedTimeSeriesSplit(n_splits={self.n_splits}, horizon={self.horizon}, "
            f"embargo={self.embargo}, max_train_size={self.max_train_size})"
        )


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


@dataclass(frozen=True)
class Windows:
    """Session windows of a train / validation / test split (inclusive dates)."""

    train: tuple[pd.Timestamp, pd.Timestamp]
    valid: tuple[pd.Timestamp, pd.Timestamp]
    test: tuple[pd.Timestamp, pd.Timestamp]

    def as_dict(self) -> dict[str, list[str]]:
        return {k: [f"{a:%Y-%m-%d}", f"{b:%Y-%m-%d}"] for k, (a, b) in vars(self).items()}


def time_windows(
    sessions: pd.Series | np.ndarray,
    *,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.2,
    test_start: str | None = None,
    valid_start: str | None = None,
) -> Windows:
    """Train / validation / test by session: the test window is the last ``test_fraction``
    of sessions (or from ``test_start``), validation the last ``valid_fraction`` of what is
    before it (or from ``valid_start``), train everything earlier."""
    days = pd.DatetimeIndex(sorted(pd.unique(pd.to_datetime(pd.Series(sessions))))).normalize()
    if len(days) < 10:
        raise ValueError(f"only {len(days)} sessions of warmed-up features: too few to split into train, validation and test")
    test_from = pd.Timestamp(test_start) if test_start else days[int(len(days) * (1 - test_fraction))]
    before_test = days[days < test_from]
    valid_from = pd.Timestamp(valid_start) if valid_start else before_test[int(len(before_test) * (1 - valid_fraction))]
    train_days, valid_days, test_days = days[days < valid_from], days[(days >= valid_from) & (days < test_from)], days[days >= test_from]
    for name, part in (("train", train_days), ("validation", valid_days), ("test", test_days)):
        if len(part) == 0:
            raise ValueError(
                f"the {name} window is empty (sessions {days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}, "
                f"validation from {valid_from:%Y-%m-%d}, test from {test_from:%Y-%m-%d})"
            )
    return Windows(
        (train_days[0], train_days[-1]), (valid_days[0], valid_days[-1]), (test_days[0], test_days[-1])
    )


def purge_before(frame: pd.DataFrame, boundary: pd.Timestamp, gap: int, ts_column: str = "ts") -> pd.DataFrame:
    """Drop the rows of the last ``gap`` unique timestamps before ``boundary`` (exclusive):
    their labels look into the next window."""
    stamps = np.sort(frame.loc[frame[ts_column] < boundary, ts_column].unique())
    if gap == 0 or len(stamps) == 0:
        return frame
    cutoff = stamps[-gap] if len(stamps) >= gap else stamps[0]
    return frame[frame[ts_column] < cutoff]
