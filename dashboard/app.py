"""`alphaduck dashboard`: a Dash app over the warehouse (read-only; it never writes).

The views are plain functions of (warehouse, models dir, choices) returning Dash components
and figures, so tests call them directly; ``create_app`` only lays them out and wires them
to the controls. Every request opens its own read-only connection and closes it, so the
pipeline can write between requests; a warehouse that cannot show something yet gives a
sentence with the command to run, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dash import Dash, Input, Output, dash_table, dcc, html
from dash.exceptions import PreventUpdate

from alphaduck.contracts import BACKTEST_EQUITY, FEATURE_TABLE
from backtests import charts
from backtests import tearsheet as ts
from backtests.report import STAT_LABELS, format_stat
from dashboard import figures as fig
from dashboard import queries as q

RUN_COLUMNS = [
    ("run_id", "run"), ("model_run", "model"), ("engine", "engine"), ("symbols", "symbols"),
    ("total_return_pct", "return %"), ("sharpe", "Sharpe"), ("deflated_sharpe", "deflated Sharpe"),
    ("max_drawdown_pct", "max DD %"), ("trades", "trades"), ("parameters", "parameters"), ("created", "created"),
]  # fmt: skip


def message(text: str) -> html.Div:
    return html.Div(text, className="notice", style={"padding": "0.8em", "background": "#fff6dd", "border": "1px solid #e8c86a"})


# -- views (plain functions) -------------------------------------------------------------------------


def runs_view(db) -> tuple[list[dict], str | None]:
    """The runs table's rows, or (no rows, the sentence saying what to run)."""
    try:
        with q.reader(db) as con:
            frame = q.runs(con)
    except q.NotReady as exc:
        return [], str(exc)
    frame["parameters"] = frame["parameters"].str.replace(r"(\d\.\d{4})\d+", r"\1", regex=True)
    return frame.to_dict("records"), None


def performance_view(db, run_id: str | None) -> tuple[html.Div, object, object]:
    if not run_id:
        return message("choose a backtest run above"), fig.empty("no run chosen"), fig.empty("")
    try:
        with q.reader(db) as con:
            detail = q.run_detail(con, run_id)
            curve = q.equity(con, run_id)
            months = q.monthly_returns(con, run_id)
    except q.NotReady as exc:
        return message(str(exc)), fig.empty(str(exc)), fig.empty("")
    in_sample = detail["in_sample"]
    header = [html.Th(""), html.Th("strategy"), html.Th("buy & hold")] + ([html.Th("in sample (validation)")] if in_sample else [])
    rows = []
    for key, (label, pattern) in STAT_LABELS.items():
        cells = [html.Td(label), html.Td(format_stat(detail["stats"].get(key), pattern)), html.Td(format_stat(detail["benchmark"].get(key), pattern))]
        if in_sample:
            cells.append(html.Td(format_stat(in_sample.get(key), pattern)))
        rows.append(html.Tr(cells))
    summary = html.Div([
        html.P(f"run {run_id}: model {detail['model_run']}, {detail['engine']} engine, {len(detail['symbols'])} symbols, "
               f"{detail['bar_size']} bars, {detail['first_ts']:%Y-%m-%d} .. {detail['last_ts']:%Y-%m-%d}"
               + (f"; report {detail['report']}" if detail["report"] else "")),
        html.Table([html.Thead(html.Tr(header)), html.Tbody(rows)], className="stats"),
    ])  # fmt: skip
    return summary, fig.performance(curve), fig.monthly(months)


def symbol_choices(db, run_id: str | None) -> tuple[list[str], str | None, str | None, str | None]:
    """Symbols of the run (or all), the default symbol, and a default window: the run's
    last 20 sessions (or the last 20 of the data)."""
    try:
        with q.reader(db) as con:
            names = q.symbols(con, run_id)
            if run_id:
                last = con.execute(f"select max(ts)::date from {BACKTEST_EQUITY} where run_id = ?", [run_id]).fetchall()[0][0]
            else:
                last = con.execute(f"select max(session_date) from {FEATURE_TABLE}").fetchall()[0][0]
    except q.NotReady:
        return [], None, None, None
    if last is None:
        return names, names[0] if names else None, None, None
    start = (pd.Timestamp(last) - pd.offsets.BDay(20)).date()
    return names, names[0] if names else None, str(start), str(last)


