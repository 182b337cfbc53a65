"""`alphaduck backtest`: a model run's predictions -> signals -> bt -> tables and a report."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import pandas as pd

from alphaduck import options
from alphaduck.contracts import PREDICTIONS
from alphaduck.errors import AlphaduckError
from alphaduck.settings import MODELS_DIR, REPORTS_DIR
from alphaduck.warehouse import connect, relation_exists
from backtests import data
from backtests.costs import CostModel
from backtests.engine_bt import run_bt
from backtests.results import benchmark_weights, fill_prices, fill_weights
from backtests.stats import compute_stats, drawdown, honesty, round_trips
from backtests.strategy import StrategyParams, target_weights

ENGINES = ("bt", "vector", "vectorbt", "backtesting")


@dataclass
class BacktestConfig:
    prediction_run: str | None = None  # default: the newest run in ml.predictions
    engine: str = "bt"
    params: StrategyParams = field(default_factory=StrategyParams)
    costs: CostModel = field(default_factory=CostModel)
    initial_capital: float = 100_000.0
    start: str | None = None
    end: str | None = None
    symbols: list[str] = field(default_factory=list)
    run_id: str | None = None
    report: bool = True
    in_sample: bool = True  # also run the model's validation window (vector engine) for comparison
    selection: Selection | None = None  # how this configuration was chosen (a sweep), if it was
    allow_fill_mismatch: bool = False  # trade a fill other than the one the model's labels measure
    reports_dir: Path = REPORTS_DIR
    models_dir: Path = MODELS_DIR


@dataclass(frozen=True)
class Selection:
    """A configuration chosen among ``n_trials`` on a window (a sweep on the model's
    validation window). The deflated Sharpe of that window uses N = n_trials and the variance
    of their per-bar Sharpes; the test window, untouched by the choice, is one trial."""

    n_trials: int
    sharpe_variance: float
    window: tuple[str, str]
    sweep_id: str | None = None


@dataclass
class BacktestOutcome:
    run_id: str
    stats: dict
    benchmark_stats: dict
    in_sample_stats: dict | None
    report: Path | None
    equity: pd.Series
    trades: pd.DataFrame


def simulate(predictions: pd.DataFrame, bars: pd.DataFrame, config: BacktestConfig) -> dict:
    """Signals, the engine's run and the benchmark (no warehouse access). ``config.params``
    have its thresholds set (see resolve_params); an unset fill is the default one."""
    from backtests.engine_vector import run_vector

    config = replace(config, params=config.params.resolve_fill(None))
    signals = target_weights(predictions, bars, config.params)
    first_fill = signals["fill_ts"].min()
    window = bars[(bars["ts"] >= predictions["ts"].min()) & (bars["ts"] <= signals["fill_ts"].max())]
    prices = fill_prices(window, config.params.fill)
    weights = fill_weights(signals)
    if weights.empty:
        weights = pd.DataFrame(index=[first_fill], columns=prices.columns, dtype=float)
    hold = benchmark_weights(window, prices.index)
    kwargs = {"costs": config.costs, "initial_capital": config.initial_capital}
    if config.engine == "bt":
        result = run_bt(prices, weights, **kwargs)
        benchmark = run_bt(prices, hold, name="benchmark", **kwargs)
    else:
        if config.engine == "vector":
            result = run_vector(prices, weights, **kwargs)
        elif config.engine == "vectorbt":
            from backtests.adapters import run_vectorbt

            result = run_vectorbt(prices, weights, **kwargs)
        elif config.engine == "backtesting":
            from backtests.adapters import run_backtesting

            result = run_backtesting(window, signals, fill=config.params.fill, **kwargs)
        else:
            raise ValueError(f"`engine` must be one of {', '.join(ENGINES)}, got {config.engine!r}")
        # the benchmark is the same whichever engine trades the strategy: the vector engine
        # gives bt's numbers (tested) at a fraction of the time
        benchmark = run_vector(prices, hold, **kwargs)
    return {"signals": signals, "prices": prices, "window": window, "result": result, "benchmark": benchmark}


def resolve_params(params: StrategyParams, model, *, allow_fill_mismatch: bool = False) -> StrategyParams:
    """The strategy as it will trade: the fill (the model's label fill unless given, and a
    differing one refused unless allowed) and quantile thresholds from the model's
    validation-window scores."""
    metadata = model.metadata if model else {}
    try:
        params = params.resolve_fill(metadata.get("fill"), allow_mismatch=allow_fill_mismatch)
        return params.with_model_quantiles(metadata.get("valid_raw_score_quantiles"))
    except ValueError as exc:
        who = f"model {model.run_id}: " if model else ""
        raise AlphaduckError(f"{who}{exc}") from exc


def run_backtest(db, config: BacktestConfig) -> BacktestOutcome:
    from alphaduck.features import built_features

    con = connect(db, read_only=True)
    try:
        if not relation_exists(con, PREDICTIONS):
            raise AlphaduckError(f"{PREDICTIONS} does not exist: run `alphaduck build`, then `alphaduck predict`")
        prediction_run = config.prediction_run or data.latest_prediction_run(con)
        predictions = data.load_predictions(con, prediction_run, symbols=config.symbols or None, start=config.start, end=config.end)
        bar_sizes = predictions["bar_size"].unique()
        if len(bar_sizes) > 1:
            raise AlphaduckError(f"run {prediction_run} has predictions for bar sizes {', '.join(bar_sizes)}: pick symbols of one")
        bar_size = bar_sizes[0]
        symbols = sorted(predictions["symbol"].unique())
        bars = data.bars_for(con, predictions, bar_size)
        calendar = built_features(con).calendar
        model = _registered(prediction_run, config.models_dir)
        if model is not None:
            from ml.registry import check_fits

            check_fits(model, con, bar_size=bar_size, rows=False)  # predict checked the rows
    finally:
        con.close()
    per_year = data.bars_per_year(bars[bars["ts"] <= predictions["ts"].max()], calendar)
    config = replace(config, params=resolve_params(config.params, model, allow_fill_mismatch=config.allow_fill_mismatch))
    if config.params.threshold_on == "score" and predictions["score"].isna().all():
        raise AlphaduckError(
            f"run {prediction_run}'s predictions have no score column values (made before scores were stored): "
            f"re-run `alphaduck predict --run-id {prediction_run}`"
        )

    sim = simulate(predictions, bars, config)
    result, benchmark, prices, signals = sim["result"], sim["benchmark"], sim["prices"], sim["signals"]
    stats = compute_stats(result.equity, result.transactions, result.positions, prices, bars_per_year=per_year)
    # the test window played no part in choosing the configuration: one trial there
    stats |= honesty(result.equity.pct_change().dropna().to_numpy(), per_year)
    if config.selection:
        stats |= {"selected_from": config.selection.n_trials, "selection_window": "..".join(config.selection.window)}
    benchmark_stats = compute_stats(benchmark.equity, benchmark.transactions, benchmark.positions, prices, bars_per_year=per_year)
    benchmark_stats |= honesty(benchmark.equity.pct_change().dropna().to_numpy(), per_year)
    trades = round_trips(result.transactions)
    in_sample = _in_sample(db, model, config) if config.in_sample and model else None
    created = datetime.now(UTC)
    run_id = config.run_id or f"{created:%Y%m%dT%H%M%SZ}-bt-{uuid.uuid4().hex[:6]}"
    report = None
    if config.report:
        from backtests.report import build_report

        importance_file = model.path / "importance.csv" if model else None
        report = build_report(
            config.reports_dir / f"{run_id}.html",
            title=f"Backtest {run_id}",
            subtitle=(
                f"model run {prediction_run}; {len(symbols)} symbols, {bar_size} bars, {prices.index[0]:%Y-%m-%d} .. "
                f"{prices.index[-1]:%Y-%m-%d}; fills at {config.params.fill.replace('_', ' ')}; "
                f"costs: IB tiered {config.costs.per_share} USD/share (min {config.costs.min_per_order}, max "
                f"{config.costs.max_pct_of_value:.0%}) + {config.costs.slippage_bps:g} bps slippage"
            ),
            equity=result.equity, benchmark=benchmark.equity, prices=prices, trades=trades, stats=stats,
            benchmark_stats=benchmark_stats, daily_stats=result.daily_stats, in_sample=in_sample,
            importance=pd.read_csv(importance_file) if importance_file and importance_file.exists() else None,
        )  # fmt: skip

    gross = (result.positions.abs() * prices).sum(axis=1)
    equity_table = pd.DataFrame(
        {
            "ts": result.equity.index,
            "equity": result.equity.to_numpy(),
            "benchmark_equity": benchmark.equity.reindex(result.equity.index).to_numpy(),
            "drawdown": drawdown(result.equity).to_numpy(),
            "gross_exposure": (gross / result.equity).to_numpy(),
        }
    )
    trades_table = trades.rename(columns={"open": "is_open"})
    run = {
        "run_id": run_id,
        "prediction_run_id": prediction_run,
        "created_at": created,
        "engine": config.engine,
        "bar_size": bar_size,
        "symbols": symbols,
        "first_ts": prices.index[0],
        "last_ts": prices.index[-1],
        "initial_capital": config.initial_capital,
        "parameters": asdict(config.params),
        "costs": asdict(config.costs),
        "stats": _clean(stats),
        "benchmark_stats": _clean(benchmark_stats),
        "bt_daily_stats": _clean(result.daily_stats),
        "in_sample_stats": _clean(in_sample["stats"]) | {"window": in_sample["window"]} if in_sample else None,
        "sweep_id": config.selection.sweep_id if config.selection else None,
        "report": str(report) if report else None,
    }
    con = connect(db)
    try:
        data.write_results(con, run, equity_table, trades_table, signals)
    finally:
        con.close()
    return BacktestOutcome(run_id, stats, benchmark_stats, in_sample["stats"] if in_sample else None, report, result.equity, trades)


def _registered(run_id: str, models_dir: Path):
    """The registered model that made the predictions, or None if it is no longer in the
    registry (its predictions still backtest; there is just nothing to compare them with)."""
    from ml.registry import resolve

    try:
        return resolve(run_id, root=models_dir)
    except AlphaduckError:
        return None


def _in_sample(db, model, config: BacktestConfig) -> dict:
    """The same strategy and costs on the model's validation window (vector engine, which
    gives bt's numbers): the in-sample side of the in-sample / out-of-sample comparison. When
    a sweep chose the configuration on this window, its deflated Sharpe counts every
    configuration the sweep tried."""
    from backtests.validation import score_validation

    scored = score_validation(db, model)
    sim = simulate(scored.predictions, scored.bars, replace(config, engine="vector"))
    result = sim["result"]
    stats = compute_stats(result.equity, result.transactions, result.positions, sim["prices"], bars_per_year=scored.bars_per_year)
    selection = config.selection
    stats |= honesty(
        result.equity.pct_change().dropna().to_numpy(), scored.bars_per_year,
        n_trials=selection.n_trials if selection else 1, sharpe_variance=selection.sharpe_variance if selection else 0.0,
    )  # fmt: skip
    return {"stats": stats, "window": list(scored.window)}


def _clean(values: dict) -> dict:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()}


def summary_table(outcome: BacktestOutcome):
    from rich.table import Table

    from backtests.report import STAT_LABELS, format_stat

    columns = ["", "strategy", "benchmark"] + (["in-sample"] if outcome.in_sample_stats else [])
    table = Table(*columns, title=f"backtest {outcome.run_id}", box=None)
    for key, (label, pattern) in STAT_LABELS.items():
        row = [label, format_stat(outcome.stats.get(key), pattern), format_stat(outcome.benchmark_stats.get(key), pattern)]
        if outcome.in_sample_stats:
            row.append(format_stat(outcome.in_sample_stats.get(key), pattern))
        if any(cell != "-" for cell in row[1:]):  # a figure no column has (e.g. not from a sweep) is left out
            table.add_row(*row)
    return table


@click.command(
    name="backtest",
    epilog="""\b
