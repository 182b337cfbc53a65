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


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Year x month table of returns (for the heatmap)."""
    month_end = equity.groupby([equity.index.year, equity.index.month]).last()
    first = equity.iloc[0]
    previous = month_end.shift(1)
    previous.iloc[0] = first
    table = (month_end / previous - 1).rename("return").reset_index()
    table.columns = ["year", "month", "return"]
    return table.pivot(index="year", columns="month", values="return")
