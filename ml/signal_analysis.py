"""How well a score predicts forward returns, cross-sectionally: information coefficients,
quantile returns, spread, decay, rank autocorrelation and turnover (pure functions).

The numbers follow alphalens-reloaded's conventions exactly (its tests compare to 1e-9):
``utils.get_clean_factor_and_forward_returns`` for cleaning and quantiles,
``performance.factor_information_coefficient`` (rank IC), ``mean_return_by_quantile``,
``compute_mean_returns_spread``, ``factor_rank_autocorrelation``, ``quantile_turnover``,
``factor_returns`` and the tear sheet's IC table (``plotting.plot_information_table``).
Everything is vectorised over dates (group ranks and sums), not a loop per date.

Input: a long frame, one row per (date, symbol), with the score (``factor``) and forward
returns per horizon (``fwd_1``, ``fwd_5``, ...: the return from the row's bar over the next
``h`` bars). :func:`prepare` cleans it as alphalens does and assigns quantiles; every
statistic takes the :class:`FactorData` it returns.

References
----------
.. [1] alphalens-reloaded, https://github.com/stefan-jansen/alphalens-reloaded (Apache 2.0):
   ``src/alphalens/utils.py`` and ``performance.py``.
.. [2] R. Grinold and R. Kahn, *Active Portfolio Management*, 2nd ed., McGraw-Hill, 2000,
   ch. 6 (the information coefficient).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

RETURN_PREFIX = "fwd_"
METHODS = ("spearman", "pearson")


@dataclass(frozen=True)
class FactorData:
    """A cleaned factor panel (what alphalens calls ``factor_data``).

    Attributes
    ----------
    frame : pd.DataFrame
        Rows kept, sorted by date then symbol: ``date``, ``symbol``, ``factor``, the
        forward-return columns and ``factor_quantile`` (1 = lowest scores).
    returns : tuple of str
        The forward-return columns, shortest horizon first.
    dates : pd.Index
        Every date of the input, sorted: the period grid that "the previous period" of the
        turnover and autocorrelation steps along (a date whose rows were all dropped stays
        on it, so the next date has no previous period).
    quantiles : int or tuple of float
        As passed to :func:`prepare`.
    period : ndarray of int
        Position of each row's date in ``dates``.
    symbol_code : ndarray of int
        Position of each row's symbol in ``symbols``.
    symbols : pd.Index
        The symbols, sorted.
    """

    frame: pd.DataFrame
    returns: tuple[str, ...]
    dates: pd.Index
    quantiles: int | tuple[float, ...]
    period: np.ndarray
    symbol_code: np.ndarray
    symbols: pd.Index

    @property
    def n_quantiles(self) -> int:
        return self.quantiles if isinstance(self.quantiles, int) else len(self.quantiles) - 1


def _horizon(column: str) -> float:
    found = re.search(r"(\d+)", column)
    return float(found.group(1)) if found else np.inf


def forward_returns(prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 20)) -> pd.DataFrame:
    """Forward returns ``price(t + h) / price(t) - 1`` per symbol, as a long frame.

    Steps along the rows of ``prices`` (so ``h`` bars), with each symbol's last price
    carried over its missing bars, as alphalens' ``compute_forward_returns``
    (``prices.ffill().pct_change(h).shift(-h)``). These returns start at the row's own
    price; a strategy filled at the next bar's open earns the label the warehouse computes.

    Parameters
    ----------
    prices : pd.DataFrame
        Dates as the index, one column per symbol.
    periods : sequence of int
        Horizons in bars.

    Returns
    -------
    pd.DataFrame
        Columns ``date``, ``symbol`` and ``fwd_<h>`` per horizon; one row per (date, symbol)
        with a price (rows where the symbol had no price are left out).
    """
    filled = prices.ffill()
    out = {}
    for h in sorted(periods):
        out[f"{RETURN_PREFIX}{h}"] = (filled.shift(-h) / filled - 1).stack(future_stack=True)
    frame = pd.DataFrame(out)
    frame.index.names = ["date", "symbol"]
    observed = prices.stack(future_stack=True).notna()
    return frame[observed.reindex(frame.index).to_numpy()].reset_index()


def prepare(
    frame: pd.DataFrame,
    *,
    quantiles: int | Sequence[float] = 5,
    date_column: str = "date",
    symbol_column: str = "symbol",
    factor_column: str = "factor",
    return_columns: Sequence[str] | None = None,
    max_loss: float | None = 0.35,
) -> FactorData:
    """Clean a factor panel and assign quantiles, as alphalens' ``get_clean_factor``.

    Steps (alphalens' conventions): rows with a non-finite factor are dropped; rows missing
    any horizon's forward return are dropped (so all horizons see the same rows); per
    date, the factor is cut into ``quantiles`` buckets by ``pd.qcut`` (edges at the linear
    interpolated quantiles of the date's factor values; a value on an edge belongs to the
    lower bucket); a date whose edges are not unique (ties spanning a bucket edge, or one
    name) is dropped entirely. A date with fewer names than buckets keeps them, with some
    buckets empty.

    Parameters
    ----------
    frame : pd.DataFrame
        One row per (date, symbol) with the factor and forward returns.
    quantiles : int or sequence of float, default=5
        Equal-count buckets per date, or bucket edges as quantiles (``[0, .1, .5, .9, 1]``).
    date_column, symbol_column, factor_column : str
        Column names.
    return_columns : sequence of str, optional
        Forward-return columns; default every column starting with ``fwd_``.
    max_loss : float or None, default=0.35
        Largest share of input rows the cleaning may drop; more raises ValueError (as
        alphalens' MaxLossExceededError). None: no limit.

    Returns
    -------
    FactorData
    """
    if return_columns is None:
        return_columns = [c for c in frame.columns if str(c).startswith(RETURN_PREFIX)]
    return_columns = sorted(return_columns, key=_horizon)
    missing = [c for c in (date_column, symbol_column, factor_column, *return_columns) if c not in frame.columns]
    if missing or not return_columns:
        raise ValueError(
            f"factor frame lacks columns {missing or ['fwd_<h>']}: it needs {date_column}, {symbol_column}, "
            f"{factor_column} and forward returns (columns starting with {RETURN_PREFIX!r} or return_columns=)"
        )
    if frame.duplicated([date_column, symbol_column]).any():
        first = frame.loc[frame.duplicated([date_column, symbol_column]), [date_column, symbol_column]].iloc[0]
        raise ValueError(f"factor frame has two rows for ({first.iloc[0]}, {first.iloc[1]}): one row per date and symbol")
    dates = pd.Index(frame[date_column].unique()).sort_values().rename("date")
    data = pd.DataFrame(
        {
            "date": frame[date_column].to_numpy(),
            "symbol": frame[symbol_column].to_numpy(),
            "factor": frame[factor_column].to_numpy(dtype=float),
            **{c: frame[c].to_numpy(dtype=float) for c in return_columns},
        }
    )
    n_input = len(data)
    data = data[np.isfinite(data["factor"].to_numpy()) & data[return_columns].notna().all(axis=1).to_numpy()]
    data = data.sort_values(["date", "factor"], kind="stable", ignore_index=True)
    bucket = _quantize(data["date"].to_numpy(), data["factor"].to_numpy(), quantiles)
    data["factor_quantile"] = bucket
    data = data[bucket > 0].sort_values(["date", "symbol"], ignore_index=True)
    data["factor_quantile"] = data["factor_quantile"].astype(np.int64)
    loss = (n_input - len(data)) / n_input if n_input else 1.0
    if max_loss is not None and loss > max_loss:
        raise ValueError(
            f"cleaning dropped {loss:.1%} of {n_input} factor rows (missing forward returns, non-finite scores or "
            f"dates whose quantile edges tie), more than max_loss={max_loss:.1%}"
        )
    symbols = pd.Index(np.sort(data["symbol"].unique()))
    return FactorData(
        frame=data,
        returns=tuple(return_columns),
        dates=dates,
        quantiles=quantiles if isinstance(quantiles, int) else tuple(quantiles),
        period=dates.get_indexer(data["date"]),
        symbol_code=symbols.get_indexer(data["symbol"]),
        symbols=symbols,
    )


def _qcut_levels(quantiles: int | Sequence[float]) -> np.ndarray:
    """The quantile levels ``pd.qcut`` uses (pandas >= 3 rounds a level up where ``q * level``
    is not exactly an integer, so the edges of equal buckets land on the right side)."""
    if isinstance(quantiles, int | np.integer):
        if quantiles < 1:
            raise ValueError(f"quantiles must be a positive integer, got quantiles={quantiles!r}")
        levels = np.linspace(0, 1, quantiles + 1)
        if int(pd.__version__.split(".")[0]) >= 3:
            np.putmask(levels, quantiles * levels != np.arange(quantiles + 1), np.nextafter(levels, 1))
        return levels
    return np.asarray(quantiles, dtype=float)


def _quantize(date: np.ndarray, factor: np.ndarray, quantiles) -> np.ndarray:
    """Bucket 1..Q of each row within its date (rows sorted by date then factor); 0 where the
    date's edges are not unique. Edges as ``np.quantile(method='linear')`` computes them, so
    the buckets equal ``pd.qcut(x, quantiles, labels=False) + 1``."""
    levels = _qcut_levels(quantiles)
    if len(factor) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, date[1:] != date[:-1]])
    counts = np.diff(np.r_[starts, len(date)])
    # numpy's linear quantile: virtual index (n - 1) * q, neighbours floor and floor + 1
    # (both the last value at or past the end), then its two-sided lerp
    virtual = (counts[:, None] - 1) * levels[None, :]
    below = np.floor(virtual)
    above_end = virtual >= counts[:, None] - 1
    prev = np.where(above_end, counts[:, None] - 1, below).astype(np.int64)
    nxt = np.where(above_end, counts[:, None] - 1, below + 1).astype(np.int64)
    gamma = virtual - np.where(above_end, -1, below)
    a, b = factor[starts[:, None] + prev], factor[starts[:, None] + nxt]
    diff = b - a
    edges = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    unique = (np.diff(edges, axis=1) > 0).all(axis=1) if len(levels) > 2 else np.ones(len(starts), bool)
    group = np.repeat(np.arange(len(starts)), counts)
    # pd.cut(right=True, include_lowest=True): bucket = number of edges below the value, at least 1
    bucket = np.maximum((edges[group] < factor[:, None]).sum(axis=1), 1)
    return np.where(unique[group], bucket, 0)


# -- information coefficients ----------------------------------------------------------------------


def _grouped_corr(code: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Pearson correlation of x and y within each group code (NaN for fewer than 2 rows or no variance)."""
    count = np.bincount(code, minlength=n_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(code, x, n_groups) / count
        my = np.bincount(code, y, n_groups) / count
        dx, dy = x - mx[code], y - my[code]
        sxy = np.bincount(code, dx * dy, n_groups)
        sxx = np.bincount(code, dx * dx, n_groups)
        syy = np.bincount(code, dy * dy, n_groups)
        corr = sxy / np.sqrt(sxx * syy)
    corr[(count < 2) | (sxx <= 0) | (syy <= 0)] = np.nan
    return corr


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")


def information_coefficient(data: FactorData, method: str = "spearman") -> pd.DataFrame:
    """Per-date cross-sectional IC between the factor and each horizon's forward return.

    ``spearman`` (rank IC, the default): the Pearson correlation of the date's average
    ranks, equal to alphalens' ``factor_information_coefficient``. ``pearson``: of the
    values themselves.

    Returns
    -------
    pd.DataFrame
        Index: the dates that kept rows; one column per horizon.
    """
    _check_method(method)
    frame = data.frame
    code, dates = pd.factorize(frame["date"], sort=True)
    x = _ranks(frame, "factor") if method == "spearman" else frame["factor"].to_numpy()
    out = {}
    for column in data.returns:
        y = _ranks(frame, column) if method == "spearman" else frame[column].to_numpy()
        out[column] = _grouped_corr(code, x, y, len(dates))
    return pd.DataFrame(out, index=pd.Index(dates, name="date"))


def _ranks(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame.groupby("date", sort=False)[column].rank(method="average").to_numpy()


def ic_summary(ic: pd.DataFrame) -> pd.DataFrame:
    """The tear sheet's information table for per-period ICs (one row per horizon).

    ``ic_mean``, ``ic_std`` (ddof 1), ``icir`` = mean / std (alphalens' "Risk-Adjusted
    IC", per period, not annualised), ``t_stat`` and ``p_value`` of a one-sample t-test of
    mean 0 (``scipy.stats.ttest_1samp``: t = mean / (std / sqrt(n)), two-sided), ``skew`` and
    ``kurtosis`` (excess; biased, as scipy's defaults) and ``n`` periods. NaN ICs are left out.
    Overlapping horizons (``fwd_5`` measured every bar) make successive ICs correlated, so
    their t-stat overstates significance; compare with the per-year table.
    """
    rows = {}
    for column in ic.columns:
        values = ic[column].dropna().to_numpy()
        n = len(values)
        mean = values.mean() if n else np.nan
        std = values.std(ddof=1) if n > 1 else np.nan
        if n >= 2:
            test = stats.ttest_1samp(values, 0.0)
            t_stat, p_value = float(test.statistic), float(test.pvalue)
        else:
            t_stat = p_value = np.nan
        rows[column] = {
            "ic_mean": mean,
            "ic_std": std,
            "icir": mean / std if n > 1 else np.nan,
            "t_stat": t_stat,
            "p_value": p_value,
            "skew": float(stats.skew(values)) if n else np.nan,
            "kurtosis": float(stats.kurtosis(values)) if n else np.nan,
            "n": n,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("horizon")


def ic_by_year(ic: pd.DataFrame) -> pd.DataFrame:
    """:func:`ic_summary` per calendar year (index: year, horizon)."""
    years = pd.DatetimeIndex(ic.index).year
    parts = {year: ic_summary(ic[years == year]) for year in np.unique(years)}
    return pd.concat(parts, names=["year"])


def ic_by_symbol(data: FactorData, method: str = "spearman") -> pd.DataFrame:
    """Time-series IC per symbol: the correlation, within one symbol and over its dates, of
    its factor with its forward return (not a cross-section; it says whether the score times
    that symbol). Index: symbol; one column per horizon, plus ``n`` dates."""
    _check_method(method)
    frame = data.frame
    code = data.symbol_code
    if method == "spearman":
        x = frame.groupby("symbol", sort=False)["factor"].rank(method="average").to_numpy()
    else:
        x = frame["factor"].to_numpy()
    out = {}
    for column in data.returns:
        if method == "spearman":
            y = frame.groupby("symbol", sort=False)[column].rank(method="average").to_numpy()
        else:
            y = frame[column].to_numpy()
        out[column] = _grouped_corr(code, x, y, len(data.symbols))
    out["n"] = np.bincount(code, minlength=len(data.symbols))
    return pd.DataFrame(out, index=pd.Index(data.symbols, name="symbol"))


def ic_decay(ic: pd.DataFrame) -> pd.DataFrame:
    """Mean IC and its t-stat per horizon, shortest first: how fast the signal fades."""
    summary = ic_summary(ic)
    order = sorted(summary.index, key=_horizon)
    decay = summary.loc[order, ["ic_mean", "t_stat", "n"]]
    decay.insert(0, "bars", [_horizon(c) for c in order])
    return decay


# -- quantile returns ------------------------------------------------------------------------------


def _returns_matrix(data: FactorData, demeaned: bool) -> np.ndarray:
    values = data.frame[list(data.returns)].to_numpy(dtype=float)
    if demeaned:
        code = np.unique(data.period, return_inverse=True)[1]
        count = np.bincount(code).astype(float)
        means = np.column_stack([np.bincount(code, values[:, j]) / count for j in range(values.shape[1])])
        values = values - means[code]
    return values


def mean_return_by_quantile(
    data: FactorData, *, demeaned: bool = True, by_date: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean forward return of each factor quantile, and its standard error, as alphalens'
    ``mean_return_by_quantile``.

    Equal weight within a bucket. ``demeaned`` (alphalens' default, and its tear sheet's
    ``long_short=True``) subtracts each date's mean forward return over all kept names
    first, so a bucket's return is relative to the universe. Per date: the mean of the
    bucket's names; ``by_date=False`` then averages those over dates, with standard error
    std(per-date means, ddof 1) / sqrt(dates). ``by_date=True``: the per-date means, with
    standard error std(names, ddof 1) / sqrt(names).

    Returns
    -------
    mean, std_err : pd.DataFrame
        Index ``factor_quantile`` (and ``date`` when ``by_date``); one column per horizon.
        Raw returns over each horizon, not per bar.
    """
    values = _returns_matrix(data, demeaned)
    frame = pd.DataFrame(values, columns=list(data.returns))
    frame["factor_quantile"] = data.frame["factor_quantile"].to_numpy()
    frame["date"] = data.frame["date"].to_numpy()
    grouped = frame.groupby(["factor_quantile", "date"], sort=True)[list(data.returns)]
    mean, std, count = grouped.mean(), grouped.std(ddof=1), grouped.count()
    if not by_date:
        per_quantile = mean.groupby(level="factor_quantile")
        mean, std, count = per_quantile.mean(), per_quantile.std(ddof=1), per_quantile.count()
    return mean, std / np.sqrt(count)


def quantile_spread(
    data: FactorData, *, demeaned: bool = True, upper: int | None = None, lower: int | None = None
) -> pd.DataFrame:
    """Top-minus-bottom quantile mean forward return and its standard errors, per horizon.

    ``spread`` = mean(upper) - mean(lower) over dates (from ``mean_return_by_quantile``);
    ``std_err`` = sqrt(se_upper^2 + se_lower^2), treating the two buckets as independent as
    alphalens does. ``long_short`` and ``long_short_std_err`` are both halved: the return per
    unit of gross exposure of a portfolio long the top and short the bottom bucket, which is
    what alphalens-reloaded >= 0.5 ``compute_mean_returns_spread`` reports. ``ts_std_err``,
    ``t_stat``, ``n``: from the per-date spread series (dates with both buckets),
    std(ddof 1) / sqrt(n), which keeps the buckets' covariance. Upper and lower default to
    the highest and lowest bucket present.
    """
    mean, se = mean_return_by_quantile(data, demeaned=demeaned)
    upper = int(mean.index.max()) if upper is None else upper
    lower = int(mean.index.min()) if lower is None else lower
    daily = spread_by_date(data, demeaned=demeaned, upper=upper, lower=lower)
    n = daily.notna().sum()
    ts_se = daily.std(ddof=1) / np.sqrt(n)
    spread = mean.loc[upper] - mean.loc[lower]
    std_err = np.sqrt(se.loc[upper] ** 2 + se.loc[lower] ** 2)
    return pd.DataFrame(
        {
            "spread": spread,
            "std_err": std_err,
            "long_short": spread / 2.0,
            "long_short_std_err": std_err / 2.0,
            "ts_std_err": ts_se,
            "t_stat": daily.mean() / ts_se,
            "n": n,
        }
    ).rename_axis("horizon")


def spread_by_date(
    data: FactorData,
    *,
    demeaned: bool = True,
    upper: int | None = None,
    lower: int | None = None,
    per_gross: bool = False,
) -> pd.DataFrame:
    """Per-date top-minus-bottom mean forward return (index: date; NaN where a bucket is
    empty). ``per_gross`` halves it (per unit of gross long-short exposure), which equals
    alphalens-reloaded >= 0.5 ``compute_mean_returns_spread`` on the by-date quantile means."""
    mean, _ = mean_return_by_quantile(data, demeaned=demeaned, by_date=True)
    quantile = mean.index.get_level_values("factor_quantile")
    upper = int(quantile.max()) if upper is None else upper
    lower = int(quantile.min()) if lower is None else lower
    spread = mean.xs(upper, level="factor_quantile").sub(mean.xs(lower, level="factor_quantile"))
    return spread / 2.0 if per_gross else spread


def factor_returns(data: FactorData, *, demeaned: bool = True, equal_weight: bool = False) -> pd.DataFrame:
    """Per-date return of the factor-weighted portfolio, as alphalens' ``factor_returns``.

    Weights per date: the factor, demeaned (``demeaned``) and scaled to gross exposure 1,
    ``w_i = (f_i - mean f) / sum |f_j - mean f|``; with ``equal_weight``, +1 above and -1
    below the date's median (each side scaled to 1/2 gross when demeaned), or the sign of
    the factor when not demeaned. Return = sum w_i r_i per horizon. Index: date.
    """
    frame = data.frame
    code = np.unique(data.period, return_inverse=True)[1]
    n_dates = code.max() + 1 if len(code) else 0
    f = frame["factor"].to_numpy()
    if equal_weight:
        if demeaned:
            f = f - frame.groupby("date", sort=False)["factor"].transform("median").to_numpy()
        sign = np.sign(f)
        w = sign.astype(float)
        if demeaned:
            for side in (1.0, -1.0):
                mine = sign == side
                count = np.bincount(code, mine, n_dates)
                w[mine] = side / count[code[mine]]
    else:
        w = f - np.bincount(code, f, n_dates)[code] / np.bincount(code, minlength=n_dates)[code] if demeaned else f
    gross = np.bincount(code, np.abs(w), n_dates)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(gross[code] == 0, 0.0, w / gross[code])
    values = frame[list(data.returns)].to_numpy(dtype=float)
    out = {c: np.bincount(code, w * values[:, j], n_dates) for j, c in enumerate(data.returns)}
    return pd.DataFrame(out, index=data.dates[np.unique(data.period)])


# -- turnover --------------------------------------------------------------------------------------


def _grid(data: FactorData, values: np.ndarray) -> np.ndarray:
    """Rows to a dense (dates x symbols) matrix over the full date grid, NaN where absent."""
    dense = np.full((len(data.dates), len(data.symbols)), np.nan)
    dense[data.period, data.symbol_code] = values
    return dense


def factor_rank_autocorrelation(data: FactorData, period: int = 1) -> pd.Series:
    """Correlation of each date's factor ranks with the ranks ``period`` dates earlier, as
    alphalens' ``factor_rank_autocorrelation``.

    Ranks are within each date (average ranks over that date's kept names); the Pearson
    correlation is over the names ranked on both dates. Near 1: a slow signal (low
    turnover); near 0: ranks reshuffle every period. Index: the date grid
    (``FactorData.dates``); NaN where a date or its predecessor has fewer than two common
    names (or was dropped).
    """
    ranks = _grid(data, _ranks(data.frame, "factor"))
    previous = np.full_like(ranks, np.nan)
    if period < len(ranks):
        previous[period:] = ranks[:-period]
    both = ~np.isnan(ranks) & ~np.isnan(previous)
    n = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = np.where(both, ranks, 0.0), np.where(both, previous, 0.0)
        dx = np.where(both, x - x.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        dy = np.where(both, y - y.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        corr = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    corr[n < 2] = np.nan
    return pd.Series(corr, index=data.dates, name=period)


def quantile_turnover(data: FactorData, quantile: int, period: int = 1) -> pd.Series:
    """Share of the names in ``quantile`` that were not in it ``period`` dates earlier, as
    alphalens' ``quantile_turnover``: ``|S_t minus S_(t-period)| / |S_t|``. Index: the date
    grid; NaN where the bucket is empty on either date."""
    member = _grid(data, (data.frame["factor_quantile"].to_numpy() == quantile).astype(float)) == 1
    previous = np.zeros_like(member)
    if period < len(member):
        previous[period:] = member[:-period]
    size, before = member.sum(axis=1), previous.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = (member & ~previous).sum(axis=1) / size
    turnover[(size == 0) | (before == 0)] = np.nan
    return pd.Series(turnover, index=data.dates, name=quantile)


# -- everything at once ---------------------------------------------------------------------------


def signal_report(data: FactorData, *, demeaned: bool = True) -> dict[str, pd.DataFrame | pd.Series]:
    """Every statistic of this module for one factor, keyed by name (the tables a report shows)."""
    rank_ic = information_coefficient(data, "spearman")
    pearson_ic = information_coefficient(data, "pearson")
    mean, std_err = mean_return_by_quantile(data, demeaned=demeaned)
    top, bottom = int(data.frame["factor_quantile"].max()), int(data.frame["factor_quantile"].min())
    return {
        "rank_ic": rank_ic,
        "ic": pearson_ic,
        "rank_ic_summary": ic_summary(rank_ic),
        "ic_summary": ic_summary(pearson_ic),
        "rank_ic_by_year": ic_by_year(rank_ic),
        "rank_ic_by_symbol": ic_by_symbol(data, "spearman"),
        "ic_decay": ic_decay(rank_ic),
        "quantile_mean_return": mean,
        "quantile_std_err": std_err,
        "spread": quantile_spread(data, demeaned=demeaned),
        "factor_rank_autocorrelation": factor_rank_autocorrelation(data),
        "top_quantile_turnover": quantile_turnover(data, top),
        "bottom_quantile_turnover": quantile_turnover(data, bottom),
    }
