"""The tear sheet's figures: pure functions of an equity curve, its trades and fill prices
(no engine, no I/O, no plotting), shared by the HTML report and the dashboard.

Everything is per bar and annualised with the bars a year the calendar really has, as in
``backtests.stats``. The rolling figures, the drawdown table and the distribution moments
are checked against quantstats in tests/test_tearsheet.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alphaduck.settings import DEFAULT_TZ
from backtests.stats import drawdown

TRADE_COLUMNS = ["symbol", "side", "entry_ts", "entry_price", "exit_ts", "exit_price", "quantity", "pnl", "costs", "open"]


def bar_returns(equity: pd.Series) -> pd.Series:
    """Simple returns from one bar to the next (the first bar has none)."""
    return equity.pct_change().iloc[1:]


def rolling_window(bars_per_year: float) -> int:
    """One month of bars (at least 5): the window of the rolling figures."""
    return max(int(bars_per_year / 12), 5)


def rolling_sharpe(returns: pd.Series, window: int, bars_per_year: float) -> pd.Series:
    """Annualised Sharpe of the last ``window`` bars (zero risk-free rate); NaN until the
    window is full or where the returns do not vary."""
    mean = returns.rolling(window).mean()
    sd = returns.rolling(window).std(ddof=1)
    return (mean / sd.where(sd > 0)) * np.sqrt(bars_per_year)


def rolling_volatility(returns: pd.Series, window: int, bars_per_year: float) -> pd.Series:
    """Annualised standard deviation of the last ``window`` bars' returns."""
    return returns.rolling(window).std(ddof=1) * np.sqrt(bars_per_year)