def symbol_view(db, run_id: str | None, symbol: str | None, start: str | None, end: str | None,
                overlays: list[str], panels: list[str]):  # fmt: skip
    if not symbol:
        return fig.empty("no symbol: run `alphaduck run --ingest sample`")
    try:
        with q.reader(db) as con:
            bar_size = q.run_detail(con, run_id)["bar_size"] if run_id else None
            bars = q.candles(con, symbol, start, end, bar_size=bar_size)
            trades = q.trades(con, run_id, symbol, start, end) if run_id else pd.DataFrame(columns=["entry_ts", "entry_price", "exit_ts", "exit_price"])
    except q.NotReady as exc:
        return fig.empty(str(exc))
    if bars.empty:
        return fig.empty(f"no {symbol} bars between {start} and {end}")
    return fig.symbol_chart(bars, trades, symbol, overlays or [], panels or [])


def model_view(db, models_dir: Path, run_id: str | None):
    if not run_id:
        return [fig.empty("choose a backtest run above")] * 4
    try:
        with q.reader(db) as con:
            model_run = q.run_detail(con, run_id)["model_run"]
            calibration = q.calibration(con, model_run)
            by_hour = q.hit_rates(con, model_run, "hour_of_day")
            by_symbol = q.hit_rates(con, model_run, "symbol")
    except q.NotReady as exc:
        return [fig.empty(str(exc))] * 4
    try:
        importance = fig.importance(q.importance(models_dir, model_run))
    except q.NotReady as exc:
        importance = fig.empty(str(exc))
    if calibration.empty:
        return [importance] + [fig.empty(f"no realised outcomes for the predictions of {model_run} yet")] * 3
    return [importance, fig.calibration(calibration), fig.hit_rate(by_hour, "hour_of_day"), fig.hit_rate(by_symbol, "symbol")]


def signal_view(db, run_id: str | None):
    """The signal tab: the summary table, IC over time and by year, the quintiles' returns."""
    if not run_id:
        return message("choose a backtest run above"), fig.empty(""), fig.empty("")
    try:
        with q.reader(db) as con:
            model_run = q.run_detail(con, run_id)["model_run"]
            tables = q.signal(con, model_run)
    except q.NotReady as exc:
        return message(str(exc)), fig.empty(str(exc)), fig.empty(str(exc))
    summary = tables["summary"]
    header = [html.Th(c) for c in ("method", "horizon", "mean IC", "ICIR", "t-stat", "top - bottom")]
    rows = [html.Tr([html.Td(r.method), html.Td(r.horizon), html.Td(f"{r.ic_mean:.4f}"), html.Td(f"{r.icir:.3f}"),
                     html.Td(f"{r.t_stat:.2f}"), html.Td(f"{r.spread:.4%}")]) for r in summary.itertuples()]  # fmt: skip
    table = html.Table([html.Thead(html.Tr(header)), html.Tbody(rows)], id="signal-summary")
    return table, fig.signal_ic(tables["ic"], tables["by_year"]), fig.signal_quantiles(tables["quantiles"])


DRAWDOWN_COLUMNS = [("start", "start"), ("trough", "trough"), ("end", "end (recovery)"), ("depth_pct", "depth %"),
                    ("length", "bars under water")]
TRADE_COLUMNS = [("symbol", "symbol"), ("side", "side"), ("entry_ts", "entry"), ("entry_price", "entry price"),
                 ("exit_ts", "exit"), ("exit_price", "exit price"), ("quantity", "quantity"), ("pnl", "P&L"),
                 ("return_pct", "return %"), ("costs", "costs")]  # fmt: skip


