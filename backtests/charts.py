"""The tear sheet's charts, shared by the HTML report and the dashboard: figures of
``backtests.tearsheet`` in, plotly figures out (no I/O). Long series are downsampled for
plotting only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backtests import tearsheet as ts

MAX_POINTS = 1500  # per plotted series; the figures themselves use every bar


def points(series: pd.Series, max_points: int = MAX_POINTS) -> pd.Series:
    """The series as plotted: downsampled past ``max_points``, keeping its peaks and troughs."""
    return ts.downsample(series.rename("v").to_frame(), max_points, "v")["v"]


def rolling(returns: pd.Series, bars_per_year: float) -> go.Figure:
    """Rolling Sharpe over rolling volatility, one month of bars each."""
    window = ts.rolling_window(bars_per_year)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=(f"rolling Sharpe ({window} bars, about a month)", "rolling volatility (annualised, %)"))  # fmt: skip
    sharpe = points(ts.rolling_sharpe(returns, window, bars_per_year).dropna())
    vol = points(ts.rolling_volatility(returns, window, bars_per_year).dropna() * 100)
    figure.add_scatter(x=sharpe.index, y=sharpe.values, name="rolling Sharpe", row=1, col=1)
    figure.add_scatter(x=vol.index, y=vol.values, name="rolling volatility", row=2, col=1)
    figure.update_xaxes(rangebreaks=ts.time_breaks(returns.index))
    figure.update_layout(height=460, showlegend=False, margin={"t": 50, "b": 20})
    return figure


def activity(daily: pd.DataFrame) -> go.Figure:
    """Per session: mean gross exposure over turnover (``tearsheet.exposure_and_turnover``)."""
    sessions = pd.to_datetime(pd.Series([str(d) for d in daily.index]))
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=("gross exposure (mean over the session, % of equity)",
                                           "turnover (value traded / equity, per session)"))  # fmt: skip
    figure.add_scatter(x=sessions, y=daily["exposure"].to_numpy() * 100, name="exposure", fill="tozeroy", row=1, col=1)
    figure.add_bar(x=sessions, y=daily["turnover"].to_numpy(), name="turnover", row=2, col=1)
    figure.update_xaxes(rangebreaks=ts.time_breaks(sessions))
    figure.update_layout(height=460, showlegend=False, margin={"t": 50, "b": 20})
    return figure


def distribution(returns: pd.Series) -> go.Figure:
    """Histogram of the bar returns, its moments in the title and the 5% VaR marked."""
    dist = ts.return_distribution(returns)
    centres = (dist["edges"][:-1] + dist["edges"][1:]) / 2 * 100
    figure = go.Figure(go.Bar(x=centres, y=dist["counts"], name="bars", width=np.diff(dist["edges"]) * 100))
    if np.isfinite(dist["var_5"]):
        figure.add_vline(x=dist["var_5"] * 100, line_dash="dot", annotation_text="5% VaR")
    figure.update_layout(
        title=(f"Bar returns (%): mean {dist['mean']:.3%}, sd {dist['std']:.3%}, skew {dist['skew']:.2f}, "
               f"excess kurtosis {dist['kurtosis']:.1f}, 5% VaR {dist['var_5']:.3%}, CVaR {dist['cvar_5']:.3%}"),
        height=340, bargap=0, margin={"t": 50, "b": 20},
    )  # fmt: skip
    return figure


def symbol_pnl(by_symbol: pd.DataFrame) -> go.Figure:
    """Bars of each symbol's closed-trade P&L (``tearsheet.pnl_by_symbol``)."""
    figure = go.Figure(go.Bar(x=by_symbol["symbol"], y=by_symbol["pnl"], text=[f"{n} trades" for n in by_symbol["trades"]],
                              marker_color=np.where(by_symbol["pnl"] >= 0, "#2a9d5b", "#c0392b")))  # fmt: skip
    figure.update_layout(title="P&L by symbol (closed trades, after costs, USD)", height=340, margin={"t": 50, "b": 20})
    return figure