Examples:
  alphaduck backtest                                   # newest predictions, default strategy
  alphaduck backtest --param long_threshold=0.6 --param min_hold=3 --param flat_at_close=true
  alphaduck backtest --prediction-run 20261126T175817Z-clf-75cf01 --capital 50000 --slippage-bps 2
  alphaduck backtest --param short_threshold=0.4 --start 2026-02-01
\b
Strategy parameters (--param NAME=VALUE): long_threshold, short_threshold (off), long_quantile and
short_quantile (thresholds from the model's validation scores, e.g. 0.8 = its top fifth),
threshold_on (proba_up|score), min_confidence, min_hold, max_hold, cooldown, sizing
(fixed|confidence), position_size (1/symbols), full_size_confidence, max_weight, max_gross,
flat_at_close, fill (next_open|next_close; default: the fill the model's labels measure).
""",
)
@options.db
@click.option("--prediction-run", help="Model run whose predictions to trade [default: the newest in ml.predictions].")
@click.option("--engine", type=click.Choice(ENGINES), default="bt", show_default=True,
              help="bt (reference), vector (same numbers, ~100x faster), vectorbt or backtesting (adapters; see README).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Strategy parameter (repeatable).")
@click.option("--capital", default=100_000.0, show_default=True, help="Initial capital (USD).")
@click.option("--per-share", default=0.0035, show_default=True, help="Commission per share (USD).")
@click.option("--min-commission", default=0.35, show_default=True, help="Minimum commission per order (USD).")
@click.option("--max-commission-pct", default=0.01, show_default=True, help="Maximum commission, share of trade value.")
@click.option("--slippage-bps", default=1.0, show_default=True, help="Slippage, basis points of traded value.")
@click.option("--start", metavar="DATE", help="First decision date.")
@click.option("--end", metavar="DATE", help="Last decision date.")
@click.option("--symbol", "symbols", multiple=True, help="Trade these symbols only (repeatable).")
@click.option("--run-id", callback=options.safe_name, help="Name this backtest (re-using a name replaces that run).")
@click.option("--allow-fill-mismatch", is_flag=True,
              help="Trade a fill other than the one the model's labels measure (refused by default).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option("--reports", "reports_dir", type=click.Path(path_type=Path), default=REPORTS_DIR, show_default=True)
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=MODELS_DIR, show_default=True)
@options.quiet
def backtest(db, prediction_run, engine, params, capital, per_share, min_commission, max_commission_pct, slippage_bps,
             start, end, symbols, run_id, allow_fill_mismatch, no_report, reports_dir, models_dir, quiet) -> None:  # fmt: skip
    """Backtest a model's predictions with bt: signals, costs, results in backtest.*, an HTML report."""
    from rich.console import Console

    try:
        strategy = StrategyParams.from_pairs(list(params))
        costs = CostModel(per_share, min_commission, max_commission_pct, slippage_bps)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from exc
    config = BacktestConfig(
        prediction_run=prediction_run, engine=engine, params=strategy, costs=costs, initial_capital=capital, start=start, end=end,
        symbols=list(symbols), run_id=run_id, report=not no_report, reports_dir=reports_dir, models_dir=models_dir,
        allow_fill_mismatch=allow_fill_mismatch,
    )  # fmt: skip
    console = Console()
    with console.status(f"backtesting with {engine}", spinner="dots") if not quiet else contextlib.nullcontext():
        outcome = run_backtest(db, config)
    if not quiet:
        console.print(summary_table(outcome))
    console.print(
        f"backtest {outcome.run_id}: total return {outcome.stats['total_return']:.2%} "
        f"(benchmark {outcome.benchmark_stats['total_return']:.2%}), {outcome.stats['trades']} trades"
        + (f"; report {outcome.report}" if outcome.report else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip
