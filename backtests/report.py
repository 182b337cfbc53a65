"""The backtest report: one self-contained HTML file (plotly.js inlined once, no network).

Equity against the benchmark, drawdown, one symbol's price with the strategy's entries and
exits, monthly returns, the stats of both beside bt's own daily figures, and the model's
feature importance.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.stats import drawdown, monthly_returns

STAT_LABELS = {
    "total_return": ("total return", "{:.2%}"),
    "cagr": ("CAGR", "{:.2%}"),
    "annual_volatility": ("annual volatility", "{:.2%}"),
    "sharpe": ("Sharpe", "{:.2f}"),
    "sortino": ("Sortino", "{:.2f}"),
    "max_drawdown": ("max drawdown", "{:.2%}"),
    "calmar": ("Calmar", "{:.2f}"),
    "hit_rate": ("hit rate", "{:.1%}"),
    "average_trade": ("average trade (USD)", "{:,.2f}"),
    "turnover": ("turnover (per year)", "{:.1f}x"),
    "exposure": ("exposure (gross)", "{:.1%}"),
    "trades": ("trades", "{:,}"),
    "costs": ("costs (USD)", "{:,.2f}"),
    "bars_per_year": ("bars a year", "{:,.0f}"),
    "psr": ("probabilistic Sharpe (PSR)", "{:.1%}"),
    "dsr": ("deflated Sharpe (DSR)", "{:.1%}"),
    "n_trials": ("configurations tried (DSR's N)", "{:,}"),
    "selected_from": ("chosen among (on validation)", "{:,}"),
    "sharpe_ci_low": ("Sharpe 95% CI, low", "{:.2f}"),
    "sharpe_ci_high": ("Sharpe 95% CI, high", "{:.2f}"),
}


def format_stat(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return pattern.format(value)


def stats_table(stats: dict, benchmark: dict, daily: dict, in_sample: dict | None = None) -> str:
    """Out-of-sample strategy, buy & hold, and the in-sample (validation window) run side by side."""
    extra = in_sample["stats"] if in_sample else None
    rows = "".join(
        f"<tr><td>{label}</td><td>{format_stat(stats.get(k), p)}</td><td>{format_stat(benchmark.get(k), p)}</td>"
        + (f"<td>{format_stat(extra.get(k), p)}</td>" if extra else "") + "</tr>"
        for k, (label, p) in STAT_LABELS.items()
    )
    pad = "<td></td>" * (2 if extra else 1)
    daily_rows = "".join(f"<tr><td>bt {html.escape(k)}</td><td>{format_stat(v, '{:.4f}')}</td>{pad}</tr>" for k, v in daily.items())
    head = "<th>strategy (out of sample)</th><th>benchmark (equal weight)</th>"
    if extra:
        head += f"<th>strategy in sample ({' .. '.join(in_sample['window'])}, validation)</th>"
    return f"<table class='stats'><thead><tr><th></th>{head}</tr></thead><tbody>{rows}{daily_rows}</tbody></table>"


def build_report(
    path: Path,
    *,
    title: str,
    subtitle: str,
    equity: pd.Series,
    benchmark: pd.Series,
    prices: pd.DataFrame,
    trades: pd.DataFrame,
    stats: dict,
    benchmark_stats: dict,
    daily_stats: dict,
    importance: pd.DataFrame | None,
    in_sample: dict | None = None,
    symbol: str | None = None,
) -> Path:
    """Write the report to ``path`` and return it."""
    import plotly.graph_objects as go
    import plotly.io as pio

    figures = []
    intraday = len(equity) > 1 and (equity.index[1:] - equity.index[:-1]).min() < pd.Timedelta(hours=12)
    # intraday: leave out nights and weekends instead of drawing flat lines across them
    # (UTC 21:00-13:00 is outside US regular hours in summer and winter time)
    breaks = [{"bounds": ["sat", "mon"]}, {"bounds": [21, 13], "pattern": "hour"}] if intraday else [{"bounds": ["sat", "mon"]}]

    curve = go.Figure()
    curve.add_scatter(x=equity.index, y=equity.values, name="strategy")
    curve.add_scatter(x=benchmark.index, y=benchmark.values, name="buy & hold")
    curve.update_layout(title="Equity (USD)", height=380)
    figures.append(("equity", curve))

    dd = go.Figure()
    dd.add_scatter(x=equity.index, y=drawdown(equity).values * 100, fill="tozeroy", name="strategy")
    dd.add_scatter(x=benchmark.index, y=drawdown(benchmark).values * 100, name="buy & hold")
    dd.update_layout(title="Drawdown (%)", height=300)
    figures.append(("drawdown", dd))

    if symbol is None and len(trades):
        symbol = trades["symbol"].value_counts().index[0]
    symbol = symbol or prices.columns[0]
    chart = go.Figure()
    chart.add_scatter(x=prices.index, y=prices[symbol].values, name=f"{symbol} fill price", line={"color": "#888"})
    mine = trades[trades["symbol"] == symbol]
    chart.add_scatter(x=mine["entry_ts"], y=mine["entry_price"], mode="markers", name="entry",
                      marker={"symbol": "triangle-up", "size": 9, "color": "green"})  # fmt: skip
    closed = mine.loc[~mine["open"]]
    chart.add_scatter(x=closed["exit_ts"], y=closed["exit_price"], mode="markers", name="exit",
                      marker={"symbol": "triangle-down", "size": 9, "color": "red"})  # fmt: skip
    chart.update_layout(title=f"{symbol}: entries and exits ({len(mine)} trades)", height=380)
    figures.append(("trades", chart))

    months = monthly_returns(equity)
    heat = go.Figure(
        go.Heatmap(
            z=months.values * 100, x=[f"{m:02d}" for m in months.columns], y=[str(y) for y in months.index],
            colorscale="RdYlGn", zmid=0, text=np.round(months.values * 100, 2), texttemplate="%{text}%",
        )
    )  # fmt: skip
    heat.update_layout(title="Monthly returns (%)", height=max(260, 120 + 50 * len(months)))
    figures.append(("monthly", heat))

    if importance is not None and len(importance):
        top = importance.head(20).iloc[::-1]
        bars = go.Figure(go.Bar(x=top["gain"], y=top["feature"], orientation="h"))
        bars.update_layout(title="Model feature importance (gain, top 20)", height=520)
        figures.append(("importance", bars))

    for name, figure in figures:
        if name in ("equity", "drawdown", "trades"):
            figure.update_xaxes(rangebreaks=breaks)
    parts = []
    for i, (name, figure) in enumerate(figures):
        parts.append(
            f"<div class='chart' id='{name}'>"
            + pio.to_html(figure, full_html=False, include_plotlyjs="inline" if i == 0 else False, config={"displaylogo": False})
            + "</div>"
        )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
table.stats {{ border-collapse: collapse; margin: 1em 0; }}
table.stats td, table.stats th {{ padding: 0.25em 0.9em; border-bottom: 1px solid #ddd; text-align: right; }}
table.stats td:first-child {{ text-align: left; }}
.sub {{ color: #666; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(subtitle)}</p>
{stats_table(stats, benchmark_stats, daily_stats, in_sample)}
<p class="sub">PSR: probability that the true Sharpe is above 0. DSR: the same against the Sharpe the best of
the configurations tried would reach by luck alone. The CI is a moving-block bootstrap of the bar returns.</p>
{"".join(parts)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