def _stamp(value) -> str:
    return "" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def tearsheet_view(db, run_id: str | None) -> tuple[list, list[dict], list[dict]]:
    """[rolling, exposure and turnover, distribution, P&L by symbol] figures, the worst
    drawdowns' rows and the trade list's rows of the run (the report's tear sheet)."""
    if not run_id:
        return [fig.empty("choose a backtest run above")] * 4, [], []
    try:
        with q.reader(db) as con:
            inputs = q.tearsheet(con, run_id)
    except q.NotReady as exc:
        return [fig.empty(str(exc))] * 4, [], []
    equity, trades = inputs["equity"], inputs["trades"]
    returns = ts.bar_returns(equity)
    figures = [
        charts.rolling(returns, inputs["bars_per_year"]),
        charts.activity(ts.exposure_and_turnover(inputs["exposure"], trades, equity)),
        charts.distribution(returns),
        charts.symbol_pnl(ts.pnl_by_symbol(trades)),
    ]
    worst = ts.worst_drawdowns(equity)
    drawdowns = [{"start": _stamp(r.start), "trough": _stamp(r.trough), "end": _stamp(r.end), "depth_pct": round(r.depth * 100, 2),
                  "length": r.length} for r in worst.itertuples()]  # fmt: skip
    listed = ts.trade_list(trades).rename(columns={"return": "trade_return"})  # `return` cannot be an attribute
    rows = [{"symbol": r.symbol, "side": "long" if r.side > 0 else "short", "entry_ts": _stamp(r.entry_ts),
             "entry_price": round(r.entry_price, 2), "exit_ts": _stamp(r.exit_ts),
             "exit_price": None if pd.isna(r.exit_price) else round(r.exit_price, 2), "quantity": round(r.quantity, 2),
             "pnl": None if pd.isna(r.pnl) else round(r.pnl, 2),
             "return_pct": None if pd.isna(r.trade_return) else round(r.trade_return * 100, 3), "costs": round(r.costs, 2)}
            for r in listed.itertuples()]  # fmt: skip
    return figures, drawdowns, rows


def quality_view(db):
    try:
        with q.reader(db) as con:
            counts = q.bars_per_session(con)
            try:
                gate, results = q.gate_latest(con)
            except q.NotReady as exc:
                return message(str(exc)), [], fig.bars_per_session(counts)
    except q.NotReady as exc:
        return message(str(exc)), [], fig.empty(str(exc))
    verdict = "passed" if gate["success"] else "FAILED"
    summary = html.P(
        f"latest gate run {gate['run_id']} at {gate['checked_at']:%Y-%m-%d %H:%M} UTC ({', '.join(gate['suites'])}): {verdict}"
        + (f"; Data Docs {gate['data_docs']}" if gate["data_docs"] else "")
    )
    return summary, results.to_dict("records"), fig.bars_per_session(counts)


# -- layout and wiring -------------------------------------------------------------------------------


