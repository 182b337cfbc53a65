"""Performance figures from an equity curve and its orders (pure functions, no engine).

Everything is computed per bar and annualised with the bars a year of the bar size and
calendar really has (13 half-hour bars a full NYSE session, ~252 sessions), never with a
daily 252 applied to intraday returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def drawdown(equity: pd.Series) -> pd.Series:
    """Fraction below the running peak (0 at a new high, negative below it)."""
    return equity / equity.cummax() - 1.0


def curve_figures(equity: np.ndarray, bars_per_year: float) -> dict[str, float]:
    """The headline figures of one equity curve (numpy, for sweeps of thousands): per-bar and
    annualised Sharpe (sample std, zero risk-free rate), total return, CAGR, max drawdown and
    Calmar. compute_stats gives the same numbers with the trade-level ones beside them."""
    equity = np.asarray(equity, float)
    returns = equity[1:] / equity[:-1] - 1
    sd = returns.std(ddof=1) if len(returns) > 1 else 0.0
    bar_sharpe = float(returns.mean() / sd) if sd > 0 else 0.0
    total = float(equity[-1] / equity[0] - 1)
    years = len(returns) / bars_per_year if bars_per_year else float("nan")
    cagr = (1 + total) ** (1 / years) - 1 if years > 0 and total > -1 else float("nan")
    max_dd = float((equity / np.maximum.accumulate(equity) - 1).min())
    return {
        "bar_sharpe": bar_sharpe,
        "sharpe": bar_sharpe * float(np.sqrt(bars_per_year)),
        "total_return": total,
        "cagr": float(cagr),
        "max_drawdown": max_dd,
        "calmar": float(cagr / abs(max_dd)) if max_dd < 0 and np.isfinite(cagr) else float("nan"),
    }


def round_trips(transactions: pd.DataFrame) -> pd.DataFrame:
    """Trades from orders: a trade opens when a symbol's position leaves zero and closes when
    it returns to zero (or flips sign, which closes one trade and opens the next).

    Returns symbol, side, entry_ts, entry_price (quantity-weighted), exit_ts, exit_price,
    quantity (largest absolute size, signed), pnl (after costs), costs, open (still held).
    """
    columns = ["symbol", "side", "entry_ts", "entry_price", "exit_ts", "exit_price", "quantity", "pnl", "costs", "open"]
    rows = []
    for symbol, orders in transactions.sort_values("ts", kind="stable").groupby("symbol", sort=True):
        position, trade = 0.0, None
        for ts, q, price, cost in orders[["ts", "quantity", "price", "cost"]].itertuples(index=False):
            remaining = q
            while abs(remaining) > 1e-12:
                if trade is None:
                    trade = {"symbol": symbol, "side": int(np.sign(remaining)), "entry_ts": ts, "cash": 0.0, "costs": 0.0,
                             "bought": 0.0, "bought_value": 0.0, "sold": 0.0, "sold_value": 0.0, "max_size": 0.0}  # fmt: skip
                # the part of this order inside the current trade: all of it, unless it flips
                # the position, in which case first the part that closes the trade
                flips = position != 0 and np.sign(remaining) != np.sign(position) and abs(remaining) > abs(position)
                part = -position if flips else remaining
                share = abs(part / q)
                trade["cash"] -= part * price
                trade["costs"] += cost * share
                key = "bought" if part > 0 else "sold"
                trade[key] += abs(part)
                trade[key + "_value"] += abs(part) * price
                position += part
                remaining -= part
                trade["max_size"] = max(trade["max_size"], abs(position))
                if abs(position) < 1e-9:
                    rows.append(_close(trade, ts, price))
                    position, trade = 0.0, None
        if trade is not None:
            rows.append({**_close(trade, None, None), "open": True})
    trades = pd.DataFrame(rows, columns=columns)
    return trades.astype({"side": "int8", "quantity": float, "pnl": float, "costs": float, "open": bool})


def _close(trade: dict, ts, price) -> dict:
    long = trade["side"] > 0
    entry_value, entry_q = (trade["bought_value"], trade["bought"]) if long else (trade["sold_value"], trade["sold"])
    exit_value, exit_q = (trade["sold_value"], trade["sold"]) if long else (trade["bought_value"], trade["bought"])
    return {
        "symbol": trade["symbol"],
        "side": trade["side"],
        "entry_ts": trade["entry_ts"],
        "entry_price": entry_value / entry_q if entry_q else np.nan,
        "exit_ts": ts,
        "exit_price": exit_value / exit_q if exit_q else np.nan,
        "quantity": trade["side"] * trade["max_size"],
        "pnl": trade["cash"] - trade["costs"] if ts is not None else np.nan,
        "costs": trade["costs"],
        "open": False,
    }


def compute_stats(
    equity: pd.Series,
    transactions: pd.DataFrame,
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    bars_per_year: float,
) -> dict[str, float]:
    """Total return, CAGR, annualised volatility, Sharpe, Sortino, max drawdown, Calmar,
    hit rate, average trade, turnover, exposure and number of trades of one run.

    Sharpe and Sortino take a zero risk-free rate; turnover is traded value over average
    equity, per year; exposure is the average gross position value over equity.
    """
    returns = equity.pct_change().dropna()
    years = len(returns) / bars_per_year if bars_per_year else np.nan
    total = equity.iloc[-1] / equity.iloc[0] - 1
    volatility = returns.std(ddof=1) * np.sqrt(bars_per_year) if len(returns) > 1 else np.nan
    downside = np.sqrt(np.mean(np.minimum(returns.to_numpy(), 0.0) ** 2)) * np.sqrt(bars_per_year) if len(returns) else np.nan
    mean_annual = returns.mean() * bars_per_year if len(returns) else np.nan
    max_dd = drawdown(equity).min()
    cagr = (1 + total) ** (1 / years) - 1 if years and years > 0 and total > -1 else np.nan
    trades = round_trips(transactions)
    closed = trades.loc[~trades["open"]]
    gross = (positions.abs() * prices.reindex(index=positions.index, columns=positions.columns)).sum(axis=1)
    traded = (transactions["quantity"].abs() * transactions["price"]).sum() if len(transactions) else 0.0
    return {
        "total_return": float(total),
        "cagr": float(cagr),
        "annual_volatility": float(volatility),
        "sharpe": float(mean_annual / volatility) if volatility and volatility > 0 else np.nan,
        "sortino": float(mean_annual / downside) if downside and downside > 0 else np.nan,
        "max_drawdown": float(max_dd),
        "calmar": float(cagr / abs(max_dd)) if max_dd < 0 and np.isfinite(cagr) else np.nan,
        "hit_rate": float((closed["pnl"] > 0).mean()) if len(closed) else np.nan,
        "average_trade": float(closed["pnl"].mean()) if len(closed) else np.nan,
        "turnover": float(traded / equity.mean() / years) if years and years > 0 else np.nan,
        "exposure": float((gross / equity).mean()),
        "trades": int(len(closed)),
        "costs": float(transactions["cost"].sum()) if len(transactions) else 0.0,
        "bars": int(len(equity)),
        "bars_per_year": float(bars_per_year),
    }


def excess_figures(equity: pd.Series, benchmark: pd.Series, *, bars_per_year: float) -> dict[str, float]:
    """The strategy against its benchmark the way Qlib's risk_analysis reports it (mode
    "sum"): the per-bar excess return r = strategy return - benchmark return; annualised
    excess return = mean(r) x bars a year (arithmetic, not compounded); information ratio =
    mean(r) / std(r, ddof 1) x sqrt(bars a year); max drawdown of the excess = the lowest
    cumulative sum of r below its running peak (a sum, not a compounded curve)."""
    excess = (equity.pct_change() - benchmark.reindex(equity.index).pct_change()).dropna()
    if len(excess) < 2:
        return {"excess_return": float("nan"), "information_ratio": float("nan"), "excess_max_drawdown": float("nan")}
    cumulative = excess.cumsum()
    sd = excess.std(ddof=1)
    return {
        "excess_return": float(excess.mean() * bars_per_year),
        "information_ratio": float(excess.mean() / sd * np.sqrt(bars_per_year)) if sd > 0 else float("nan"),
        "excess_max_drawdown": float((cumulative - cumulative.cummax()).min()),
    }


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Year x month table of returns (for the heatmap)."""
    index = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([index.year.rename("year"), index.month.rename("month")]).last()
    previous = month_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    returns = (month_end / previous - 1).rename("return").reset_index()
    return returns.pivot(index="year", columns="month", values="return")


