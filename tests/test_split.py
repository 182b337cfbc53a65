"""Purging by each row's own label end, and combinatorial purged CV (ml/split.py), on the
real Dow 30 panel with a hole and on random panels against a plain-Python reference."""

from __future__ import annotations

import doctest
import itertools
from math import comb

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import RandomizedSearchCV, TimeSeriesSplit

import ml.split
from ml.split import (
    CombinatorialPurgedKFold,
    PurgedTimeSeriesSplit,
    cpcv_paths,
    label_end_times,
    path_returns,
    purge_before,
    purge_by_label_end,
)
from tests.dow30 import dow30

HORIZON, EMBARGO = 5, 2


@pytest.fixture(scope="module")
def holed_panel():
    """Dow 30 daily 2015-2019 with 40 of AAPL's sessions missing right before the first test
    fold of a 4-split walk-forward: AAPL's labels from before the hole end inside the fold."""
    bars = dow30("2015-01-01", "2019-12-31")
    stamps = np.sort(bars["ts"].unique())
    test_size = len(stamps) // 5
    fold_start = stamps[len(stamps) - 4 * test_size]
    hole = (bars["symbol"] == "AAPL") & (bars["ts"] < fold_start) & (bars["ts"] >= stamps[len(stamps) - 4 * test_size - 40])
    assert hole.sum() == 40
    return bars[~hole].sample(frac=1.0, random_state=3).reset_index(drop=True), pd.Timestamp(fold_start)  # rows unsorted


def leaking_rows(folds, ts: np.ndarray, ends: np.ndarray) -> int:
    """Training rows before a fold whose label ends at or after the fold's first timestamp
    (or whose end is unknown)."""
    leaks = 0
    for train, test in folds:
        start = ts[test].min()
        before = ts[train] < start
        end = ends[train][before]
        leaks += int((np.isnat(end) | (end >= start)).sum())
    return leaks


def test_panel_purge_leaks_across_a_symbols_hole_and_the_per_symbol_purge_does_not(holed_panel):
    bars, fold_start = holed_panel
    ts, symbols = bars["ts"].to_numpy(), bars["symbol"].to_numpy()
    ends = label_end_times(symbols, ts, HORIZON)
    cv = PurgedTimeSeriesSplit(n_splits=4, horizon=HORIZON, embargo=EMBARGO)
    X = np.zeros((len(bars), 1))

    # today's panel purge (1-D groups): AAPL's last rows before the hole train on labels that end in the fold
    panel_folds = list(cv.split(X, groups=ts))
    assert leaking_rows(panel_folds, ts, ends) >= HORIZON
    leaked = bars.iloc[panel_folds[0][0]]
    assert (leaked.loc[leaked["symbol"] == "AAPL", "ts"].max() > fold_start - pd.Timedelta(days=90))

    # per symbol: no training label reaches any fold, and each symbol keeps horizon + 1 + embargo of its bars out
    folds = list(cv.split(X, groups=bars[["symbol", "ts"]]))
    assert [t.tolist() for _, t in folds] == [t.tolist() for _, t in panel_folds]  # same test folds
    assert leaking_rows(folds, ts, ends) == 0
    with_embargo = label_end_times(symbols, ts, HORIZON + EMBARGO)
    for train, test in folds:
        start = ts[test].min()
        assert (with_embargo[train] < start).all()
    # ...and no more than that: a symbol without a hole trains up to its (h + 1 + e + 1)-th bar before the fold
    stamps = np.sort(np.unique(ts))
    first = np.searchsorted(stamps, fold_start)
    train = bars.iloc[folds[0][0]]
    assert train.loc[train["symbol"] == "MSFT", "ts"].max() == stamps[first - (HORIZON + 1 + EMBARGO) - 1]
    assert train.loc[train["symbol"] == "AAPL", "ts"].max() < stamps[first - 40 - (HORIZON + 1 + EMBARGO) + 1]


def test_purge_by_label_end_on_the_holed_panel(holed_panel):
    bars, boundary = holed_panel
    window = bars[bars["ts"] < boundary]
    ends = pd.Series(label_end_times(bars["symbol"], bars["ts"], HORIZON), index=bars.index)
    kept = purge_by_label_end(window, boundary, horizon=HORIZON, embargo=EMBARGO)
    assert (ends[kept.index] < boundary).all()
    assert kept.index.isin(window.index).all() and list(kept.index) == sorted(kept.index, key=list(window.index).index)
    # the old panel purge keeps AAPL rows whose labels end past the boundary
    old = purge_before(window, boundary, HORIZON + EMBARGO)
    assert (ends[old.index] >= boundary).sum() >= HORIZON
    # a symbol without a hole loses exactly horizon + 1 + embargo bars
    msft = window[window["symbol"] == "MSFT"]
    assert len(msft) - (kept["symbol"] == "MSFT").sum() == HORIZON + 1 + EMBARGO


