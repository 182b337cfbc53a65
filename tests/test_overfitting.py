"""Overfitting statistics (backtests/overfitting.py): PBO equals a plain transcription of the
paper's algorithm, the SPA test equals arch's on the same bootstrap draws, and every
statistic finds a planted edge and no edge in noise; real Dow 30 returns as configurations."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from arch.bootstrap import SPA, StationaryBootstrap
from scipy.stats import norm, rankdata

import backtests.overfitting
from backtests.overfitting import (
    cscv_combinations,
    long_run_variance,
    min_backtest_length,
    min_track_record_length,
    pbo,
    reality_check,
    spa_test,
    stationary_bootstrap_indices,
)
from backtests.stats import _moments, expected_max_sharpe, probabilistic_sharpe
from tests.dow30 import dow30


@pytest.fixture(scope="module")
def stock_returns() -> np.ndarray:
    """Daily returns of the 28 Dow stocks listed since 1999, 2004-2011 (2,000+ bars), each
    demeaned: real volatility, fat tails and cross-correlation, and no edge by construction."""
    bars = dow30("2004-01-01", "2011-12-31")
    closes = bars.pivot(index="ts", columns="symbol", values="close").dropna(axis=1)
    returns = closes.pct_change().iloc[1:].to_numpy()
    assert returns.shape[1] >= 28 and len(returns) > 2000
    return returns - returns.mean(axis=0)


# -- PBO ---------------------------------------------------------------------------------------------------


def naive_pbo(returns: np.ndarray, n_blocks: int, metric) -> dict:
    """Bailey et al. (2017), sec. 2, step by step: blocks, every half of them, best in
    sample, its relative rank out of sample, the logit."""
    blocks = np.array_split(returns, n_blocks)
    logits, is_perf, oos_perf, best = [], [], [], []
    for combo in itertools.combinations(range(n_blocks), n_blocks // 2):
        train = np.concatenate([blocks[b] for b in combo])
        test = np.concatenate([blocks[b] for b in range(n_blocks) if b not in combo])
        r, r_bar = metric(train), metric(test)
        n_star = int(np.argmax(r))
        omega = rankdata(r_bar)[n_star] / (len(r_bar) + 1)
        logits.append(np.log(omega / (1 - omega)))
        is_perf.append(r[n_star])
        oos_perf.append(r_bar[n_star])
        best.append(n_star)
    logits = np.array(logits)
    return {"pbo": np.mean(logits <= 0), "logits": logits, "is": np.array(is_perf), "oos": np.array(oos_perf), "best": best}


def sharpe(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=0) / x.std(axis=0, ddof=1)


@pytest.mark.parametrize(("metric", "n_blocks"), [("sharpe", 16), ("mean", 12), ("callable", 8)])
def test_pbo_equals_the_papers_algorithm_on_real_returns(stock_returns, metric, n_blocks):
    returns = stock_returns[:1203]  # 1203 bars: blocks of unequal length
    returns = returns + np.linspace(-2e-4, 2e-4, returns.shape[1])  # some configurations better than others
    function = {"sharpe": sharpe, "mean": lambda x: x.mean(axis=0), "callable": sharpe}[metric]
    expected = naive_pbo(returns, n_blocks, function)
    result = pbo(returns, n_blocks=n_blocks, metric=sharpe if metric == "callable" else metric)
    assert len(result.logits) == len(cscv_combinations(n_blocks)) == {16: 12_870, 12: 924, 8: 70}[n_blocks]
    np.testing.assert_allclose(result.logits, expected["logits"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.is_performance, expected["is"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(result.oos_performance, expected["oos"], rtol=1e-9, atol=0)
    assert result.best.tolist() == expected["best"]
    assert result.pbo == expected["pbo"]
    slope, intercept = np.polyfit(expected["is"], expected["oos"], 1)
    assert result.degradation_slope == pytest.approx(slope) and result.degradation_intercept == pytest.approx(intercept)
    assert result.prob_oos_loss == np.mean(expected["oos"] < 0)


def test_pbo_of_noise_is_a_coin_flip_and_of_a_planted_edge_is_zero(stock_returns):
    # 30 independent noise data sets: one PBO varies a lot (its 12,870 logits share one data
    # set), their mean is 0.5 within 3 standard errors (0.175 / sqrt(30) = 0.032)
    values = [pbo(np.random.default_rng(seed).normal(0, 0.01, (1000, 40))).pbo for seed in range(30)]
    assert abs(np.mean(values) - 0.5) < 0.1 and np.std(values) > 0.05
    # real returns demeaned over the whole sample: a stock above its mean in sample must be below
    # it out of sample, so the in-sample best is reliably poor out of sample (the paper's
    # "memory" effect): PBO near 1 and a falling degradation line
    demeaned = pbo(stock_returns)
    assert demeaned.pbo > 0.9 and demeaned.degradation_slope < 0
    # real returns with random signs (their volatility and fat tails, no drift and no memory);
    # one of them with a drift of 0.15 of its daily volatility (an annual Sharpe of 2.4): found
    signs = np.random.default_rng(8).choice([-1.0, 1.0], size=stock_returns.shape)
    planted = stock_returns * signs
    planted[:, 5] += 0.15 * planted[:, 5].std()
    result = pbo(planted)
    assert result.pbo < 0.05 and (result.best == 5).mean() > 0.9
    assert result.prob_oos_loss < 0.05


def test_pbo_refuses_what_it_cannot_compute():
    for kwargs, message in [({"n_blocks": 15}, "even integer"), ({"metric": "sortino"}, "metric must be")]:
        with pytest.raises(ValueError, match=message):
            pbo(np.zeros((100, 3)), **kwargs)
    with pytest.raises(ValueError, match="at least 2 columns"):
        pbo(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="bar 3, configuration 1"):
        pbo(np.where(np.arange(300).reshape(100, 3) == 10, np.nan, 0.0))
    assert cscv_combinations(4).astype(int).tolist() == [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]]
    assert doctest.testmod(backtests.overfitting).failed == 0


# -- Reality Check and SPA -----------------------------------------------------------------------------


def arch_indices(n_bars: int, block: int, reps: int, seed: int) -> np.ndarray:
    """The row indices arch's SPA draws with this seed (its stationary bootstrap, replayed)."""
    bootstrap = StationaryBootstrap(block, np.zeros((n_bars, 1)), seed=seed)
    drawn = []
    for _ in bootstrap.bootstrap(reps):
        drawn.append(bootstrap.index.copy())
    return np.array(drawn)


