"""How likely is a backtest to be overfit? Statistics over the returns of every configuration
tried (pure functions: numpy in, numbers out, vectorised).

- :func:`pbo`: probability of backtest overfitting by combinatorially symmetric
  cross-validation (CSCV), Bailey, Borwein, Lopez de Prado & Zhu (2017).
- :func:`reality_check` and :func:`spa_test`: White's (2000) Reality Check and Hansen's (2005)
  test for superior predictive ability, on Politis & Romano's (1994) stationary bootstrap.
- :func:`min_track_record_length` (Bailey & Lopez de Prado 2012) and
  :func:`min_backtest_length` (Bailey, Borwein, Lopez de Prado & Zhu 2014).

Returns are per bar, one column per configuration, rows in time order; Sharpe ratios here
are per bar unless a function says otherwise.

References
----------
.. [1] D. H. Bailey, J. M. Borwein, M. Lopez de Prado, Q. J. Zhu, "The probability of
   backtest overfitting", Journal of Computational Finance 20(4), 2017 (SSRN 2326253, 2015).
.. [2] H. White, "A reality check for data snooping", Econometrica 68(5), 2000, 1097-1126.
.. [3] P. R. Hansen, "A test for superior predictive ability", Journal of Business &
   Economic Statistics 23(4), 2005, 365-380.
.. [4] D. N. Politis, J. P. Romano, "The stationary bootstrap", JASA 89(428), 1994, 1303-1313.
.. [5] D. H. Bailey, M. Lopez de Prado, "The Sharpe ratio efficient frontier", Journal of
   Risk 15(2), 2012, 3-44.
.. [6] D. H. Bailey, J. M. Borwein, M. Lopez de Prado, Q. J. Zhu, "Pseudo-mathematics and
   financial charlatanism: the effects of backtest overfitting on out-of-sample
   performance", Notices of the AMS 61(5), 2014, 458-471.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from backtests.stats import _moments, expected_max_sharpe

# rows of (combinations x configurations) held at once in PBO (memory, not results)
_PBO_CHUNK_CELLS = 250_000  # small enough to stay in cache
# (bootstraps x bars) index cells generated at once
_BOOT_CHUNK_CELLS = 10_000_000


def _returns_matrix(returns, name: str = "returns") -> np.ndarray:
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a (bars x configurations) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        bad = np.argwhere(~np.isfinite(matrix))[0]
        raise ValueError(f"{name} has a non-finite value at bar {bad[0]}, configuration {bad[-1]}: fill or drop it first")
    return matrix


# -- probability of backtest overfitting (CSCV) ----------------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """What CSCV finds (Bailey et al. 2017, sec. 2-3).

    Attributes
    ----------
    pbo : float
        Probability of backtest overfitting: the share of combinations whose in-sample best
        configuration ranks at or below the median out of sample (logit <= 0).
    logits : ndarray, shape (n_combinations,)
        ``log(w / (1 - w))`` with ``w`` the out-of-sample relative rank (rank / (N + 1)) of
        each combination's in-sample best.
    is_performance, oos_performance : ndarray, shape (n_combinations,)
        The metric of that configuration in and out of sample.
    best : ndarray of int, shape (n_combinations,)
        The in-sample best configuration of each combination.
    degradation_slope, degradation_intercept : float
        Least-squares line ``oos = intercept + slope * is`` over the combinations: how
        much of an in-sample gain survives out of sample (a slope below 0 means picking
        on in-sample performance hurts).
    prob_oos_loss : float
        Share of combinations whose in-sample best loses out of sample (metric < 0).
    n_blocks : int
        S, the number of row blocks.
    """

    pbo: float
    logits: np.ndarray
    is_performance: np.ndarray
    oos_performance: np.ndarray
    best: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_blocks: int


def _block_sizes(n_bars: int, n_blocks: int) -> np.ndarray:
    """S contiguous blocks of rows, the first ``n_bars % S`` one row longer."""
    sizes = np.full(n_blocks, n_bars // n_blocks)
    sizes[: n_bars % n_blocks] += 1
    return sizes


def cscv_combinations(n_blocks: int) -> np.ndarray:
    """The in-sample block sets of CSCV: every C(S, S/2) choice of S/2 of the S blocks, as a
    boolean (combinations x blocks) matrix, in lexicographic order."""
    if not isinstance(n_blocks, int | np.integer) or n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even integer of at least 2, got n_blocks={n_blocks!r}")
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    chosen = np.zeros((len(combos), n_blocks), dtype=bool)
    np.put_along_axis(chosen, combos, True, axis=1)
    return chosen


def pbo(
    returns,
    n_blocks: int = 16,
    metric: str | Callable[[np.ndarray], np.ndarray] = "sharpe",
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    The T x N matrix of per-bar returns (one column per configuration tried) is cut into S
    contiguous blocks of rows. For each of the C(S, S/2) ways to pick half the blocks as the
    in-sample set J (the rest, J', out of sample, rows kept in time order): find the
    configuration n* with the best metric on J, its relative rank w = rank(metric on J')
    / (N + 1) among all configurations on J' (average rank for ties), and the logit
    lambda = log(w / (1 - w)). PBO = share of combinations with lambda <= 0: how often the
    in-sample winner is no better than the median configuration out of sample.
    Bailey, Borwein, Lopez de Prado & Zhu (2017), "The probability of backtest overfitting".

    Parameters
    ----------
    returns : array-like, shape (T, N)
        Per-bar returns of the N configurations over the same T bars. N >= 2.
    n_blocks : int, default=16
        S, even; each block should hold enough bars to measure the metric.
    metric : "sharpe", "mean" or callable, default="sharpe"
        ``sharpe``: mean / std (ddof 1) per bar; ``mean``: mean return. Both are computed
        from per-block sums, so all 12,870 combinations of S=16 cost a few matrix
        products. A callable takes a (rows x N) array and returns N scores (higher is
        better); it runs once per combination and half, so it is slow.

    Returns
    -------
    PBOResult

    Notes
    -----
    Non-finite scores (a constant configuration's Sharpe) rank lowest.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.01, size=(2000, 50))
    >>> round(pbo(noise, n_blocks=8).pbo, 2)  # no skill: 0.5 on average over data sets
    0.4
    >>> noise[:, 0] += 0.003  # one configuration with a real edge
    >>> pbo(noise, n_blocks=8).pbo
    0.0
    """
    matrix = _returns_matrix(returns)
    n_bars, n_configs = matrix.shape
    chosen = cscv_combinations(n_blocks)
    if n_configs < 2:
        raise ValueError(f"PBO compares configurations: got {n_configs}, need at least 2 columns")
    if n_bars < 2 * n_blocks:
        raise ValueError(f"{n_bars} bars for n_blocks={n_blocks}: each block needs at least 2 bars")
    sizes = _block_sizes(n_bars, n_blocks)
    if callable(metric):
        is_score, oos_score = _scores_by_callable(matrix, sizes, chosen, metric)
        return _pbo_result(is_score, oos_score, n_blocks)
    if metric not in ("sharpe", "mean"):
        raise ValueError(f"metric must be 'sharpe', 'mean' or a callable, got metric={metric!r}")
    # per-block sums of returns centred on each column's mean (variance without cancellation)
    centre = matrix.mean(axis=0)
    centred = matrix - centre
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    sums = np.add.reduceat(centred, starts, axis=0)
    squares = np.add.reduceat(centred * centred, starts, axis=0)
    # the out-of-sample half of a combination is the in-sample half of its complement, so
    # one pass scores every half once
    scores = np.empty((len(chosen), n_configs))
    chunk = max(1, _PBO_CHUNK_CELLS // n_configs)
    for start in range(0, len(chosen), chunk):
        pick = chosen[start : start + chunk].astype(float)
        scores[start : start + chunk] = _score(metric, pick @ sums, pick @ squares, pick @ sizes.astype(float), centre)
    return _pbo_result(scores, scores, n_blocks, oos_rows=_complements(chosen))


def _complements(chosen: np.ndarray) -> np.ndarray:
    """Row of each combination's complement in ``chosen``."""
    bits = chosen @ (1 << np.arange(chosen.shape[1], dtype=np.int64))
    order = np.argsort(bits)
    return order[np.searchsorted(bits[order], (1 << chosen.shape[1]) - 1 - bits)]


def _score(metric: str, s: np.ndarray, q: np.ndarray, n: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Metric per (combination, configuration) from sums of centred returns over the rows."""
    n = n[:, None]
    mean = s / n
    if metric == "mean":
        return np.add(mean, centre, out=mean)
    # in place: these arrays are the bulk of the work
    variance = np.multiply(s, mean, out=np.empty_like(s))
    np.subtract(q, variance, out=variance)
    np.maximum(variance, 0.0, out=variance)
    np.divide(variance, n - 1, out=variance)
    np.sqrt(variance, out=variance)
    np.add(mean, centre, out=mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.divide(mean, variance, out=mean)


def _select(in_score: np.ndarray, out_score: np.ndarray):
    """In-sample best per row, its scores, and its out-of-sample average rank (1..N);
    non-finite scores count as the lowest."""
    in_score = np.where(np.isfinite(in_score), in_score, -np.inf)
    out_score = np.where(np.isfinite(out_score), out_score, -np.inf)
    rows = np.arange(len(in_score))
    best = np.argmax(in_score, axis=1)
    mine = out_score[rows, best][:, None]
    rank = (out_score < mine).sum(axis=1) + ((out_score == mine).sum(axis=1) + 1) / 2.0
    return best, in_score[rows, best], out_score[rows, best], rank


def _scores_by_callable(matrix, sizes, chosen, metric):
    edges = np.r_[0, np.cumsum(sizes)]
    rows_of = [np.arange(edges[b], edges[b + 1]) for b in range(len(sizes))]
    is_score = np.empty((len(chosen), matrix.shape[1]))
    oos_score = np.empty_like(is_score)
    for i, pick in enumerate(chosen):
        is_score[i] = metric(matrix[np.concatenate([rows_of[b] for b in np.flatnonzero(pick)])])
        oos_score[i] = metric(matrix[np.concatenate([rows_of[b] for b in np.flatnonzero(~pick)])])
    return is_score, oos_score


def _pbo_result(is_score, oos_score, n_blocks, oos_rows=None) -> PBOResult:
    """``oos_rows``: the row of ``oos_score`` holding each combination's out-of-sample scores."""
    rows = np.arange(len(is_score)) if oos_rows is None else oos_rows
    chunk = max(1, _PBO_CHUNK_CELLS // is_score.shape[1])
    parts = [_select(is_score[i : i + chunk], oos_score[rows[i : i + chunk]]) for i in range(0, len(is_score), chunk)]
    best, in_perf, out_perf, rank = (np.concatenate(p) for p in zip(*parts, strict=True))
    return _finish(best, in_perf, out_perf, rank, is_score.shape[1], n_blocks)


def _finish(best, in_perf, out_perf, rank, n_configs, n_blocks) -> PBOResult:
    w = rank / (n_configs + 1.0)
    logits = np.log(w / (1.0 - w))
    finite = np.isfinite(in_perf) & np.isfinite(out_perf)
    if finite.sum() >= 2 and np.ptp(in_perf[finite]) > 0:
        slope, intercept = np.polyfit(in_perf[finite], out_perf[finite], 1)
    else:
        slope = intercept = float("nan")
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        is_performance=in_perf,
        oos_performance=out_perf,
        best=best,
        degradation_slope=float(slope),
        degradation_intercept=float(intercept),
        prob_oos_loss=float(np.mean(out_perf < 0)),
        n_blocks=int(n_blocks),
    )


# -- data-snooping tests on the stationary bootstrap -------------------------------------------------------


def stationary_bootstrap_indices(n_bars: int, n_boot: int, mean_block: float, seed=None) -> np.ndarray:
    """Row indices of ``n_boot`` stationary-bootstrap resamples of ``n_bars`` rows.

    Politis & Romano (1994): each resample starts at a uniform random row; every next row
    is the following row (wrapping from the last to the first) with probability
    ``1 - 1/mean_block``, else a new uniform random row. Blocks have geometric lengths of
    mean ``mean_block``, so the resampled series stays stationary and keeps short-range
    dependence.

    Returns
    -------
    ndarray of int64, shape (n_boot, n_bars)
    """
    if not mean_block >= 1:
        raise ValueError(f"mean_block must be at least 1 bar, got mean_block={mean_block!r}")
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, n_bars), dtype=np.int64)
    step = max(1, _BOOT_CHUNK_CELLS // max(n_bars, 1))
    for start in range(0, n_boot, step):
        rows = min(step, n_boot - start)
        jump = rng.integers(0, n_bars, size=(rows, n_bars))
        new = rng.random((rows, n_bars)) < 1.0 / mean_block
        new[:, 0] = True
        # position of the latest block start at or before each bar
        where = np.where(new, np.arange(n_bars), 0)
        np.maximum.accumulate(where, axis=1, out=where)
        origin = np.take_along_axis(jump, where, axis=1)
        out[start : start + rows] = (origin + np.arange(n_bars) - where) % n_bars
    return out


def default_mean_block(n_bars: int) -> float:
    """``T ** (1/3)`` bars: the order of the MSE-optimal block length for a variance estimate
    (Politis & White 2004). arch defaults to sqrt(T); on independent returns (T=1000, 50
    configurations, 100 seeds) that made the studentised SPA reject 14% of true nulls at 5%,
    against 7% with T ** (1/3). Pass a longer block for strongly autocorrelated returns."""
    return max(1.0, float(n_bars) ** (1 / 3))


class SPAResult(NamedTuple):
    """Hansen's SPA p-values: ``consistent`` is the headline; ``lower`` and ``upper`` bound it."""

    consistent: float
    lower: float
    upper: float


def _differentials(returns, benchmark) -> np.ndarray:
    matrix = _returns_matrix(returns)
    if benchmark is None:
        return matrix
    bench = np.asarray(benchmark, dtype=float).reshape(-1)
    if len(bench) != len(matrix):
        raise ValueError(f"benchmark has {len(bench)} bars for {len(matrix)} bars of returns")
    if not np.isfinite(bench).all():
        raise ValueError(f"benchmark has a non-finite value at bar {int(np.flatnonzero(~np.isfinite(bench))[0])}")
    return matrix - bench[:, None]


def _bootstrap_means(d: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Mean of each column of ``d`` over each resample: (resample counts of each row) @ d."""
    n_boot, n_bars = indices.shape
    means = np.empty((n_boot, d.shape[1]))
    step = max(1, _BOOT_CHUNK_CELLS // n_bars)
    for start in range(0, n_boot, step):
        rows = indices[start : start + step]
        flat = rows + n_bars * np.arange(len(rows))[:, None]
        counts = np.bincount(flat.ravel(), minlength=len(rows) * n_bars).reshape(len(rows), n_bars)
        means[start : start + len(rows)] = counts @ d / n_bars
    return means


def long_run_variance(d, mean_block: float) -> np.ndarray:
    """Hansen's (2005) estimate of the variance of ``sqrt(T) * mean(d)`` per column: the
    stationary bootstrap's own variance, gamma_0 + 2 sum_i k_i gamma_i with
    k_i = (1 - i/T)(1 - q)^i + (i/T)(1 - q)^(T - i), q = 1 / mean_block, and gamma_i the
    (1/T-normalised) autocovariances, all lags at once by FFT."""
    d = np.asarray(d, dtype=float)
    if d.ndim == 1:
        d = d[:, None]
    n = len(d)
    centred = d - d.mean(axis=0)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n] / n
    lags = np.arange(1, n)
    q = 1.0 / mean_block
    kappa = (1 - lags / n) * (1 - q) ** lags + (lags / n) * (1 - q) ** (n - lags)
    return autocov[0] + 2.0 * (kappa[:, None] * autocov[1:]).sum(axis=0)


def _spa(d, n_boot, mean_block, seed, indices, studentize) -> tuple[SPAResult, float]:
    n_bars = len(d)
    mean_block = default_mean_block(n_bars) if mean_block is None else float(mean_block)
    if indices is None:
        indices = stationary_bootstrap_indices(n_bars, n_boot, mean_block, seed)
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != n_bars:
        raise ValueError(f"indices must be (n_boot x {n_bars}) bootstrap row indices, got shape {indices.shape}")
    mean = d.mean(axis=0)
    variance = long_run_variance(d, mean_block)
    boot = _bootstrap_means(d, indices) - mean  # recentred at the sample mean ("upper")
    # consistent: recentre only where the mean is not too far below 0 (Hansen 2005, eq. 8)
    keep = mean >= -np.sqrt(np.maximum(variance, 0) / n_bars * 2 * np.log(np.log(n_bars)))
    scale = np.sqrt(np.where(variance > 0, variance, np.nan)) if studentize else np.ones_like(mean)
    root = np.sqrt(n_bars)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = max(np.nanmax(root * mean / scale), 0.0)
        p = {}
        for name, recentre in (
            ("lower", np.maximum(mean, 0.0)),
            ("consistent", np.where(keep, mean, 0.0)),
            ("upper", mean),
        ):
            shifted = boot + mean - recentre
            simulated = np.maximum(np.nanmax(root * shifted / scale, axis=1), 0.0)
            # no configuration ahead of the benchmark in sample: nothing to reject (with the
            # floor at 0, "T* > 0" would otherwise count as evidence)
            p[name] = float(np.mean(simulated > statistic)) if statistic > 0 else 1.0
    return SPAResult(p["consistent"], p["lower"], p["upper"]), float(statistic)


def spa_test(
    returns,
    benchmark=None,
    n_boot: int = 1000,
    mean_block: float | None = None,
    seed=None,
    *,
    studentize: bool = True,
    indices: np.ndarray | None = None,
) -> SPAResult:
    """Hansen's (2005) test for superior predictive ability: does the best configuration beat
    the benchmark once every configuration tried is accounted for?

    With ``d_k,t = r_k,t - b_t`` (configuration minus benchmark returns), ``dbar_k`` its mean
    and ``w_k^2`` its long-run variance (:func:`long_run_variance`), the statistic is
    ``T_SPA = max(0, max_k sqrt(T) dbar_k / w_k)``. Each stationary-bootstrap resample gives
    ``T*_b = max(0, max_k sqrt(T) (dbar*_k,b - g(dbar_k)) / w_k)`` and the p-value is the
    share of ``T*_b > T_SPA`` (1 when ``T_SPA = 0``: no configuration beats the benchmark
    in sample). The recentring ``g`` makes the three p-values: ``upper``
    (g(x) = x, White's Reality Check studentised), ``lower`` (g(x) = max(x, 0)), and
    ``consistent`` (g(x) = x where x >= -sqrt(w^2 / T * 2 log log T), else 0), which drops
    configurations that are clearly worse than the benchmark so they cannot inflate the
    p-value. H0: no configuration beats the benchmark; a small p rejects it.

    Parameters
    ----------
    returns : array-like, shape (T, N)
        Per-bar returns of the configurations (or 1-D for one).
    benchmark : array-like, shape (T,), optional
        Per-bar returns of the benchmark; default 0 (is any configuration profitable?).
    n_boot : int, default=1000
        Bootstrap resamples.
    mean_block : float, optional
        Mean block length of the stationary bootstrap in bars; default
        :func:`default_mean_block`, T ** (1/3). Longer for more serial dependence.
    seed : int or Generator, optional
    studentize : bool, default=True
        Divide by w_k (Hansen). False: raw means, as White (2000) and arch's ``SPA``.
    indices : ndarray, shape (n_boot, T), optional
        Bootstrap row indices to use instead of drawing them (to reproduce another run).

    Returns
    -------
    SPAResult
        ``(consistent, lower, upper)``.
    """
    d = _differentials(returns, benchmark)
    return _spa(d, n_boot, mean_block, seed, indices, studentize)[0]


def reality_check(
    returns,
    benchmark=None,
    n_boot: int = 1000,
    mean_block: float | None = None,
    seed=None,
    *,
    indices: np.ndarray | None = None,
) -> float:
    """White's (2000) Reality Check p-value: could the best configuration's mean excess over
    the benchmark be the luck of the best of N?

    ``V = max_k sqrt(T) dbar_k`` against the stationary-bootstrap distribution of
    ``V*_b = max_k sqrt(T) (dbar*_k,b - dbar_k)``: p = share of ``V*_b > V`` (floored at
    0 as Hansen does, which only matters when no configuration beats the benchmark). Not
    studentised, so a volatile configuration dominates; it is conservative when poor
    configurations are included, which :func:`spa_test` fixes. Parameters as
    :func:`spa_test`.
    """
    d = _differentials(returns, benchmark)
    return _spa(d, n_boot, mean_block, seed, indices, studentize=False)[0].upper


# -- how long a record must be --------------------------------------------------------------------------


def min_track_record_length(returns, benchmark_sharpe: float = 0.0, confidence: float = 0.95) -> float:
    """Minimum track record length (bars): how many bars of these returns it takes for the
    observed Sharpe to be significantly above ``benchmark_sharpe`` at ``confidence``.

    ``MinTRL = 1 + (1 - g3 SR + (g4 - 1) / 4 SR^2) (z_confidence / (SR - SR*))^2``, with SR
    the per-bar Sharpe, g3 the skewness and g4 the (non-excess) kurtosis of the returns
    (``backtests.stats._moments``) and SR* the per-bar ``benchmark_sharpe``. Bailey &
    Lopez de Prado (2012), "The Sharpe ratio efficient frontier", eq. 11. Infinite when SR
    <= SR*. Compare with the number of bars the record has: fewer means the Sharpe is not
    yet distinguishable from the benchmark at that confidence. Divide by bars per year for
    years.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got confidence={confidence!r}")
    sharpe, skew, kurt, n = _moments(np.asarray(returns, dtype=float).ravel())
    if not np.isfinite(sharpe):
        return float("nan")
    if sharpe <= benchmark_sharpe:
        return float("inf")
    spread = 1 - skew * sharpe + (kurt - 1) / 4 * sharpe**2
    return float(1 + spread * (norm.ppf(confidence) / (sharpe - benchmark_sharpe)) ** 2)


def min_backtest_length(n_trials: int, target_annual_sharpe: float = 1.0) -> float:
    """Minimum backtest length (years) for ``n_trials`` independent configurations of no skill
    not to be expected to show an annualised Sharpe of ``target_annual_sharpe`` in sample.

    ``MinBTL = (((1 - g) Z^-1[1 - 1/N] + g Z^-1[1 - 1/(N e)]) / E[max SR])^2`` with g the
    Euler-Mascheroni constant and Z^-1 the standard normal quantile: the numerator is the
    expected maximum of N standard normals, and an annualised Sharpe estimated over y years
    has a standard deviation of about 1/sqrt(y). Bailey, Borwein, Lopez de Prado & Zhu
    (2014), "Pseudo-mathematics and financial charlatanism", eq. 6: with 5 years of data no
    more than 45 configurations should be tried for a Sharpe of 1 (MinBTL(45, 1) = 5.0).
    A backtest shorter than this, selected from ``n_trials``, says nothing. 0 for one trial.
    """
    if not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got n_trials={n_trials!r}")
    if not target_annual_sharpe > 0:
        raise ValueError(f"target_annual_sharpe must be positive, got target_annual_sharpe={target_annual_sharpe!r}")
    return float((expected_max_sharpe(int(n_trials), 1.0) / target_annual_sharpe) ** 2)
