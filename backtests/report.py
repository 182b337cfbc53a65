"""The backtest report: one self-contained HTML tear sheet (plotly.js inlined once, no network).

Equity against the benchmark first, then the stats, drawdowns (chart and the worst ones),
rolling Sharpe and volatility, exposure and turnover per session, the return distribution,
P&L by symbol, one symbol's entries and exits, monthly returns, the trade list and the
model's feature importance. The figures come from ``backtests.tearsheet`` (pure, tested
against quantstats); long series are downsampled for plotting only. plotly.js is the
"cartesian" build of the version plotly.py targets (vendored in backtests/static/, gzipped),
inlined base64 and unpacked by the browser (DecompressionStream), which keeps the file
under 2 MB.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from backtests import tearsheet as ts
from backtests.stats import drawdown, monthly_returns

PLOTLY_BUNDLE = Path(__file__).parent / "static" / "plotly-cartesian-4.1.1.min.js.gz"
MAX_TRADES_LISTED = 500
WORST_DRAWDOWNS = 5

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
    "excess_return": ("excess return vs benchmark, annualised (mean x bars a year)", "{:.2%}"),
    "information_ratio": ("information ratio (mean / std x sqrt(bars a year))", "{:.2f}"),
    "excess_max_drawdown": ("max drawdown of the summed excess return", "{:.2%}"),
    "psr": ("probabilistic Sharpe (PSR)", "{:.1%}"),
    "dsr": ("deflated Sharpe (DSR)", "{:.1%}"),
    "n_trials": ("trials counted on this window (DSR's N)", "{:,}"),
    "trials_counted": ("  of which", "{}"),
    "selected_from": ("chosen among (on validation)", "{:,}"),
    "pbo": ("probability of backtest overfitting (of that choice)", "{:.1%}"),
    "spa_p": ("Hansen's SPA p-value (best of the sweep vs cash)", "{:.3f}"),
    "reality_check_p": ("White's Reality Check p-value", "{:.3f}"),
    "min_backtest_years": ("minimum backtest length for that Sharpe (years)", "{:.1f}"),
    "selection_years": ("  the window it was chosen on (years)", "{:.1f}"),
    "min_track_record_years": ("minimum track record for this Sharpe (years)", "{:.1f}"),
    "cpcv_paths": ("CPCV out-of-sample paths of the search window", "{:d}"),
    "cpcv_groups": ("CPCV groups (N) and test groups per split (k)", "{}"),
    "cpcv_sharpe_median": ("Sharpe on those paths, median", "{:.2f}"),
    "cpcv_sharpe_min": ("Sharpe on those paths, worst", "{:.2f}"),
    "cpcv_sharpe_max": ("Sharpe on those paths, best", "{:.2f}"),
    "cpcv_share_positive": ("share of paths with a positive Sharpe", "{:.0%}"),
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
        # a figure no column has (CPCV paths of a model without them, a sweep's statistics
        # of a hand-picked configuration) is left out, not shown as a row of dashes
        if any(k in column for column in (stats, benchmark, extra or {}))
    )
    pad = "<td></td>" * (2 if extra else 1)
    daily_rows = "".join(f"<tr><td>bt {html.escape(k)}</td><td>{format_stat(v, '{:.4f}')}</td>{pad}</tr>" for k, v in daily.items())
    head = "<th>strategy (out of sample)</th><th>benchmark (equal weight)</th>"
    if extra:
        head += f"<th>strategy in sample ({' .. '.join(in_sample['window'])}, validation)</th>"
    return f"<table class='stats'><thead><tr><th></th>{head}</tr></thead><tbody>{rows}{daily_rows}</tbody></table>"


def _table(frame: pd.DataFrame, formats: dict[str, str], css: str) -> str:
    """An HTML table of ``frame`` with each column formatted by ``formats`` (name -> pattern)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in formats)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row[c], p))}</td>" for c, p in formats.items()) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value, pattern: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        return value.strftime(pattern)
    return pattern.format(value)