# -- statistical honesty (Bailey & Lopez de Prado) ----------------------------------------------------

EULER_GAMMA = 0.5772156649015329


def _moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """Per-bar Sharpe, skewness and (non-excess) kurtosis of the returns, and their count."""
    r = returns[np.isfinite(returns)]
    n = len(r)
    if n < 3 or r.std(ddof=1) == 0:
        return float("nan"), 0.0, 3.0, n
    sd = r.std(ddof=1)
    centred = r - r.mean()
    skew = float(np.mean(centred**3) / r.std(ddof=0) ** 3)
    kurt = float(np.mean(centred**4) / r.std(ddof=0) ** 4)
    return float(r.mean() / sd), skew, kurt, n


def probabilistic_sharpe(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """PSR: the probability that the true per-bar Sharpe exceeds ``benchmark_sharpe``, given
    the sample's length, skewness and kurtosis (Bailey & Lopez de Prado, 2012)."""
    from scipy.stats import norm

    sharpe, skew, kurt, n = _moments(np.asarray(returns, float))
    if not np.isfinite(sharpe):
        return float("nan")
    spread = np.sqrt(max(1 - skew * sharpe + (kurt - 1) / 4 * sharpe**2, 1e-12))
    return float(norm.cdf((sharpe - benchmark_sharpe) * np.sqrt(n - 1) / spread))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The Sharpe the best of ``n_trials`` skill-less configurations reaches by luck."""
    from scipy.stats import norm

    if n_trials <= 1 or not sharpe_variance > 0:
        return 0.0
    return float(np.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials)
                                              + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * np.e))))  # fmt: skip


def deflated_sharpe(returns: np.ndarray, n_trials: int, sharpe_variance: float) -> float:
    """DSR: PSR against the Sharpe the best of n_trials luck-only tries would show
    (Bailey & Lopez de Prado, 2014). sharpe_variance: variance of the per-bar Sharpe
    across the configurations tried; with one trial the DSR is the PSR against 0."""
    return probabilistic_sharpe(returns, expected_max_sharpe(n_trials, sharpe_variance))


def sharpe_bootstrap_ci(
    returns: np.ndarray, bars_per_year: float, *, resamples: int = 1000, block: int = 20, level: float = 0.95, seed: int = 7
) -> tuple[float, float]:
    """Confidence interval of the annualised Sharpe from a moving-block bootstrap (blocks keep
    the returns' short-range dependence)."""
    r = np.asarray(returns, float)
    r = r[np.isfinite(r)]
    n = len(r)
    if n < 2 * block:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    starts = rng.integers(0, n - block + 1, size=(resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(resamples, -1)[:, :n]
    samples = r[idx]
    sd = samples.std(axis=1, ddof=1)
    sharpes = np.where(sd > 0, samples.mean(axis=1) / np.where(sd > 0, sd, 1), 0.0) * np.sqrt(bars_per_year)
    lo, hi = np.quantile(sharpes, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def honesty(returns: np.ndarray, bars_per_year: float, *, n_trials: int = 1, sharpe_variance: float = 0.0) -> dict:
    """PSR, DSR and a bootstrap CI of the Sharpe for one run's bar returns."""
    lo, hi = sharpe_bootstrap_ci(returns, bars_per_year)
    return {
        "psr": probabilistic_sharpe(returns),
        "dsr": deflated_sharpe(returns, n_trials, sharpe_variance),
        "n_trials": int(n_trials),
        "sharpe_ci_low": lo,
        "sharpe_ci_high": hi,
    }