def test_label_end_times_per_symbol_unsorted_and_typed():
    ts = pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-04", "2024-01-01", "2024-01-04"], utc=True)
    symbols = ["A", "A", "A", "A", "B", "B"]
    ends = label_end_times(symbols, pd.Series(ts), 1)
    expected = np.array(["NaT", "2024-01-03", "2024-01-04", "NaT", "NaT", "NaT"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(ends.astype("datetime64[ns]"), expected)
    ends0 = label_end_times(symbols, pd.Series(ts), 1, extra_bars=0)
    assert ends0[4] == np.datetime64("2024-01-04")  # B's next bar, across its hole
    with pytest.raises(ValueError, match="unique"):
        label_end_times(["A", "A"], [1, 1], 1)
    with pytest.raises(ValueError, match="got horizon=-1"):
        label_end_times(["A"], [1], -1)
    with pytest.raises(ValueError, match="strings"):
        list(PurgedTimeSeriesSplit(n_splits=2, horizon=1).split(np.zeros(6), groups=np.column_stack([["A"] * 6, range(6)])))


# -- a plain-Python reference of the purge, for random panels ------------------------------------------


def reference_train(rows, test_stamps, candidate_stamps, horizon, embargo, extra):
    """Row indices allowed to train, by the rules in words: before each run of test
    timestamps, a row goes if its symbol's (horizon+extra+embargo)-th next bar is missing or
    inside/after the run; after a run, a row goes if it is at or before the last label end
    of the run's test rows, or fewer than `embargo` of its symbol's bars come after that."""
    by_symbol = {}
    for i, (s, t) in enumerate(rows):
        by_symbol.setdefault(s, []).append((t, i))
    position = {}
    for s, bars in by_symbol.items():
        bars.sort()
        for p, (_, i) in enumerate(bars):
            position[i] = (s, p)

    def shifted(i, k):
        s, p = position[i]
        q = p + k
        return by_symbol[s][q][0] if 0 <= q < len(by_symbol[s]) else None

    stamps = sorted({t for _, t in rows})
    runs, run = [], []
    for t in stamps:
        if t in test_stamps:
            run.append(t)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    allowed = []
    for i, (_, t) in enumerate(rows):
        if t in test_stamps or t not in candidate_stamps:
            continue
        ok = True
        for run in runs:
            a, b = run[0], run[-1]
            if t < a:
                end = shifted(i, horizon + extra + embargo)
                ok &= end is not None and end < a
            else:
                test_ends = [shifted(j, horizon + extra) for j, (_, u) in enumerate(rows) if a <= u <= b]
                span_end = max([b] + [e for e in test_ends if e is not None])
                back = shifted(i, -embargo)
                ok &= back is not None and back > span_end
        if ok:
            allowed.append(i)
    return allowed


panels = st.fixed_dictionaries(
    {
        "n_stamps": st.integers(8, 40),
        "n_symbols": st.integers(1, 3),
        "holes": st.lists(st.integers(0, 119), max_size=30),
        "horizon": st.integers(1, 3),
        "embargo": st.integers(0, 3),
        "extra": st.integers(0, 1),
        "seed": st.integers(0, 10**6),
    }
)


def make_rows(p):
    rows = [(f"S{s}", t * 10) for s in range(p["n_symbols"]) for t in range(p["n_stamps"])]
    rows = [r for i, r in enumerate(rows) if i not in set(p["holes"])]
    order = np.random.default_rng(p["seed"]).permutation(len(rows))
    return [rows[i] for i in order]


@settings(max_examples=120, deadline=None)
@given(p=panels, n_groups=st.integers(2, 6), k=st.integers(1, 5))
def test_cpcv_equals_the_reference_on_random_panels(p, n_groups, k):
    k = min(k, n_groups - 1)
    rows = make_rows(p)
    if not rows:
        return
    groups = pd.DataFrame(rows, columns=["symbol", "ts"])
    stamps = sorted(groups["ts"].unique())
    cv = CombinatorialPurgedKFold(n_groups, k, horizon=p["horizon"], embargo=p["embargo"], extra_bars=p["extra"])
    if len(stamps) < n_groups:
        with pytest.raises(ValueError, match="Too many groups"):
            next(cv.split(groups, groups=groups))
        return
    group_of = dict(zip(stamps, np.concatenate([[g] * len(c) for g, c in enumerate(np.array_split(stamps, n_groups))]), strict=True))
    expected = []
    for combo in itertools.combinations(range(n_groups), k):
        test_stamps = {t for t in stamps if group_of[t] in combo}
        test = sorted(i for i, (_, t) in enumerate(rows) if t in test_stamps)
        expected.append((reference_train(rows, test_stamps, set(stamps), p["horizon"], p["embargo"], p["extra"]), test))
    if any(not train for train, _ in expected):
        with pytest.raises(ValueError, match="no training rows"):
            list(cv.split(groups, groups=groups))
        return
    got = [(train.tolist(), test.tolist()) for train, test in cv.split(groups, groups=groups)]
    assert got == expected
    assert len(got) == cv.get_n_splits() == comb(n_groups, k)


@settings(max_examples=120, deadline=None)
@given(p=panels, n_splits=st.integers(2, 4))
def test_walk_forward_per_symbol_equals_the_reference_on_random_panels(p, n_splits):
    rows = make_rows(p)
    if not rows:
        return
    groups = pd.DataFrame(rows, columns=["symbol", "ts"])
    stamps = np.array(sorted(groups["ts"].unique()))
    cv = PurgedTimeSeriesSplit(n_splits, horizon=p["horizon"], embargo=p["embargo"], extra_bars=p["extra"])
    test_size = len(stamps) // (n_splits + 1)
    if test_size == 0 or len(stamps) - cv.gap - test_size * n_splits <= 0:
        with pytest.raises(ValueError, match="Too many splits"):
            next(cv.split(groups, groups=groups))
        return
    expected = []
    for train_at, test_at in TimeSeriesSplit(n_splits).split(stamps):
        test_stamps = set(stamps[test_at])
        test = sorted(i for i, (_, t) in enumerate(rows) if t in test_stamps)
        expected.append((reference_train(rows, test_stamps, set(stamps[train_at]), p["horizon"], p["embargo"], p["extra"]), test))
    if any(not train for train, _ in expected):
        with pytest.raises(ValueError, match="no training rows"):
            list(cv.split(groups, groups=groups))
        return
    assert [(a.tolist(), b.tolist()) for a, b in cv.split(groups, groups=groups)] == expected


# -- CPCV on the real panel -------------------------------------------------------------------------------


def test_cpcv_on_the_holed_panel_purges_around_every_test_block(holed_panel):
    bars, _ = holed_panel
    ts, symbols = bars["ts"].to_numpy(), bars["symbol"].to_numpy()
    cv = CombinatorialPurgedKFold(6, 2, horizon=HORIZON, embargo=EMBARGO)
    folds = list(cv.split(bars, groups=bars[["symbol", "ts"]]))
    assert len(folds) == cv.get_n_splits() == 15 and cv.n_paths == 5
    ends = label_end_times(symbols, ts, HORIZON)
    stamps = np.sort(np.unique(ts))
    bounds = [g[[0, -1]] for g in np.array_split(stamps, 6)]
    tested = np.zeros(len(bars), int)
    for (train, test), combo in zip(folds, itertools.combinations(range(6), 2), strict=True):
        tested[test] += 1
        assert not np.intersect1d(train, test).size
        for g in combo:
            first, last = bounds[g]
            before = train[ts[train] < first]
            assert (ends[before] < first).all() and not np.isnat(ends[before]).any()
            in_block = test[(ts[test] >= first) & (ts[test] <= last)]
            span_end = np.nanmax(ends[in_block])
            after = train[ts[train] > last]
            assert (ts[after] > span_end).all()
            # the embargo: each symbol's first EMBARGO bars after the block's label span stay out
            for symbol in ("MSFT", "AAPL"):
                mine = np.sort(ts[(symbols == symbol) & (ts > span_end)])
                trained = set(ts[after][symbols[after] == symbol])
                if len(mine) > EMBARGO and g + 1 not in combo:
                    assert not trained & set(mine[:EMBARGO]) and mine[EMBARGO] in trained
    assert (tested == 5).all()  # every row is tested in C(N-1, k-1) splits


def test_cpcv_paths_cover_every_group_once_per_path():
    for n, k in [(6, 2), (5, 1), (7, 3), (10, 2)]:
        paths = cpcv_paths(n, k)
        assert paths.shape == (k * comb(n, k) // n, n)
        combos = list(itertools.combinations(range(n), k))
        for p in range(len(paths)):
            for g in range(n):
                assert g in combos[paths[p, g]]
        # every split's k test groups sit in paths, once each
        assert sorted(np.bincount(paths.ravel(), minlength=len(combos))) == [k] * len(combos)
    for bad, message in [((1, 1), "got n_groups=1"), ((4, 4), "got n_test_groups=4"), ((4, 0), "got n_test_groups=0")]:
        with pytest.raises(ValueError, match=message):
            cpcv_paths(*bad)


def test_path_returns_assemble_real_out_of_sample_returns_into_full_paths(holed_panel):
    """A ridge on 5-day momentum, fitted on each CPCV training set of the real panel and
    traded (sign of its prediction) on the test rows: phi paths, each a complete backtest."""
    bars, _ = holed_panel
    bars = bars.sort_values(["symbol", "ts"], ignore_index=True)
    grouped = bars.groupby("symbol")["close"]
    bars["momentum"] = grouped.pct_change(5, fill_method=None)
    bars["label"] = grouped.shift(-HORIZON) / bars["close"] - 1
    bars = bars.dropna(subset=["momentum", "label"]).reset_index(drop=True)
    cv = CombinatorialPurgedKFold(6, 2, horizon=HORIZON, embargo=EMBARGO, extra_bars=0)
    X, y = bars[["momentum"]].to_numpy(), bars["label"].to_numpy()
    split_returns = []
    for train, test in cv.split(X, groups=bars[["symbol", "ts"]]):
        position = np.sign(Ridge(alpha=1.0).fit(X[train], y[train]).predict(X[test]))
        daily = pd.Series(position * y[test] / HORIZON, index=bars["ts"].iloc[test].to_numpy())
        split_returns.append(daily.groupby(level=0).mean())
    paths = cv.path_returns(split_returns)
    stamps = np.sort(bars["ts"].unique())
    assert paths.shape == (len(stamps), cv.n_paths) and not paths.isna().any().any()
    groups = np.array_split(stamps, 6)
    for p, row in enumerate(cv.paths()):
        for g, s in enumerate(row):
            np.testing.assert_array_equal(paths.loc[groups[g], p].to_numpy(), split_returns[s].loc[groups[g]].to_numpy())
    sharpes = paths.mean() / paths.std()
    assert sharpes.notna().all() and sharpes.nunique() == cv.n_paths
    # a split that reports a bar outside its test groups is refused
    split_returns[0] = pd.concat([split_returns[0], split_returns[-1].iloc[-1:]])
    with pytest.raises(ValueError, match="split 0 tests groups"):
        path_returns(split_returns, 6, 2)


def test_cpcv_in_a_randomized_search_and_its_errors():
    rng = np.random.default_rng(0)
    groups = pd.DataFrame({"symbol": np.tile(["A", "B", "C"], 60), "ts": np.repeat(np.arange(60), 3)})
    X, y = rng.normal(size=(len(groups), 2)), rng.integers(0, 2, len(groups))
    cv = CombinatorialPurgedKFold(n_groups=5, n_test_groups=2, horizon=2)
    search = RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, n_iter=2, random_state=0, cv=cv)
    search.fit(X, y, groups=groups)
    assert len(search.cv_results_["split9_test_score"]) == 2 and "split10_test_score" not in search.cv_results_
    # the walk-forward splitter takes (symbol, ts) groups inside a search too
    search = RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, n_iter=2, random_state=0,
                                cv=PurgedTimeSeriesSplit(n_splits=3, horizon=2))  # fmt: skip
    search.fit(X, y, groups=groups)
    assert len(search.cv_results_["split2_test_score"]) == 2
    for kwargs, message in [
        ({"n_groups": 1, "horizon": 1}, "got n_groups=1"),
        ({"n_groups": 4, "n_test_groups": 4, "horizon": 1}, "got n_test_groups=4"),
        ({"horizon": 0}, "got horizon=0"),
        ({"horizon": 1, "embargo": -1}, "got embargo=-1"),
    ]:
        with pytest.raises(ValueError, match=message):
            CombinatorialPurgedKFold(**kwargs)
    with pytest.raises(ValueError, match="needs groups"):
        next(CombinatorialPurgedKFold(horizon=1).split(X))
    with pytest.raises(ValueError, match="Too many groups"):
        next(CombinatorialPurgedKFold(8, 2, horizon=1).split(np.zeros(5), groups=np.arange(5)))
    assert "n_groups=5" in repr(cv)
    assert doctest.testmod(ml.split).failed == 0