def _figures(equity, benchmark, prices, trades, stats, importance, symbol) -> dict:
    """name -> (plotly figure, caption) in page order (after the equity come the tables)."""
    import plotly.graph_objects as go

    from backtests import charts

    per_year = float(stats.get("bars_per_year") or 252)
    returns = ts.bar_returns(equity)
    breaks = ts.time_breaks(equity.index)
    figures = {}

    curve = go.Figure()
    for name, series in (("strategy", equity), ("buy & hold", benchmark)):
        shown = charts.points(series)
        curve.add_scatter(x=shown.index, y=shown.values, name=name)
    curve.update_layout(title="Equity (USD)", height=380)
    figures["equity"] = curve

    dd = go.Figure()
    for name, series, fill in (("strategy", equity, "tozeroy"), ("buy & hold", benchmark, None)):
        shown = charts.points(drawdown(series) * 100)
        dd.add_scatter(x=shown.index, y=shown.values, name=name, fill=fill)
    dd.update_layout(title="Drawdown (%)", height=300)
    figures["drawdown"] = dd

    figures["rolling"] = charts.rolling(returns, per_year)
    figures["exposure"] = charts.activity(ts.exposure_and_turnover(ts.exposure_from_trades(trades, prices, equity), trades, equity))
    figures["distribution"] = charts.distribution(returns)
    figures["symbols"] = charts.symbol_pnl(ts.pnl_by_symbol(trades))

    if symbol is None and len(trades):
        symbol = trades["symbol"].value_counts().index[0]
    symbol = symbol or prices.columns[0]
    chart = go.Figure()
    price = charts.points(prices[symbol])
    chart.add_scatter(x=price.index, y=price.values, name=f"{symbol} fill price", line={"color": "#888"})
    mine = trades[trades["symbol"] == symbol]
    chart.add_scatter(x=mine["entry_ts"], y=mine["entry_price"], mode="markers", name="entry",
                      marker={"symbol": "triangle-up", "size": 9, "color": "green"})  # fmt: skip
    closed = mine.loc[~mine["open"]]
    chart.add_scatter(x=closed["exit_ts"], y=closed["exit_price"], mode="markers", name="exit",
                      marker={"symbol": "triangle-down", "size": 9, "color": "red"})  # fmt: skip
    chart.update_layout(title=f"{symbol}: entries and exits ({len(mine)} trades)", height=380)
    figures["trades"] = chart

    months = monthly_returns(equity)
    heat = go.Figure(
        go.Heatmap(
            z=months.values * 100, x=[f"{m:02d}" for m in months.columns], y=[str(y) for y in months.index],
            colorscale="RdYlGn", zmid=0, text=np.round(months.values * 100, 2), texttemplate="%{text}%",
        )
    )  # fmt: skip
    heat.update_layout(title="Monthly returns (%)", height=max(260, 120 + 50 * len(months)))
    figures["monthly"] = heat

    if importance is not None and len(importance):
        top = importance.head(20).iloc[::-1]
        bars = go.Figure(go.Bar(x=top["gain"], y=top["feature"], orientation="h"))
        bars.update_layout(title="Model feature importance (gain, top 20)", height=520)
        figures["importance"] = bars

    for name in ("equity", "drawdown", "trades"):
        figures[name].update_xaxes(rangebreaks=breaks)
    return figures


def _figure_div(name: str, figure) -> str:
    import plotly.io as pio

    spec = pio.to_json(figure, validate=False).replace("</", "<\\/")
    return (f"<div class='chart' id='{name}'><div class='plot' id='{name}-plot'></div>"
            f"<script type='application/json' class='figure' data-target='{name}-plot'>{spec}</script></div>")  # fmt: skip


# plotly.js arrives gzipped and base64-encoded (a third of its size); the page unpacks it,
# runs it, then draws every figure. DecompressionStream: Chromium 80+, Firefox 113+, Safari 16.4+.
LOADER = """
(async () => {
  const packed = document.getElementById('plotly-js').textContent;
  const bytes = Uint8Array.from(atob(packed), c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  const code = document.createElement('script');
  code.textContent = await new Response(stream).text();
  document.head.appendChild(code);
  for (const spec of document.querySelectorAll('script.figure')) {
    const figure = JSON.parse(spec.textContent);
    await Plotly.newPlot(spec.dataset.target, figure.data, figure.layout, {displaylogo: false, responsive: true});
  }
  document.body.dataset.plotted = 'true';
})();
"""