def worst_drawdowns(equity: pd.Series, top: int = 5) -> pd.DataFrame:
    """The ``top`` deepest drawdowns: one row per spell below a running peak.

    Columns: start (first bar below the peak), trough (the lowest bar), end (the bar that
    regains the peak: the recovery; NaT while still under water), depth (trough / peak - 1,
    negative), length (bars under water), recovered.
    """
    dd = drawdown(equity)
    under = dd.to_numpy() < 0
    columns = ["start", "trough", "end", "depth", "length", "recovered"]
    if not under.any():
        return pd.DataFrame(columns=columns)
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # stop: first bar back at the peak
    rows = []
    for start, stop in zip(starts, stops, strict=True):
        spell = dd.iloc[start:stop]
        recovered = stop < len(dd)
        rows.append({
            "start": dd.index[start], "trough": spell.idxmin(), "end": dd.index[stop] if recovered else pd.NaT,
            "depth": float(spell.min()), "length": int(stop - start), "recovered": recovered,
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("depth", kind="stable").head(top).reset_index(drop=True)


def return_distribution(returns: pd.Series, bins: int = 60) -> dict:
    """Histogram of the bar returns and their moments: mean, standard deviation, skewness,
    excess kurtosis (pandas' sample estimators), the 5% quantile (historical VaR) and the
    mean of the returns at or below it (CVaR)."""
    r = returns.dropna()
    counts, edges = np.histogram(r.to_numpy(), bins=bins) if len(r) else (np.array([], int), np.array([0.0]))
    var = float(r.quantile(0.05)) if len(r) else np.nan
    return {
        "counts": counts, "edges": edges, "mean": float(r.mean()), "std": float(r.std(ddof=1)),
        "skew": float(r.skew()), "kurtosis": float(r.kurt()), "var_5": var,
        "cvar_5": float(r[r <= var].mean()) if len(r) else np.nan,
    }  # fmt: skip


def _session_dates(index: pd.Index, tz: str = DEFAULT_TZ) -> pd.Index:
    stamps = pd.DatetimeIndex(index)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps
    return pd.Index(stamps.tz_convert(tz).date, name="session")


def exposure_from_trades(trades: pd.DataFrame, prices: pd.DataFrame, equity: pd.Series) -> pd.Series:
    """Gross exposure at each bar (value of the positions held after the bar's trades over
    equity) rebuilt from round trips: a trade holds |quantity| shares from its entry bar up
    to, not including, its exit bar (the whole run for one still open)."""
    held = pd.DataFrame(0.0, index=prices.index, columns=prices.columns)
    position = np.arange(len(prices.index))
    for trade in trades.itertuples(index=False):
        first = prices.index.searchsorted(trade.entry_ts)
        last = prices.index.searchsorted(trade.exit_ts) if pd.notna(trade.exit_ts) else len(prices.index)
        held.loc[(position >= first) & (position < last), trade.symbol] += abs(trade.quantity)
    gross = (held * prices).sum(axis=1)
    return (gross / equity.reindex(prices.index)).rename("gross_exposure")


def exposure_and_turnover(gross_exposure: pd.Series, trades: pd.DataFrame, equity: pd.Series, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """Per session: the mean gross exposure over its bars, and its turnover, the value traded
    that session (each trade's entry and exit: |quantity| x fill price) over its mean equity."""
    sessions = _session_dates(gross_exposure.index, tz)
    exposure = gross_exposure.groupby(sessions).mean()
    mean_equity = equity.groupby(_session_dates(equity.index, tz)).mean()
    legs = pd.concat([
        pd.DataFrame({"ts": trades["entry_ts"], "value": (trades["quantity"].abs() * trades["entry_price"])}),
        pd.DataFrame({"ts": trades["exit_ts"], "value": (trades["quantity"].abs() * trades["exit_price"])}),
    ]).dropna()  # fmt: skip
    traded = legs["value"].groupby(_session_dates(legs["ts"], tz)).sum() if len(legs) else pd.Series(dtype=float)
    turnover = (traded.reindex(mean_equity.index, fill_value=0.0) / mean_equity).rename("turnover")
    return pd.concat([exposure.rename("exposure"), turnover], axis=1).fillna({"turnover": 0.0})


def pnl_by_symbol(trades: pd.DataFrame) -> pd.DataFrame:
    """Per symbol, over its closed trades: count, P&L after costs, costs, hit rate, average
    trade; best first."""
    closed = trades.loc[~trades["open"].astype(bool)]
    grouped = closed.groupby("symbol")
    table = pd.DataFrame({
        "trades": grouped.size(), "pnl": grouped["pnl"].sum(), "costs": grouped["costs"].sum(),
        "hit_rate": grouped["pnl"].apply(lambda p: float((p > 0).mean())), "average_trade": grouped["pnl"].mean(),
    })  # fmt: skip
    return table.sort_values("pnl", ascending=False).reset_index()


def trade_list(trades: pd.DataFrame) -> pd.DataFrame:
    """The trades, newest first, with each one's return on the capital it used
    (pnl / (|quantity| x entry price))."""
    listed = trades[TRADE_COLUMNS].copy()
    listed["return"] = listed["pnl"] / (listed["quantity"].abs() * listed["entry_price"])
    return listed.sort_values("entry_ts", ascending=False, kind="stable").reset_index(drop=True)


def downsample(frame: pd.DataFrame, max_points: int, column: str) -> pd.DataFrame:
    """At most ~``max_points`` rows of ``frame`` for a chart (never for a figure): each bucket
    of consecutive rows keeps its first and last row and the rows where ``column`` is lowest
    and highest, so peaks and troughs survive."""
    if len(frame) <= max_points:
        return frame
    size = int(np.ceil(len(frame) / (max_points / 4)))
    bucket = np.arange(len(frame)) // size
    values = frame[column].to_numpy(float)
    keep = np.zeros(len(frame), bool)
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], bucket])))
    ends = np.concatenate([starts[1:], [len(frame)]]) - 1
    keep[starts] = keep[ends] = True
    for lo, hi in zip(starts, ends + 1, strict=True):
        chunk = values[lo:hi]
        if np.isfinite(chunk).any():
            keep[lo + np.nanargmin(chunk)] = keep[lo + np.nanargmax(chunk)] = True
    return frame.iloc[np.flatnonzero(keep)]


def time_breaks(index) -> list[dict]:
    """Plotly rangebreaks that leave out what has no bars: weekends, and for intraday bars the
    hours between sessions and the weekdays without a session (holidays)."""
    stamps = pd.DatetimeIndex(index)
    if len(stamps) < 2:
        return []
    stamps = stamps.tz_convert("UTC") if stamps.tz is not None else stamps
    breaks: list[dict] = [{"bounds": ["sat", "mon"]}]
    spacing = pd.Series(stamps[1:] - stamps[:-1]).median()
    days = pd.DatetimeIndex(stamps.normalize().unique())
    weekdays = pd.bdate_range(days.min(), days.max(), tz=days.tz)
    holidays = weekdays.difference(days)
    if spacing < pd.Timedelta(hours=12):
        hours = stamps.hour + stamps.minute / 60
        # the bar after the last one of a session ends at last + spacing (UTC, both DST offsets)
        breaks.append({"bounds": [float(hours.max() + spacing / pd.Timedelta(hours=1)), float(hours.min())], "pattern": "hour"})
    if len(holidays):
        breaks.append({"values": [d.strftime("%Y-%m-%d") for d in holidays], "dvalue": 86_400_000})
    return breaks
