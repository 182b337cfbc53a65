"""Splitting a panel of bars by time: the train / validation / test windows, and purged,
embargoed cross-validation splitters for scikit-learn's searches.

The feature table is a panel: every symbol has a row at (nearly) every timestamp. A split
that cut between two symbols' rows at the same timestamp would train on one and validate
on the other with the same market moment on both sides, so every split here is made on
unique timestamps, and all rows of one timestamp fall on the same side.

Purging is by each row's own label end. A label looks ahead over its symbol's own bars, so
where a symbol has missing bars (a halt, a late listing, a data hole) its label reaches
further in calendar time than ``horizon`` panel timestamps: counting panel timestamps (the
old ``purge_before`` and the 1-D ``groups`` mode of ``PurgedTimeSeriesSplit``) leaks there.
:func:`label_end_times` gives every row's label end; the splitters purge with it when
``groups`` carries (symbol, ts), and :func:`purge_by_label_end` does it for the windows.

References
----------
.. [1] M. Lopez de Prado, *Advances in Financial Machine Learning*, Wiley, 2018:
   ch. 7 (purging and embargo), ch. 12 (combinatorial purged cross-validation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd
from sklearn.model_selection import TimeSeriesSplit

# -- label ends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    """Rows as integer codes: ``rank`` is each row's position among the sorted unique
    timestamps ``stamps``; ``symbol`` is a symbol code per row, or None for a bare
    timestamp panel (purged as if the whole panel were one series)."""

    rank: np.ndarray
    stamps: pd.Index
    symbol: np.ndarray | None

    @property
    def n_stamps(self) -> int:
        return len(self.stamps)

    def shifted(self, bars: int) -> np.ndarray:
        """Timestamp rank of each row's ``bars``-th next bar of the same symbol (``bars`` < 0:
        previous). Where there is none: ``n_stamps`` going forward, -1 going back."""
        missing = self.n_stamps if bars > 0 else -1
        if self.symbol is None:
            out = self.rank + bars
            return np.where((out >= 0) & (out < self.n_stamps), out, missing)
        order = np.lexsort((self.rank, self.symbol))
        symbol, rank = self.symbol[order], self.rank[order]
        target = np.arange(len(order)) + bars
        inside = (target >= 0) & (target < len(order))
        target = np.clip(target, 0, max(len(order) - 1, 0))
        same = inside & (symbol[target] == symbol)
        out = np.empty(len(order), dtype=np.int64)
        out[order] = np.where(same, rank[target], missing)
        return out


def _panel_of_rows(splitter: str, X, groups) -> _Panel:
    """The panel of a splitter's ``groups``: (symbol, ts) per row, or the timestamp of every
    row (one symbol); ValueError names what is missing or does not match ``X``."""
    if groups is None:
        raise ValueError(f"{splitter} needs groups: (symbol, ts) per row, or the timestamp of every row")
    symbols, stamps = _symbols_and_stamps(groups)
    if len(stamps) != _n_rows(X):
        raise ValueError(f"groups has {len(stamps)} timestamps for {_n_rows(X)} rows")
    return _panel(symbols, stamps)


def _panel(symbols, ts) -> _Panel:
    values = _values(ts)
    first = np.asarray(values[:1])
    textual = isinstance(values.dtype, pd.StringDtype) or getattr(values.dtype, "kind", "") in "US"
    if textual or (values.dtype == object and len(first) and isinstance(first[0], str)):
        # np.column_stack([symbols, ts]) turns the timestamps into text, which sorts "10" before "2"
        raise ValueError(
            "timestamps are strings (a numpy array of (symbol, ts) stores both as text): pass groups as a "
            "DataFrame with symbol and ts columns, or timestamps as datetime64 or numbers"
        )
    rank, stamps = pd.factorize(values, sort=True)
    if (rank < 0).any():
        raise ValueError(f"timestamps hold {int((rank < 0).sum())} missing values (NaT/None): every row needs a timestamp")
    stamps = pd.Index(stamps)
    if symbols is None:
        return _Panel(rank.astype(np.int64), stamps, None)
    symbol, _ = pd.factorize(_values(symbols))
    if len(symbol) != len(rank):
        raise ValueError(f"{len(symbol)} symbols for {len(rank)} timestamps")
    key = symbol.astype(np.int64) * (len(stamps) + 1) + rank
    if len(np.unique(key)) != len(key):
        raise ValueError("(symbol, ts) pairs must be unique: a symbol has two rows at one timestamp")
    return _Panel(rank.astype(np.int64), stamps, symbol.astype(np.int64))


def _values(column):
    """A 1-D column as something pd.factorize keeps the type of (tz-aware stays tz-aware)."""
    if isinstance(column, pd.Series | pd.Index):
        return column
    array = np.asarray(column)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D column, got shape {array.shape}")
    return pd.Series(array) if array.dtype == object else array


def _stamps_at(stamps: pd.Index, rank: np.ndarray) -> np.ndarray:
    """Timestamps at the given ranks, NaT (NaN for numeric timestamps) where the rank is off the end."""
    found = (rank >= 0) & (rank < len(stamps))
    if isinstance(stamps, pd.DatetimeIndex):
        values = stamps.tz_convert("UTC").tz_localize(None) if stamps.tz is not None else stamps
        out = np.full(len(rank), np.datetime64("NaT"), dtype=values.dtype)
        out[found] = values.to_numpy()[rank[found]]
        return out
    out = np.full(len(rank), np.nan)
    out[found] = np.asarray(stamps, dtype=float)[rank[found]]
    return out


def label_end_times(symbols, ts, horizon: int, *, extra_bars: int = 1) -> np.ndarray:
    """The timestamp each row's label ends at: the same symbol's ``horizon + extra_bars``-th
    next bar among the given rows.

    A label of ``horizon`` bars decided at bar ``t`` and filled at the next bar's open earns
    ``open(t+1+horizon) / open(t+1) - 1``: it spans the ``horizon + 1`` bars after ``t`` and
    ends at the symbol's ``(horizon + 1)``-th next bar, hence ``extra_bars=1``. A label that
    starts at ``t`` itself (``close(t+h) / close(t) - 1``) has ``extra_bars=0``. Bars are
    counted per symbol, so a symbol's missing bars stretch its label in calendar time.

    Parameters
    ----------
    symbols : array-like of shape (n_rows,)
        Symbol of every row.
    ts : array-like of shape (n_rows,)
        Timestamp of every row; rows need not be sorted. (symbol, ts) pairs must be unique.
    horizon : int
        Bars the label looks ahead, at least 0.
    extra_bars : int, default=1
        Bars between the decision bar and the label's start (1: fills at the next bar).

    Returns
    -------
    ndarray of shape (n_rows,)
        ``datetime64`` (UTC, naive, for tz-aware input) with NaT where the symbol has too
        few later rows; for numeric timestamps, float with NaN there.

    Examples
    --------
    >>> import numpy as np
    >>> symbols = np.array(["A", "A", "A", "A", "B", "B", "B"])
    >>> ts = np.array([1, 2, 3, 4, 1, 2, 4])  # B has no bar at 3
    >>> label_end_times(symbols, ts, horizon=1)
    array([ 3.,  4., nan, nan,  4., nan, nan])
    """
    if not isinstance(horizon, int | np.integer) or horizon < 0:
        raise ValueError(f"horizon must be a non-negative integer, got horizon={horizon!r}")
    if not isinstance(extra_bars, int | np.integer) or extra_bars < 0:
        raise ValueError(f"extra_bars must be a non-negative integer, got extra_bars={extra_bars!r}")
    panel = _panel(symbols, ts)
    bars = int(horizon + extra_bars)
    return _stamps_at(panel.stamps, panel.shifted(bars) if bars else panel.rank)


def _purged_train_mask(panel: _Panel, test: np.ndarray, *, label_bars: int, embargo: int) -> np.ndarray:
    """Rows that may train against the test rows (a boolean mask over rows, test rows excluded).

    Each maximal run of test timestamps ``[a, b]`` (ranks) purges, before it, every row whose
    label end plus ``embargo`` more of its symbol's bars reaches ``a`` (or is unknown), and
    after it, every row up to the last label end of the run's test rows plus the ``embargo``
    bars of each symbol that follow it.
    """
    test_stamp = np.zeros(panel.n_stamps, bool)
    test_stamp[panel.rank[test]] = True
    train = ~test_stamp[panel.rank]
    if not test_stamp.any():
        return train
    label_end = panel.shifted(label_bars) if label_bars else panel.rank
    purge_end = panel.shifted(label_bars + embargo) if label_bars + embargo else panel.rank
    embargo_start = panel.shifted(-embargo) if embargo else panel.rank
    edges = np.flatnonzero(np.diff(np.concatenate([[0], test_stamp.astype(np.int8), [0]])))
    for a, b_end in zip(edges[::2], edges[1::2], strict=True):
        b = b_end - 1
        before = panel.rank < a
        train &= ~(before & (purge_end >= a))
        in_run = (panel.rank >= a) & (panel.rank <= b)
        ends = label_end[in_run]
        known = ends[ends < panel.n_stamps]
        span_end = max(int(known.max()) if len(known) else b, b)
        after = panel.rank > b
        train &= ~(after & (embargo_start <= span_end))
    return train


# -- walk-forward --------------------------------------------------------------------------------------


class PurgedTimeSeriesSplit:
    """Walk-forward splits on timestamps, purged of label overlap and embargoed.

    Each test fold is a block of consecutive unique timestamps; its training set is the
    timestamps before it, purged so that no training label reaches into the test fold and
    embargoed so that serially correlated features stay apart. Never shuffles.

    ``groups`` decides how the purge counts bars:

    - 1-D, the timestamp of every row (the panel purge): the last ``horizon + embargo``
      unique panel timestamps before each fold are left out. Exact for a complete panel; a
      symbol with missing bars just before a fold leaks (its label spans its gap).
    - 2 columns, (symbol, ts) per row (array of shape (n_rows, 2) or a DataFrame with
      ``symbol`` and ``ts`` columns, else its first two columns): a training row is left
      out when its label end (:func:`label_end_times`, its symbol's
      ``horizon + extra_bars``-th next bar) moved on by ``embargo`` more of its symbol's
      bars is at or after the fold's first timestamp, or does not exist among the rows.

    Parameters
    ----------
    n_splits : int, default=5
        Number of test folds. Must be at least 2.
    horizon : int
        Bars each label looks ahead (dbt var ``label_horizon``). Must be at least 1.
    embargo : int or None, default=None
        Extra bars left out between training and each test fold. Defaults to ``horizon``.
    max_train_size : int or None, default=None
        Most timestamps in a training set (a rolling instead of an expanding window); with
        (symbol, ts) groups counted before the purge.
    extra_bars : int, default=1
        (symbol, ts) groups only: bars between a row and its label's start (1: fills at the
        next bar's open, so a label spans ``horizon + 1`` bars). See :func:`label_end_times`.

    Yields
    ------
    train, test : ndarray of int
        Row indices (into ``X``) of the training and test rows of one fold.

    Notes
    -----
    With ``u`` unique timestamps, each test fold holds ``u // (n_splits + 1)`` of them. With
    1-D groups the gap between the last training and the first test timestamp is
    ``horizon + embargo`` timestamps; with (symbol, ts) groups each symbol loses its last
    ``horizon + extra_bars + embargo`` bars before the fold (more where it has holes).

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.repeat(np.arange(8), 2)  # two symbols, eight timestamps
    >>> cv = PurgedTimeSeriesSplit(n_splits=2, horizon=1, embargo=1)
    >>> for train, test in cv.split(ts, groups=ts):
    ...     print("TRAIN:", np.unique(ts[train]), "TEST:", np.unique(ts[test]))
    TRAIN: [0 1] TEST: [4 5]
    TRAIN: [0 1 2 3] TEST: [6 7]

    Per symbol: B has no bars at 4..6, so its label from 3 ends at 8 (two of its bars on,
    with fills at the next bar): B's bar 3 trains in neither fold, though a panel purge of
    ``horizon + extra_bars`` timestamps would keep it before the second.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"symbol": ["A"] * 12 + ["B"] * 9,
    ...                      "ts": [*range(12), 0, 1, 2, 3, 7, 8, 9, 10, 11]})
    >>> cv = PurgedTimeSeriesSplit(n_splits=2, horizon=1, embargo=0)
    >>> for train, test in cv.split(rows, groups=rows[["symbol", "ts"]]):
    ...     print("TRAIN:", rows.iloc[train].groupby("symbol").ts.apply(list).to_dict(),
    ...           "TEST:", rows.ts.iloc[test].unique().tolist())
    TRAIN: {'A': [0, 1], 'B': [0, 1]} TEST: [4, 5, 6, 7]
    TRAIN: {'A': [0, 1, 2, 3, 4, 5], 'B': [0, 1, 2]} TEST: [8, 9, 10, 11]
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        horizon: int,
        embargo: int | None = None,
        max_train_size: int | None = None,
        extra_bars: int = 1,
    ):
        if not isinstance(n_splits, int | np.integer) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer of at least 2, got n_splits={n_splits!r}")
        self.horizon, self.embargo, self.extra_bars = _check_label(horizon, embargo, extra_bars)
        self.n_splits = int(n_splits)
        self.max_train_size = max_train_size

    @property
    def gap(self) -> int:
        return self.horizon + self.embargo

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train, test) row indices; ``groups``: the timestamp of every row, or (symbol, ts) per row."""
        panel = _panel_of_rows(type(self).__name__, X, groups)
        test_size = panel.n_stamps // (self.n_splits + 1)
        if test_size == 0 or panel.n_stamps - self.gap - test_size * self.n_splits <= 0:
            raise ValueError(
                f"Too many splits={self.n_splits} for {panel.n_stamps} unique timestamps with test_size={test_size} "
                f"and gap={self.gap} (horizon={self.horizon} + embargo={self.embargo}): no training timestamps left"
            )
        if panel.symbol is None:
            splitter = TimeSeriesSplit(n_splits=self.n_splits, gap=self.gap, max_train_size=self.max_train_size)
            for train_stamps, test_stamps in splitter.split(np.arange(panel.n_stamps)):
                yield (np.flatnonzero(np.isin(panel.rank, train_stamps)), np.flatnonzero(np.isin(panel.rank, test_stamps)))
            return
        splitter = TimeSeriesSplit(n_splits=self.n_splits, max_train_size=self.max_train_size)
        for fold, (train_stamps, test_stamps) in enumerate(splitter.split(np.arange(panel.n_stamps))):
            test = np.flatnonzero(np.isin(panel.rank, test_stamps))
            allowed = _purged_train_mask(panel, test, label_bars=self.horizon + self.extra_bars, embargo=self.embargo)
            train = np.flatnonzero(allowed & np.isin(panel.rank, train_stamps))
            if len(train) == 0:
                raise ValueError(
                    f"fold {fold}: no training rows left before {panel.stamps[test_stamps[0]]} after purging labels of "
                    f"horizon={self.horizon} + extra_bars={self.extra_bars} and embargo={self.embargo}"
                )
            yield train, test

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def __repr__(self) -> str:
        return (
            f"PurgedTimeSeriesSplit(n_splits={self.n_splits}, horizon={self.horizon}, "
            f"embargo={self.embargo}, max_train_size={self.max_train_size}, extra_bars={self.extra_bars})"
        )


def _check_label(horizon, embargo, extra_bars) -> tuple[int, int, int]:
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be an integer of at least 1 bar, got horizon={horizon!r}")
    embargo = horizon if embargo is None else embargo
    if not isinstance(embargo, int | np.integer) or embargo < 0:
        raise ValueError(f"embargo must be a non-negative integer, got embargo={embargo!r}")
    if not isinstance(extra_bars, int | np.integer) or extra_bars < 0:
        raise ValueError(f"extra_bars must be a non-negative integer, got extra_bars={extra_bars!r}")
    return int(horizon), int(embargo), int(extra_bars)


def _symbols_and_stamps(groups):
    """(symbols or None, timestamps) from a splitter's ``groups``."""
    if isinstance(groups, pd.DataFrame):
        if {"symbol", "ts"} <= set(groups.columns):
            return groups["symbol"], groups["ts"]
        if groups.shape[1] == 2:
            return groups.iloc[:, 0], groups.iloc[:, 1]
        raise ValueError(f"groups as a DataFrame needs 'symbol' and 'ts' columns, got {list(groups.columns)}")
    if isinstance(groups, pd.Series | pd.Index):
        return None, groups
    array = np.asarray(groups)
    if array.ndim == 1:
        return None, array
    if array.ndim == 2 and array.shape[1] == 2:
        return array[:, 0], array[:, 1]
    raise ValueError(f"groups must be 1-D timestamps or 2 columns (symbol, ts), got shape {array.shape}")


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