def _signal_section(signal: dict | None) -> str:
    """The signal analysis of the predictions traded: IC and ICIR per horizon, rank IC per
    year, mean forward return per score quintile."""
    if not signal:
        return ("<section id='signal'><h2>Signal analysis</h2><p class='sub'>not measured for these predictions: "
                "run <code>alphaduck analyze</code>, then the backtest again</p></section>")  # fmt: skip
    summary = _table(signal["summary"], {"horizon": "{}", "method": "{}", "ic_mean": "{:.4f}", "ic_std": "{:.4f}",
                                         "icir": "{:.3f}", "t_stat": "{:.2f}", "n": "{:,}", "spread": "{:.4%}"}, "data")  # fmt: skip
    by_year = _table(signal["by_year"], {"year": "{}", "horizon": "{}", "rank_ic": "{:.4f}"}, "data")
    quantiles = _table(signal["quantiles"], {"quantile": "{}", "horizon": "{}", "mean_return": "{:.4%}", "std_err": "{:.4%}"},
                       "data")  # fmt: skip
    return f"""<section id="signal"><h2>Signal analysis (alphaduck analyze)</h2>
<p class="sub">Per-date correlation of the model's score with the forward return the fills earn over h bars
(Pearson: IC, Spearman: rank IC); ICIR = mean / std of the per-date values; spread = top minus bottom
quintile's mean forward return (demeaned). For scale only: Qlib's published Alpha158 + LightGBM on CSI300
(2017-2020) reached IC 0.0448, ICIR 0.366, rank IC 0.0469: a different market and period.</p>
{summary}<h3>Rank IC by year</h3>{by_year}<h3>Mean forward return by score quintile</h3>{quantiles}</section>"""


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
    signal: dict | None = None,
) -> Path:
    """Write the tear sheet to ``path`` and return it. ``signal``: the prediction run's signal
    analysis tables (ml.signal_*: summary, by_year, quantiles), when `alphaduck analyze` ran."""
    figures = _figures(equity, benchmark, prices, trades, stats, importance, symbol)
    worst = ts.worst_drawdowns(equity, WORST_DRAWDOWNS)
    worst_table = _table(
        worst, {"start": "%Y-%m-%d %H:%M", "trough": "%Y-%m-%d %H:%M", "end": "%Y-%m-%d %H:%M", "depth": "{:.2%}", "length": "{:,} bars"},
        "data",
    ) if len(worst) else "<p class='sub'>never below a previous peak</p>"  # fmt: skip
    by_symbol = _table(ts.pnl_by_symbol(trades), {"symbol": "{}", "trades": "{:,}", "pnl": "{:,.2f}", "costs": "{:,.2f}",
                                                   "hit_rate": "{:.1%}", "average_trade": "{:,.2f}"}, "data")  # fmt: skip
    listed = ts.trade_list(trades)
    shown = listed.head(MAX_TRADES_LISTED).assign(side=lambda f: np.where(f["side"] > 0, "long", "short"))
    trade_table = _table(shown, {"symbol": "{}", "side": "{}", "entry_ts": "%Y-%m-%d %H:%M", "entry_price": "{:,.2f}",
                                 "exit_ts": "%Y-%m-%d %H:%M", "exit_price": "{:,.2f}", "quantity": "{:,.2f}",
                                 "pnl": "{:,.2f}", "return": "{:.2%}", "costs": "{:,.2f}"}, "data trades")  # fmt: skip
    more = f" (the newest {MAX_TRADES_LISTED} of {len(listed):,}: backtest.trades has them all)" if len(listed) > MAX_TRADES_LISTED else ""

    def chart(name: str) -> str:
        return _figure_div(name, figures[name]) if name in figures else ""

    plotly_js = base64.b64encode(PLOTLY_BUNDLE.read_bytes()).decode()
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
table.stats, table.data {{ border-collapse: collapse; margin: 1em 0; }}
table.stats td, table.stats th, table.data td, table.data th {{ padding: 0.25em 0.9em; border-bottom: 1px solid #ddd; text-align: right; }}
table.stats td:first-child, table.data td:first-child {{ text-align: left; }}
table.trades {{ font-size: 0.85em; }}
.sub {{ color: #666; }}
h2 {{ margin-top: 1.6em; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(subtitle)}</p>
{chart("equity")}
<section id="stats"><h2>Statistics</h2>
{stats_table(stats, benchmark_stats, daily_stats, in_sample)}
<p class="sub">PSR: probability that the true Sharpe is above 0. DSR: the same against the Sharpe the best of
the configurations tried would reach by luck alone. The CI is a moving-block bootstrap of the bar returns.</p></section>
{chart("drawdown")}
<section id="worst-drawdowns"><h2>Worst drawdowns</h2>{worst_table}
<p class="sub">start: first bar below the peak; end: the bar that regains it (blank: not yet recovered); length: bars under water.</p></section>
{chart("rolling")}
{chart("exposure")}
{chart("distribution")}
{chart("symbols")}
<section id="symbol-pnl"><h2>P&amp;L by symbol</h2>{by_symbol}</section>
{chart("trades")}
{chart("monthly")}
<section id="trade-list"><h2>Trades{html.escape(more)}</h2>{trade_table}</section>
{_signal_section(signal)}
{chart("importance")}
<script type="application/octet-stream" id="plotly-js">{plotly_js}</script>
<script>{LOADER}</script>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
