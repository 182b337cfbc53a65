"""Signal analysis (ml/signal_analysis.py) equals alphalens-reloaded to 1e-9 on the real
Dow 30 panel, with the awkward cases alphalens has conventions for: tied scores (dates
whose quantile edges tie are dropped), dates with only three names, a symbol with a hole."""

from __future__ import annotations

import time
import warnings

# the reference implementation: the test extra installs it; our code never imports it
import alphalens.performance as ap
import alphalens.plotting as aplot
import alphalens.utils as au
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ml.signal_analysis as sa
from tests.dow30 import dow30

ATOL = 1e-9
PERIODS = (1, 5, 20)
NAMES = {f"{p}D": f"fwd_{p}" for p in PERIODS}


def close_prices(bars: pd.DataFrame) -> pd.DataFrame:
    prices = bars.pivot(index="ts", columns="symbol", values="close")
    prices.index.name = "date"
    return prices


@pytest.fixture(scope="module")
def factor_panels():
    """20-day momentum (rounded to whole percent, so some dates tie across bucket edges) on
    the real Dow 30, 2012-2013, with 20 dates thinned to 3 names and a 2-month hole in MSFT;
    cleaned by alphalens (from prices) and by us (from our forward returns)."""
    bars = dow30("2012-01-01", "2013-12-31")
    dates = np.sort(bars["ts"].unique())
    thin = np.random.default_rng(0).choice(dates[30:-30], 20, replace=False)
    three = bars["symbol"].unique()[:3]
    bars = bars[~(bars["ts"].isin(thin) & ~bars["symbol"].isin(three))]
    bars = bars[~((bars["symbol"] == "MSFT") & bars["ts"].between("2012-06-01", "2012-08-01"))]
    prices = close_prices(bars)
    momentum = prices.pct_change(20, fill_method=None).round(2)
    factor = momentum.loc["2012-03-01":"2013-11-15"].stack().rename("factor")
    factor.index.names = ["date", "asset"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = au.get_clean_factor_and_forward_returns(
            factor, prices, periods=PERIODS, filter_zscore=None, quantiles=5, max_loss=1.0
        )
    frame = sa.forward_returns(prices, PERIODS).merge(
        factor.rename_axis(["date", "symbol"]).reset_index(), on=["date", "symbol"]
    )
    ours = sa.prepare(frame, max_loss=None)
    return ours, theirs


def same(ours, theirs) -> None:
    """Equal to 1e-9 where both are defined, and defined at the same places."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=ATOL)


def test_cleaning_and_quantiles_equal_alphalens(factor_panels):
    ours, theirs = factor_panels
    frame = ours.frame.set_index(["date", "symbol"])
    theirs = theirs.rename(columns=NAMES)  # alphalens finds its return columns by their names: rename a copy
    assert frame.index.equals(theirs.index.rename(["date", "symbol"]))
    for column in ("factor", *NAMES.values()):
        same(frame[column], theirs[column])
    assert (frame["factor_quantile"].to_numpy() == theirs["factor_quantile"].to_numpy()).all()
    # the awkward cases were really there: dates dropped for tied edges, three-name dates kept
    kept = frame.index.get_level_values("date").unique()
    assert len(ours.dates) - len(kept) >= 2
    sizes = frame.groupby(level="date").size()
    assert (sizes == 3).sum() >= 10 and set(frame.loc[sizes[sizes == 3].index, "factor_quantile"]) == {1, 3, 5}


def test_information_coefficient_and_its_table_equal_alphalens(factor_panels):
    ours, theirs = factor_panels
    ic = sa.information_coefficient(ours)
    expected = ap.factor_information_coefficient(theirs).dropna(how="all")
    assert ic.index.equals(expected.index)
    same(ic, expected)
    table = sa.ic_summary(ic)
    reference = aplot.plot_information_table(expected, return_df=True)
    for mine, theirs_column in [("ic_mean", "IC Mean"), ("ic_std", "IC Std."), ("icir", "Risk-Adjusted IC"),
                                ("t_stat", "t-stat(IC)"), ("p_value", "p-value(IC)"), ("skew", "IC Skew"),
                                ("kurtosis", "IC Kurtosis")]:  # fmt: skip
        same(table[mine], reference[theirs_column])
    by_year = sa.ic_by_year(ic)
    yearly = ap.mean_information_coefficient(theirs, by_time="YE")
    same(by_year["ic_mean"].unstack("horizon")[list(NAMES.values())], yearly)


def test_pearson_and_per_symbol_ic_equal_scipy(factor_panels):
    ours, _ = factor_panels
    pearson = sa.information_coefficient(ours, method="pearson")
    frame = ours.frame
    for date in pearson.index[::25]:
        rows = frame[frame["date"] == date]
        for column in ours.returns:
            assert abs(pearson.loc[date, column] - stats.pearsonr(rows["factor"], rows[column]).statistic) < ATOL
    for method, function in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        per_symbol = sa.ic_by_symbol(ours, method=method)
        for symbol in ("AAPL", "MSFT", "KO"):
            rows = frame[frame["symbol"] == symbol]
            assert per_symbol.loc[symbol, "n"] == len(rows)
            for column in ours.returns:
                assert abs(per_symbol.loc[symbol, column] - function(rows["factor"], rows[column]).statistic) < ATOL


@pytest.mark.parametrize("demeaned", [True, False])
def test_quantile_returns_and_spread_equal_alphalens(factor_panels, demeaned):
    ours, theirs = factor_panels
    mean, std_err = sa.mean_return_by_quantile(ours, demeaned=demeaned)
    expected_mean, expected_se = ap.mean_return_by_quantile(theirs, demeaned=demeaned)
    same(mean, expected_mean)
    same(std_err, expected_se)
    daily, daily_se = sa.mean_return_by_quantile(ours, demeaned=demeaned, by_date=True)
    expected_daily, expected_daily_se = ap.mean_return_by_quantile(theirs, demeaned=demeaned, by_date=True)
    same(daily, expected_daily)
    same(daily_se, expected_daily_se)
    spread, _ = ap.compute_mean_returns_spread(expected_daily, 5, 1, expected_daily_se)
    mine = sa.spread_by_date(ours, demeaned=demeaned, per_gross=True)
    assert mine.index.equals(spread.index)
    same(mine, spread)
    # the aggregate spread: alphalens wants a (quantile, ...) MultiIndex
    index = pd.MultiIndex.from_arrays([expected_mean.index, np.zeros(len(expected_mean))], names=["factor_quantile", "x"])
    total, total_se = ap.compute_mean_returns_spread(
        expected_mean.set_axis(index), 5, 1, expected_se.set_axis(index)
    )
    table = sa.quantile_spread(ours, demeaned=demeaned)
    same(table["long_short"], total.iloc[0])
    same(table["long_short_std_err"], total_se.iloc[0])
    same(table["spread"], 2 * total.iloc[0])
    daily_spread = sa.spread_by_date(ours, demeaned=demeaned).dropna()
    same(table["t_stat"], stats.ttest_1samp(daily_spread, 0).statistic)


@pytest.mark.parametrize("demeaned", [True, False])
@pytest.mark.parametrize("equal_weight", [True, False])
def test_factor_returns_equal_alphalens(factor_panels, demeaned, equal_weight):
    ours, theirs = factor_panels
    mine = sa.factor_returns(ours, demeaned=demeaned, equal_weight=equal_weight)
    expected = ap.factor_returns(theirs, demeaned=demeaned, equal_weight=equal_weight).dropna(how="all")
    assert mine.index.equals(expected.index)
    same(mine, expected)


def test_rank_autocorrelation_and_turnover_equal_alphalens(factor_panels):
    ours, theirs = factor_panels
    for period in (1, 5):
        mine = sa.factor_rank_autocorrelation(ours, period).dropna()
        expected = ap.factor_rank_autocorrelation(theirs, period).dropna()
        assert mine.index.equals(expected.index) and len(mine) > 300
        same(mine, expected)
        for quantile in range(1, 6):
            mine = sa.quantile_turnover(ours, quantile, period).dropna()
            expected = ap.quantile_turnover(theirs["factor_quantile"], quantile, period).dropna()
            assert mine.index.equals(expected.index) and len(mine) > 300
            same(mine, expected)


def test_a_planted_signal_is_found_and_a_shuffled_one_is_not():
    bars = dow30("2010-01-01", "2014-12-31")
    frame = sa.forward_returns(close_prices(bars), PERIODS).dropna()
    rng = np.random.default_rng(1)
    # a score that knows a little of the next 5 bars: noise three times as large as the signal
    frame["factor"] = frame["fwd_5"] + 3 * frame["fwd_5"].std() * rng.standard_normal(len(frame))
    report = sa.signal_report(sa.prepare(frame))
    summary = report["rank_ic_summary"]
    assert summary.loc["fwd_5", "ic_mean"] > 0.15 and summary.loc["fwd_5", "p_value"] < 1e-6
    decay = report["ic_decay"]
    assert list(decay["bars"]) == [1, 5, 20]
    assert decay.loc["fwd_5", "ic_mean"] > decay.loc["fwd_20", "ic_mean"]
    assert report["spread"].loc["fwd_5", "t_stat"] > 10
    mean = report["quantile_mean_return"]["fwd_5"]
    assert mean.is_monotonic_increasing
    assert (report["rank_ic_by_year"]["ic_mean"].xs("fwd_5", level="horizon") > 0.1).all()
    # the same scores, shuffled within each date: nothing to find
    frame["factor"] = frame.groupby("date")["factor"].transform(lambda s: rng.permutation(s.to_numpy()))
    summary = sa.ic_summary(sa.information_coefficient(sa.prepare(frame)))
    assert (summary["ic_mean"].abs() < 0.02).all() and (summary.loc["fwd_1", "p_value"] > 0.001)


def test_thirty_one_symbols_times_six_thousand_days_well_under_a_second_each():
    bars = dow30("1999-01-01", "2023-12-31")
    prices = close_prices(bars)
    frame = sa.forward_returns(prices, PERIODS).merge(
        prices.pct_change(20, fill_method=None).stack().rename("factor").rename_axis(["date", "symbol"]).reset_index(),
        on=["date", "symbol"],
    )
    assert frame["symbol"].nunique() == 31 and frame["date"].nunique() > 5800
    data = sa.prepare(frame)
    ic = sa.information_coefficient(data)
    statistics = {
        "prepare": lambda: sa.prepare(frame),
        "rank_ic": lambda: sa.information_coefficient(data),
        "pearson_ic": lambda: sa.information_coefficient(data, "pearson"),
        "ic_summary": lambda: sa.ic_summary(ic),
        "ic_by_year": lambda: sa.ic_by_year(ic),
        "ic_by_symbol": lambda: sa.ic_by_symbol(data),
        "quantile_returns": lambda: sa.mean_return_by_quantile(data),
        "spread": lambda: sa.quantile_spread(data),
        "rank_autocorrelation": lambda: sa.factor_rank_autocorrelation(data),
        "turnover": lambda: sa.quantile_turnover(data, 5),
        "factor_returns": lambda: sa.factor_returns(data),
    }
    for name, statistic in statistics.items():
        best = min(_seconds(statistic) for _ in range(3))  # the best of three: other jobs share the cores
        assert best < 1.0, f"{name} took {best:.2f} s on {len(frame)} rows"


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def test_bad_frames_say_what_is_wrong():
    frame = pd.DataFrame({"date": [1, 1, 2], "symbol": ["A", "B", "A"], "factor": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="forward returns"):
        sa.prepare(frame)
    frame["fwd_1"] = [0.1, np.nan, np.nan]
    with pytest.raises(ValueError, match="max_loss"):
        sa.prepare(frame)
    with pytest.raises(ValueError, match=r"two rows for \(1, A\)"):
        sa.prepare(pd.concat([frame, frame.iloc[:1]]))
    with pytest.raises(ValueError, match="method must be one of"):
        sa.information_coefficient(sa.prepare(frame, max_loss=None), method="kendall")