def test_spa_equals_arch_on_the_same_bootstrap_draws(stock_returns):
    returns, benchmark = stock_returns[:, 1:] + 2e-4, stock_returns[:, 0]
    block, reps, seed = 10, 400, 11
    indices = arch_indices(len(returns), block, reps, seed)
    reference = SPA(-benchmark, -returns, block_size=block, reps=reps, seed=seed)  # arch takes losses
    reference.compute()
    expected = reference.pvalues
    # arch 8 studentises nothing (its variance only sets the consistent threshold): compare unstudentised
    ours = spa_test(returns, benchmark, mean_block=block, indices=indices, studentize=False)
    assert (ours.lower, ours.consistent, ours.upper) == (expected["lower"], expected["consistent"], expected["upper"])
    assert reality_check(returns, benchmark, mean_block=block, indices=indices) == expected["upper"]
    np.testing.assert_allclose(long_run_variance(returns - benchmark[:, None], block), reference._loss_diff_var, rtol=1e-9)


def naive_spa(d: np.ndarray, indices: np.ndarray, block: float) -> tuple[float, float, float]:
    """Hansen (2005), eq. 5-9, with loops."""
    n, k = d.shape
    mean = d.mean(axis=0)
    q = 1 / block
    variance = np.empty(k)
    for j in range(k):
        x = d[:, j] - mean[j]
        total = x @ x / n
        for i in range(1, n):
            kappa = (1 - i / n) * (1 - q) ** i + (i / n) * (1 - q) ** (n - i)
            total += 2 * kappa * (x[: n - i] @ x[i:]) / n
        variance[j] = total
    omega = np.sqrt(variance)
    statistic = max(np.max(np.sqrt(n) * mean / omega), 0)
    threshold = -np.sqrt(variance / n * 2 * np.log(np.log(n)))
    recentre = {"lower": np.maximum(mean, 0), "consistent": np.where(mean >= threshold, mean, 0), "upper": mean}
    p = {}
    for name, mu in recentre.items():
        hits = 0
        for row in indices:
            z = d[row].mean(axis=0) - mu
            hits += max(np.max(np.sqrt(n) * z / omega), 0) > statistic
        p[name] = hits / len(indices)
    return p["consistent"], p["lower"], p["upper"]


def test_studentised_spa_equals_hansens_formulas_with_loops(stock_returns):
    d = stock_returns[:600, :8] + np.linspace(-3e-4, 4e-4, 8)
    indices = stationary_bootstrap_indices(len(d), 300, 8.0, seed=2)
    assert tuple(spa_test(d, mean_block=8.0, indices=indices)) == naive_spa(d, indices, 8.0)