# -- combinatorial purged cross-validation (Lopez de Prado 2018, ch. 12) --------------------------------


def cpcv_paths(n_groups: int, n_test_groups: int) -> np.ndarray:
    """Which split's test group forms each segment of each CPCV backtest path.

    Splits are the ``C(N, k)`` combinations of ``k`` test groups out of ``N`` in
    lexicographic order (as :meth:`CombinatorialPurgedKFold.split` yields them). Each group
    is a test group in ``C(N-1, k-1)`` splits; path ``p`` takes, for every group, the
    ``p``-th of those splits, so there are ``phi = k / N * C(N, k) = C(N-1, k-1)`` paths, each
    covering every group exactly once with a prediction from a model that did not train on
    it (Lopez de Prado 2018, sec. 12.4).

    Parameters
    ----------
    n_groups : int
        N, at least 2.
    n_test_groups : int
        k, between 1 and N - 1.

    Returns
    -------
    ndarray of int, shape (phi, N)
        ``paths[p, g]``: the index of the split whose test group ``g`` is segment ``g`` of path ``p``.

    Examples
    --------
    >>> cpcv_paths(4, 2)
    array([[0, 0, 1, 2],
           [1, 3, 3, 4],
           [2, 4, 5, 5]])
    """
    _check_groups(n_groups, n_test_groups)
    phi = comb(n_groups - 1, n_test_groups - 1)
    paths = np.empty((phi, n_groups), dtype=np.int64)
    for g in range(n_groups):
        paths[:, g] = [s for s, combo in enumerate(itertools.combinations(range(n_groups), n_test_groups)) if g in combo]
    return paths


