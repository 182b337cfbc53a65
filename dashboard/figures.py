"""Plotly figures for the dashboard: DataFrame in, figure out (no queries, no Dash)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backtests.tearsheet import time_breaks

OVERLAYS = {"sma": "SMA", "ema": "EMA", "bollinger": "Bollinger bands", "vwap_session": "session VWAP"}
PANELS = {"rsi": "RSI", "macd": "MACD", "atr": "ATR", "volume": "volume"}


def empty(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, font={"size": 14})
    figure.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=260)
    return figure


def _breaks(index) -> list[dict]:
    return time_breaks(index)


def performance(curve: pd.DataFrame) -> go.Figure:
    """Equity against buy-and-hold, drawdown, and the rolling Sharpe, stacked on one time axis."""
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.25, 0.25], vertical_spacing=0.04,
                           subplot_titles=("equity (USD)", "drawdown (%)", "rolling Sharpe (one month of bars)"))  # fmt: skip
    figure.add_scatter(x=curve["ts"], y=curve["equity"], name="strategy", row=1, col=1)
    figure.add_scatter(x=curve["ts"], y=curve["benchmark"], name="buy & hold", row=1, col=1)
    figure.add_scatter(x=curve["ts"], y=curve["drawdown"] * 100, name="drawdown", fill="tozeroy", row=2, col=1)
    figure.add_scatter(x=curve["ts"], y=curve["rolling_sharpe"], name="rolling Sharpe", row=3, col=1)
    figure.update_xaxes(rangebreaks=_breaks(curve["ts"]))
    figure.update_layout(height=640, margin={"t": 40, "b": 20}, legend={"orientation": "h"})
    return figure


def monthly(returns: pd.DataFrame) -> go.Figure:
    table = returns.pivot(index="year", columns="month", values="monthly_return") * 100
    figure = go.Figure(go.Heatmap(
        z=table.values, x=[f"{m:02d}" for m in table.columns], y=[str(y) for y in table.index], colorscale="RdYlGn",
        zmid=0, text=np.round(table.values, 2), texttemplate="%{text}%",
    ))  # fmt: skip
    figure.update_layout(title="monthly returns (%)", height=max(220, 120 + 45 * len(table)), margin={"t": 40, "b": 20})
    return figure


def symbol_chart(bars: pd.DataFrame, trades: pd.DataFrame, symbol: str, overlays: list[str], panels: list[str]) -> go.Figure:
    """Candlesticks with the chosen overlays and entries/exits, then one panel per indicator."""
    rows = 1 + len(panels)
    heights = [0.55] + [0.45 / max(len(panels), 1)] * len(panels) if panels else [1.0]
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.03,
                           subplot_titles=[symbol] + [PANELS[p] for p in panels])  # fmt: skip
    figure.add_candlestick(x=bars["ts"], open=bars["open"], high=bars["high"], low=bars["low"], close=bars["close"],
                           name=symbol, row=1, col=1)  # fmt: skip
    for overlay in overlays:
        if overlay == "bollinger":
            for column in ("bb_upper", "bb_lower"):
                figure.add_scatter(x=bars["ts"], y=bars[column], name=column, line={"width": 1, "dash": "dot"}, row=1, col=1)
        else:
            figure.add_scatter(x=bars["ts"], y=bars[overlay], name=OVERLAYS[overlay], line={"width": 1}, row=1, col=1)
    if len(trades):
        figure.add_scatter(x=trades["entry_ts"], y=trades["entry_price"], mode="markers", name="entry",
                           marker={"symbol": "triangle-up", "size": 10, "color": "green"}, row=1, col=1)  # fmt: skip
        closed = trades.dropna(subset=["exit_ts"])
        figure.add_scatter(x=closed["exit_ts"], y=closed["exit_price"], mode="markers", name="exit",
                           marker={"symbol": "triangle-down", "size": 10, "color": "red"}, row=1, col=1)  # fmt: skip
    for i, panel in enumerate(panels, start=2):
        if panel == "macd":
            figure.add_bar(x=bars["ts"], y=bars["macd_hist"], name="MACD histogram", row=i, col=1)
            figure.add_scatter(x=bars["ts"], y=bars["macd"], name="MACD", row=i, col=1)
            figure.add_scatter(x=bars["ts"], y=bars["macd_signal"], name="signal", row=i, col=1)
        elif panel == "volume":
            figure.add_bar(x=bars["ts"], y=bars["volume"], name="volume", row=i, col=1)
        else:
            figure.add_scatter(x=bars["ts"], y=bars[panel], name=PANELS[panel], row=i, col=1)
    figure.update_xaxes(rangebreaks=_breaks(bars["ts"]), rangeslider_visible=False)
    figure.update_layout(height=420 + 170 * len(panels), margin={"t": 40, "b": 20}, legend={"orientation": "h"})
    return figure


def importance(frame: pd.DataFrame) -> go.Figure:
    top = frame.iloc[::-1]
    figure = go.Figure(go.Bar(x=top["gain"], y=top["feature"], orientation="h", name="gain"))
    figure.update_layout(title="feature importance (gain, top 25)", height=620, margin={"t": 40, "b": 20})
    return figure


def calibration(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"dash": "dot", "color": "#999"})
    figure.add_scatter(x=frame["predicted"], y=frame["realised"], mode="lines+markers", name="model",
                       text=[f"{n:,} bars" for n in frame["n"]])  # fmt: skip
    lo = float(min(frame["predicted"].min(), frame["realised"].min())) - 0.02
    hi = float(max(frame["predicted"].max(), frame["realised"].max())) + 0.02
    figure.update_layout(title="calibration: predicted probability vs realised share of up moves", height=380,
                         xaxis={"title": "predicted (bucket mean)", "range": [lo, hi]},
                         yaxis={"title": "realised", "range": [lo, hi]}, margin={"t": 40, "b": 20})  # fmt: skip
    return figure


def hit_rate(frame: pd.DataFrame, by: str) -> go.Figure:
    figure = go.Figure(go.Bar(x=frame["key"].astype(str), y=frame["hit_rate"], text=[f"{n:,}" for n in frame["n"]],
                              name="hit rate"))  # fmt: skip
    figure.add_hline(y=0.5, line_dash="dot")
    figure.update_layout(title=f"hit rate by {by.replace('_', ' ')}", height=320, margin={"t": 40, "b": 20},
                         yaxis={"range": [max(0.0, float(frame["hit_rate"].min()) - 0.05), min(1.0, float(frame["hit_rate"].max()) + 0.05)]})  # fmt: skip
    return figure


def bars_per_session(frame: pd.DataFrame) -> go.Figure:
    table = frame.pivot_table(index="symbol", columns="session_date", values="bars", aggfunc="sum")
    figure = go.Figure(go.Heatmap(z=table.values, x=[str(d) for d in table.columns], y=list(table.index),
                                  colorscale="Blues", colorbar={"title": "bars"}))  # fmt: skip
    figure.update_layout(title="bars per symbol and session (last 40 sessions)", height=160 + 18 * len(table),
                         margin={"t": 40, "b": 20}, xaxis={"type": "category"})  # fmt: skip
    return figure


def signal_ic(ic: pd.DataFrame, by_year: pd.DataFrame) -> go.Figure:
    """Rank IC per date (its 20-date mean) for each horizon, and the mean per year."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, subplot_titles=("rank IC, 20-date mean", "rank IC by year"), vertical_spacing=0.15)
    for horizon, rows in ic.groupby("horizon"):
        figure.add_scatter(x=rows["ts"], y=rows["rank_ic"].rolling(20, min_periods=5).mean(), name=f"{horizon} bars", row=1, col=1)
    for horizon, rows in by_year.groupby("horizon"):
        figure.add_bar(x=rows["year"].astype(str), y=rows["rank_ic"], name=f"{horizon} bars (year)", row=2, col=1)
    figure.update_layout(height=560, margin=dict(t=40, b=30))
    return figure


def signal_quantiles(quantiles: pd.DataFrame) -> go.Figure:
    """Mean forward return (demeaned) of each score quintile, per horizon."""
    figure = go.Figure()
    for horizon, rows in quantiles.groupby("horizon"):
        figure.add_bar(x=rows["quantile"].astype(str), y=rows["mean_return"] * 1e4, name=f"{horizon} bars")
    figure.update_layout(title="mean forward return by score quintile (bp, demeaned)", height=360, margin=dict(t=40, b=30))
    return figure