@pytest.mark.parametrize("mean_block", [3.0, 12.0, 40.0])
def test_stationary_bootstrap_blocks_have_the_mean_length_asked(mean_block):
    """A block continues (the next index is the previous + 1, wrapping) with probability
    1 - 1/mean_block: the measured mean block length follows the length asked, whichever."""
    indices = stationary_bootstrap_indices(5000, 40, mean_block, seed=0)
    assert indices.shape == (40, 5000) and indices.min() >= 0 and indices.max() < 5000
    continues = np.diff(indices, axis=1) % 5000 == 1
    measured = 1 / (1 - continues.mean())
    assert abs(measured - mean_block) < 0.05 * mean_block, (measured, mean_block)
    assert np.bincount(indices.ravel(), minlength=5000).std() < 0.25 * 40  # every row about equally often
    np.testing.assert_array_equal(stationary_bootstrap_indices(50, 3, 4.0, seed=9), stationary_bootstrap_indices(50, 3, 4.0, seed=9))


def test_noise_is_not_significant_and_a_planted_edge_is(stock_returns):
    # 30 seeded noise data sets: p-values spread over (0, 1), few below 5%
    p_values = np.array([spa_test(np.random.default_rng(s).normal(0, 0.01, (1000, 50)), n_boot=500, seed=s).consistent
                         for s in range(30)])  # fmt: skip
    assert np.mean(p_values < 0.05) <= 0.1 and np.median(p_values) > 0.2
    assert reality_check(stock_returns, n_boot=500, seed=1) > 0.1
    assert spa_test(stock_returns, n_boot=500, seed=1).consistent > 0.1
    planted = stock_returns.copy()
    planted[:, 5] += 0.0015  # about 0.38 a year of Sharpe on top of real volatility
    assert spa_test(planted, n_boot=500, seed=1).consistent < 0.05
    assert reality_check(planted, n_boot=500, seed=1) < 0.05
    # against a benchmark that has the same edge, nothing is superior
    assert spa_test(planted, benchmark=planted[:, 5], n_boot=500, seed=1).consistent > 0.1


# -- track record and backtest length --------------------------------------------------------------------


def test_min_track_record_length_is_where_the_psr_reaches_the_confidence(stock_returns):
    returns = stock_returns[:, 3] + 0.0008
    sharpe_bar, skew, kurt, n = _moments(returns)
    bars = min_track_record_length(returns, benchmark_sharpe=0.01, confidence=0.95)
    spread = np.sqrt(1 - skew * sharpe_bar + (kurt - 1) / 4 * sharpe_bar**2)
    assert norm.cdf((sharpe_bar - 0.01) * np.sqrt(bars - 1) / spread) == pytest.approx(0.95, abs=1e-12)
    # the same through backtests.stats: a record exactly MinTRL long has PSR = confidence
    assert probabilistic_sharpe(returns, 0.01) > 0.95 if n > bars else probabilistic_sharpe(returns, 0.01) <= 0.95
    assert min_track_record_length(returns, benchmark_sharpe=sharpe_bar + 0.01) == float("inf")
    assert min_track_record_length(stock_returns[:, 3] - 0.001) == float("inf")


def test_min_track_record_length_by_simulation():
    """Normal returns with per-bar Sharpe 0.08 observed: at MinTRL bars, 95% of records of a
    zero-Sharpe strategy show a Sharpe below 0.08."""
    rng = np.random.default_rng(4)
    observed = rng.standard_normal(20_000)
    observed = (observed - observed.mean()) / observed.std(ddof=1) + 0.08
    bars = min_track_record_length(observed)
    assert 400 < bars < 450
    null = rng.standard_normal((20_000, int(round(bars))))
    estimated = null.mean(axis=1) / null.std(axis=1, ddof=1)
    assert np.quantile(estimated, 0.95) == pytest.approx(0.08, rel=0.03)


def test_min_backtest_length_matches_the_paper_and_a_simulation():
    # Bailey et al. (2014): "no more than 45 independent model configurations should be tried"
    # on 5 years for a Sharpe of 1; their E[max] of 10 standard normals is about 1.57
    assert min_backtest_length(45, 1.0) == pytest.approx(5.0, abs=0.01)
    assert expected_max_sharpe(10, 1.0) == pytest.approx(1.575, abs=0.001)
    assert min_backtest_length(45, 2.0) == pytest.approx(5.0 / 4, abs=0.01)
    assert min_backtest_length(1) == 0.0
    # brute force: 45 skill-less daily strategies over MinBTL years; the best one's annualised
    # Sharpe averages about 1 over many draws
    rng = np.random.default_rng(5)
    days = int(round(min_backtest_length(45) * 252))
    best = []
    for _ in range(20):
        returns = rng.standard_normal((50, days, 45)).astype(np.float32)
        annual = returns.mean(axis=1) / returns.std(axis=1, ddof=1) * np.sqrt(252)
        best.extend(annual.max(axis=1))
    assert np.mean(best) == pytest.approx(1.0, abs=0.04)
    with pytest.raises(ValueError, match="n_trials"):
        min_backtest_length(0)