def create_app(db, models_dir: Path) -> Dash:
    app = Dash(__name__, title="alphaduck")
    graph = {"config": {"displaylogo": False}}
    app.layout = html.Div(
        [
            html.H2("alphaduck"),
            html.Div(f"warehouse {db} (read-only)", style={"color": "#666"}),
            html.Div(id="notice"),
            dcc.Location(id="url"),
            dash_table.DataTable(
                id="runs", columns=[{"id": c, "name": n} for c, n in RUN_COLUMNS], row_selectable="single",
                selected_rows=[0], sort_action="native", page_size=8, style_table={"overflowX": "auto"},
                style_cell={"fontFamily": "system-ui", "fontSize": 13, "maxWidth": 360, "whiteSpace": "normal", "textAlign": "left"},
            ),  # fmt: skip
            dcc.Store(id="run-id"),
            dcc.Tabs(
                id="tabs",
                value="performance",
                children=[
                    dcc.Tab(label="Performance", value="performance", id="tab-performance", children=[
                        html.Div(id="stats"), dcc.Graph(id="performance", **graph), dcc.Graph(id="monthly", **graph),
                    ]),
                    dcc.Tab(label="Tear sheet", value="tearsheet", id="tab-tearsheet", children=[
                        dcc.Graph(id="rolling", **graph), dcc.Graph(id="exposure", **graph),
                        html.H4("Worst drawdowns"),
                        dash_table.DataTable(id="worst-drawdowns", columns=[{"id": c, "name": n} for c, n in DRAWDOWN_COLUMNS],
                                             style_cell={"fontFamily": "system-ui", "fontSize": 13}),
                        dcc.Graph(id="distribution", **graph), dcc.Graph(id="symbol-pnl", **graph),
                        html.H4("Trades"),
                        dash_table.DataTable(id="trade-list", columns=[{"id": c, "name": n} for c, n in TRADE_COLUMNS],
                                             page_size=15, sort_action="native", filter_action="native",
                                             style_cell={"fontFamily": "system-ui", "fontSize": 13}),
                    ]),
                    dcc.Tab(label="Symbol", value="symbol", id="tab-symbol", children=[
                        html.Div([
                            dcc.Dropdown(id="symbol", clearable=False, style={"width": "12em"}),
                            dcc.DatePickerRange(id="dates", display_format="YYYY-MM-DD"),
                            dcc.Checklist(id="overlays", options=[{"label": v, "value": k} for k, v in fig.OVERLAYS.items()],
                                          value=["ema", "bollinger"], inline=True),
                            dcc.Checklist(id="panels", options=[{"label": v, "value": k} for k, v in fig.PANELS.items()],
                                          value=["rsi", "macd"], inline=True),
                        ], style={"display": "flex", "gap": "1.5em", "alignItems": "center", "flexWrap": "wrap", "margin": "0.6em 0"}),
                        dcc.Graph(id="symbol-chart", **graph),
                    ]),
                    dcc.Tab(label="Model", value="model", id="tab-model", children=[
                        dcc.Graph(id="importance", **graph), dcc.Graph(id="calibration", **graph),
                        dcc.Graph(id="hit-hour", **graph), dcc.Graph(id="hit-symbol", **graph),
                    ]),
                    dcc.Tab(label="Signal", value="signal", id="tab-signal", children=[
                        html.Div(id="signal-table"), dcc.Graph(id="signal-ic", **graph), dcc.Graph(id="signal-quantiles", **graph),
                    ]),
                    dcc.Tab(label="Data quality", value="quality", id="tab-quality", children=[
                        html.Div(id="gate-summary"),
                        dash_table.DataTable(id="gate-results", page_size=12, sort_action="native",
                                             style_cell={"fontFamily": "system-ui", "fontSize": 13, "whiteSpace": "normal", "textAlign": "left"}),
                        dcc.Graph(id="bars-per-session", **graph),
                    ]),
                ],
            ),  # fmt: skip
        ],
        style={"fontFamily": "system-ui, sans-serif", "margin": "1em 2em"},
    )

    @app.callback(Output("runs", "data"), Output("notice", "children"), Input("url", "pathname"))
    def _runs(_path):
        rows, problem = runs_view(db)
        return rows, message(problem) if problem else None

    @app.callback(Output("run-id", "data"), Input("runs", "derived_virtual_data"), Input("runs", "derived_virtual_selected_rows"))
    def _run_id(rows, selected):
        if not rows or not selected:
            return None
        return rows[selected[0]]["run_id"]

    @app.callback(Output("stats", "children"), Output("performance", "figure"), Output("monthly", "figure"), Input("run-id", "data"))
    def _performance(run_id):
        return performance_view(db, run_id)

    @app.callback(Output("rolling", "figure"), Output("exposure", "figure"), Output("distribution", "figure"),
                  Output("symbol-pnl", "figure"), Output("worst-drawdowns", "data"), Output("trade-list", "data"),
                  Input("run-id", "data"), Input("tabs", "value"))  # fmt: skip
    def _tearsheet(run_id, tab):
        if tab != "tearsheet":  # computed when looked at, not on every change of run
            raise PreventUpdate
        (rolling, exposure, distribution, pnl), drawdowns, trades = tearsheet_view(db, run_id)
        return rolling, exposure, distribution, pnl, drawdowns, trades

    @app.callback(Output("symbol", "options"), Output("symbol", "value"), Output("dates", "start_date"),
                  Output("dates", "end_date"), Input("run-id", "data"))  # fmt: skip
    def _symbols(run_id):
        names, default, start, end = symbol_choices(db, run_id)
        return [{"label": s, "value": s} for s in names], default, start, end

    @app.callback(Output("symbol-chart", "figure"), Input("run-id", "data"), Input("symbol", "value"),
                  Input("dates", "start_date"), Input("dates", "end_date"), Input("overlays", "value"),
                  Input("panels", "value"))  # fmt: skip
    def _symbol(run_id, symbol, start, end, overlays, panels):
        return symbol_view(db, run_id, symbol, start, end, overlays, panels)

    @app.callback(Output("importance", "figure"), Output("calibration", "figure"), Output("hit-hour", "figure"),
                  Output("hit-symbol", "figure"), Input("run-id", "data"))  # fmt: skip
    def _model(run_id):
        return model_view(db, models_dir, run_id)

    @app.callback(Output("signal-table", "children"), Output("signal-ic", "figure"), Output("signal-quantiles", "figure"),
                  Input("run-id", "data"))  # fmt: skip
    def _signal(run_id):
        return signal_view(db, run_id)

    @app.callback(Output("gate-summary", "children"), Output("gate-results", "data"), Output("bars-per-session", "figure"),
                  Input("url", "pathname"))  # fmt: skip
    def _quality(_path):
        return quality_view(db)

    return app