def _check_groups(n_groups, n_test_groups) -> None:
    if not isinstance(n_groups, int | np.integer) or n_groups < 2:
        raise ValueError(f"n_groups must be an integer of at least 2, got n_groups={n_groups!r}")
    if not isinstance(n_test_groups, int | np.integer) or not 1 <= n_test_groups < n_groups:
        raise ValueError(
            f"n_test_groups must be an integer from 1 to n_groups - 1 = {n_groups - 1}, got n_test_groups={n_test_groups!r}"
        )


def _group_of_stamps(n_stamps: int, n_groups: int) -> np.ndarray:
    """Group number of each of ``n_stamps`` sorted timestamps: N contiguous groups, the first
    ``n_stamps % N`` one timestamp longer (as ``np.array_split``)."""
    sizes = np.full(n_groups, n_stamps // n_groups)
    sizes[: n_stamps % n_groups] += 1
    return np.repeat(np.arange(n_groups), sizes)


class CombinatorialPurgedKFold:
    """Combinatorial purged k-fold cross-validation (CPCV) on timestamps.

    The unique timestamps are cut into ``n_groups`` contiguous groups; every combination of
    ``n_test_groups`` of them is a test set once, and the model trains on the other groups,
    purged before each test block (rows whose label, moved on by ``embargo`` bars of their
    symbol, reaches the block) and after it (rows up to the last label end of the block's
    test rows, then ``embargo`` more bars of each symbol). Never shuffles.
    Lopez de Prado (2018), *Advances in Financial Machine Learning*, ch. 12.

    ``groups`` is (symbol, ts) per row (array of shape (n_rows, 2), or a DataFrame with
    ``symbol`` and ``ts`` columns), so labels end per symbol (:func:`label_end_times`); 1-D
    timestamps purge the panel as one series (exact only where no symbol has missing bars).

    Parameters
    ----------
    n_groups : int, default=6
        N, the number of contiguous timestamp groups. At least 2.
    n_test_groups : int, default=2
        k, the test groups of each split, from 1 to N - 1.
    horizon : int
        Bars each label looks ahead. At least 1.
    embargo : int or None, default=None
        Bars of each symbol left out after each test block (and before it, beyond the
        purge). Defaults to ``horizon``.
    extra_bars : int, default=1
        Bars between a row and its label's start (1: fills at the next bar's open).

    Yields
    ------
    train, test : ndarray of int
        Row indices of the training and test rows of one split; ``C(N, k)`` splits in the
        lexicographic order of their test groups.

    Notes
    -----
    With ``u`` unique timestamps each group holds ``u // N`` or ``u // N + 1`` of them. The
    splits form ``phi = k / N * C(N, k)`` backtest paths (:meth:`paths`,
    :func:`cpcv_paths`); :func:`path_returns` assembles the splits' out-of-sample returns
    into those paths, so a strategy gets ``phi`` Sharpe ratios instead of one.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(12)
    >>> cv = CombinatorialPurgedKFold(n_groups=4, n_test_groups=2, horizon=1, embargo=0, extra_bars=0)
    >>> cv.get_n_splits(), len(cv.paths())
    (6, 3)
    >>> for train, test in cv.split(ts, groups=ts):
    ...     print("TRAIN:", ts[train].tolist(), "TEST:", ts[test].tolist())
    TRAIN: [7, 8, 9, 10, 11] TEST: [0, 1, 2, 3, 4, 5]
    TRAIN: [4, 10, 11] TEST: [0, 1, 2, 6, 7, 8]
    TRAIN: [4, 5, 6, 7] TEST: [0, 1, 2, 9, 10, 11]
    TRAIN: [0, 1, 10, 11] TEST: [3, 4, 5, 6, 7, 8]
    TRAIN: [0, 1, 7] TEST: [3, 4, 5, 9, 10, 11]
    TRAIN: [0, 1, 2, 3, 4] TEST: [6, 7, 8, 9, 10, 11]
    """

    def __init__(
        self,
        n_groups: int = 6,
        n_test_groups: int = 2,
        *,
        horizon: int,
        embargo: int | None = None,
        extra_bars: int = 1,
    ):
        _check_groups(n_groups, n_test_groups)
        self.horizon, self.embargo, self.extra_bars = _check_label(horizon, embargo, extra_bars)
        self.n_groups = int(n_groups)
        self.n_test_groups = int(n_test_groups)

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train, test) row indices; ``groups``: (symbol, ts) per row, or the timestamp of every row."""
        panel = _panel_of_rows(type(self).__name__, X, groups)
        if panel.n_stamps < self.n_groups:
            raise ValueError(f"Too many groups: n_groups={self.n_groups} for {panel.n_stamps} unique timestamps")
        row_group = _group_of_stamps(panel.n_stamps, self.n_groups)[panel.rank]
        for combo in itertools.combinations(range(self.n_groups), self.n_test_groups):
            test = np.flatnonzero(np.isin(row_group, combo))
            allowed = _purged_train_mask(panel, test, label_bars=self.horizon + self.extra_bars, embargo=self.embargo)
            train = np.flatnonzero(allowed)
            if len(train) == 0:
                raise ValueError(
                    f"test groups {combo}: no training rows left after purging labels of horizon={self.horizon} + "
                    f"extra_bars={self.extra_bars} and embargo={self.embargo}; use fewer test groups or more data"
                )
            yield train, test

    def group_of_rows(self, groups) -> np.ndarray:
        """The timestamp group (0 .. N-1) of every row: which block of time it falls in."""
        symbols, stamps = _symbols_and_stamps(groups)
        panel = _panel(symbols, stamps)
        return _group_of_stamps(panel.n_stamps, self.n_groups)[panel.rank]

    def test_groups(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in the order :meth:`split` yields them."""
        return list(itertools.combinations(range(self.n_groups), self.n_test_groups))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """C(N, k), the number of splits."""
        return comb(self.n_groups, self.n_test_groups)

    def paths(self) -> np.ndarray:
        """``cpcv_paths(n_groups, n_test_groups)``: split index per (path, group)."""
        return cpcv_paths(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """phi = k / N * C(N, k) = C(N-1, k-1), the number of backtest paths."""
        return comb(self.n_groups - 1, self.n_test_groups - 1)

    def path_returns(self, split_returns: Sequence[pd.Series], *, timestamps=None) -> pd.DataFrame:
        """:func:`path_returns` with this splitter's groups."""
        return path_returns(split_returns, self.n_groups, self.n_test_groups, timestamps=timestamps)

    def __repr__(self) -> str:
        return (
            f"CombinatorialPurgedKFold(n_groups={self.n_groups}, n_test_groups={self.n_test_groups}, "
            f"horizon={self.horizon}, embargo={self.embargo}, extra_bars={self.extra_bars})"
        )


def path_returns(
    split_returns: Sequence[pd.Series], n_groups: int, n_test_groups: int, *, timestamps=None
) -> pd.DataFrame:
    """Assemble CPCV splits' out-of-sample returns into the ``phi`` backtest paths.

    Parameters
    ----------
    split_returns : sequence of pd.Series, length C(N, k)
        One per split, in the order :meth:`CombinatorialPurgedKFold.split` yields them: the
        strategy's per-bar returns on that split's test timestamps (indexed by timestamp),
        from the model fitted on that split's training rows. A split may leave out bars
        of its test groups (no trade); a bar outside its test groups is an error.
    n_groups, n_test_groups : int
        N and k of the splitter.
    timestamps : array-like, optional
        The unique timestamps the splitter cut into groups (the ``ts`` of ``groups``).
        Defaults to the union of the splits' indexes, which equals them when every split
        reports every test bar.

    Returns
    -------
    pd.DataFrame
        Index: the sorted timestamps; one column per path (0 .. phi-1). Path ``p`` holds,
        on group ``g``'s timestamps, the returns of split ``cpcv_paths(N, k)[p, g]`` (NaN
        where that split reported none). Each column is a full out-of-sample backtest:
        ``frame.mean() / frame.std()`` gives phi per-bar Sharpe ratios, a distribution
        instead of one number (Lopez de Prado 2018, sec. 12.4).

    Examples
    --------
    >>> import pandas as pd
    >>> cv = CombinatorialPurgedKFold(n_groups=3, n_test_groups=2, horizon=1)
    >>> ts = pd.RangeIndex(6)  # groups {0, 1}, {2, 3}, {4, 5}; splits test (0,1), (0,2), (1,2)
    >>> splits = [pd.Series(10.0 * (s + 1), index=ts[[0, 1, 2, 3] if s == 0 else [0, 1, 4, 5] if s == 1 else [2, 3, 4, 5]])
    ...           for s in range(3)]
    >>> cv.path_returns(splits)
    path     0     1
    0     10.0  20.0
    1     10.0  20.0
    2     10.0  30.0
    3     10.0  30.0
    4     20.0  30.0
    5     20.0  30.0
    """
    _check_groups(n_groups, n_test_groups)
    n_splits = comb(n_groups, n_test_groups)
    if len(split_returns) != n_splits:
        raise ValueError(f"{len(split_returns)} split returns for C({n_groups}, {n_test_groups}) = {n_splits} splits")
    if timestamps is None:
        stamps = pd.Index([]).append([pd.Index(r.index) for r in split_returns]).unique().sort_values()
    else:
        stamps = pd.Index(pd.unique(_values(timestamps))).sort_values()
    if len(stamps) < n_groups:
        raise ValueError(f"n_groups={n_groups} for {len(stamps)} timestamps")
    group = pd.Series(_group_of_stamps(len(stamps), n_groups), index=stamps)
    paths = cpcv_paths(n_groups, n_test_groups)
    out = np.full((len(stamps), len(paths)), np.nan)
    for s, (returns, combo) in enumerate(zip(split_returns, itertools.combinations(range(n_groups), n_test_groups), strict=True)):
        position = stamps.get_indexer(returns.index)
        if (position < 0).any():
            raise ValueError(f"split {s}: {int((position < 0).sum())} returns at timestamps outside the grouped timestamps")
        if returns.index.has_duplicates:
            raise ValueError(f"split {s}: duplicate timestamps in its returns")
        groups_of = group.to_numpy()[position]
        outside = ~np.isin(groups_of, combo)
        if outside.any():
            raise ValueError(
                f"split {s} tests groups {combo} but has returns in group {int(groups_of[outside][0])} "
                f"(at {returns.index[outside][0]}): returns must be out of sample"
            )
        values = returns.to_numpy(dtype=float)
        for p, g in zip(*np.nonzero(paths == s), strict=True):
            mine = groups_of == g
            out[position[mine], p] = values[mine]
    return pd.DataFrame(out, index=stamps, columns=pd.RangeIndex(len(paths), name="path"))


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
    their labels look into the next window.

    .. warning:: This counts the panel's timestamps, not each symbol's bars: a symbol with
       missing bars just before ``boundary`` keeps rows whose labels reach past it. Use
       :func:`purge_by_label_end`; this stays for callers that have not moved yet.
    """
    stamps = np.sort(frame.loc[frame[ts_column] < boundary, ts_column].unique())
    if gap == 0 or len(stamps) == 0:
        return frame
    cutoff = stamps[-gap] if len(stamps) >= gap else stamps[0]
    return frame[frame[ts_column] < cutoff]


def purge_by_label_end(
    frame: pd.DataFrame,
    boundary,
    *,
    horizon: int,
    embargo: int,
    symbol_column: str = "symbol",
    ts_column: str = "ts",
    extra_bars: int = 1,
) -> pd.DataFrame:
    """The rows of ``frame`` whose label, and ``embargo`` more bars, end before ``boundary``.

    A row is kept when its symbol's ``horizon + extra_bars + embargo``-th next bar within
    ``frame`` exists and is earlier than ``boundary``; its label end is
    :func:`label_end_times` (``horizon + extra_bars`` bars, counted over the symbol's own
    rows, so a symbol's missing bars stretch it). Rows at or after ``boundary``, and rows
    whose symbol has too few later rows in ``frame`` to tell, are dropped: pass the window
    before ``boundary`` and its last rows are purged.

    Parameters
    ----------
    frame : pd.DataFrame
        Rows of a window, with symbol and timestamp columns; any order.
    boundary : timestamp
        First timestamp of the next window (same type as ``frame[ts_column]``).
    horizon : int
        Bars each label looks ahead.
    embargo : int
        Bars of each symbol left out beyond the label end.
    symbol_column, ts_column : str
        Column names.
    extra_bars : int, default=1
        Bars between a row and its label's start (1: fills at the next bar's open).

    Returns
    -------
    pd.DataFrame
        The kept rows, in their original order.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"symbol": ["A"] * 6 + ["B"] * 3, "ts": [0, 1, 2, 3, 4, 5, 0, 1, 5]})
    >>> purge_by_label_end(frame[frame.ts < 6], 6, horizon=1, embargo=0).groupby("symbol").ts.max()
    symbol
    A    3
    B    0
    Name: ts, dtype: int64
    """
    if not isinstance(embargo, int | np.integer) or embargo < 0:
        raise ValueError(f"embargo must be a non-negative integer, got embargo={embargo!r}")
    ends = label_end_times(frame[symbol_column], frame[ts_column], horizon + embargo, extra_bars=extra_bars)
    stamps = frame[ts_column]
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        boundary = pd.Timestamp(boundary).tz_convert("UTC").tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        boundary = pd.Timestamp(boundary)
    if np.issubdtype(ends.dtype, np.datetime64):
        keep = ~np.isnat(ends) & (ends < np.datetime64(boundary))
    else:
        keep = ~np.isnan(ends) & (ends < boundary)
    return frame[keep]
