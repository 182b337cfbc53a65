"""The backtest stage's commands: `alphaduck backtest` and `alphaduck sweep`."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import fields

import click

from alphaduck import options
from alphaduck.contracts import PREDICTIONS
from alphaduck.errors import AlphaduckError
from backtests.costs import CostModel
from backtests.engines import ENGINES

_COST_DEFAULTS = {f.name: f.default for f in fields(CostModel)}


COST_OPTIONS = {"per_share": "per_share", "min_commission": "min_per_order", "max_commission_pct": "max_pct_of_value",
                "slippage_bps": "slippage_bps", "borrow_bps": "borrow_bps"}  # option -> CostModel field


def cost_options(command):
    """--per-share, --min-commission, --max-commission-pct, --slippage-bps, --borrow-bps and
    --capital, with CostModel's defaults (IB's tiered rates); the command receives them as
    ``costs`` (a CostModel) and ``capital``."""
    for option in reversed([
        click.option("--capital", default=100_000.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
                     help="Initial capital (USD)."),
        click.option("--per-share", default=_COST_DEFAULTS["per_share"], show_default=True, type=click.FloatRange(min=0),
                     help="Commission per share (USD)."),
        click.option("--min-commission", default=_COST_DEFAULTS["min_per_order"], show_default=True,
                     type=click.FloatRange(min=0), help="Minimum commission per order (USD)."),
        click.option("--max-commission-pct", default=_COST_DEFAULTS["max_pct_of_value"], show_default=True,
                     type=click.FloatRange(min=0), help="Maximum commission, share of trade value."),
        click.option("--slippage-bps", default=_COST_DEFAULTS["slippage_bps"], show_default=True,
                     type=click.FloatRange(min=0), help="Slippage, basis points of traded value."),
        click.option("--borrow-bps", default=_COST_DEFAULTS["borrow_bps"], show_default=True,
                     type=click.FloatRange(min=0), help="Borrow fee of short positions, basis points of their value a year."),
    ]):  # fmt: skip
        command = option(command)

    @functools.wraps(command)
    def with_costs(*args, **kwargs):
        costs = CostModel(**{field: kwargs.pop(name) for name, field in COST_OPTIONS.items()})
        return command(*args, costs=costs, **kwargs)

    return with_costs


def _strategy(pairs: tuple[str, ...]):
    from backtests.strategy import StrategyParams

    try:
        return StrategyParams.from_pairs(list(pairs))
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from exc


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
threshold_on (proba_up|score|score_pct), min_confidence, min_hold, max_hold, cooldown, sizing
(fixed|confidence), position_size (1/symbols), full_size_confidence, max_weight, max_gross,
flat_at_close, fill (next_open|next_close; default: the fill the model's labels measure).
""",
)
@options.db
@click.option("--prediction-run", help=f"Model run whose predictions to trade [default: the newest in {PREDICTIONS}].")
@click.option("--engine", type=click.Choice(ENGINES), default="bt", show_default=True,
              help="bt (reference), vector (same numbers, ~100x faster), vectorbt or backtesting (adapters; see README).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Strategy parameter (repeatable).")
@cost_options
@click.option("--start", metavar="DATE", callback=options.date, help="First decision date.")
@click.option("--end", metavar="DATE", callback=options.date, help="Last decision date.")
@options.symbols(help="Trade these symbols only (repeatable).")
@options.universe
@click.option("--run-id", callback=options.safe_name, help="Name this backtest (re-using a name replaces that run).")
@click.option("--allow-fill-mismatch", is_flag=True,
              help="Trade a fill other than the one the model's labels measure (refused by default).")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@options.reports
@options.models
@options.quiet
def backtest(db, prediction_run, engine, params, capital, costs, start, end, symbols, universe, run_id, allow_fill_mismatch, no_report, reports_dir, models_dir, quiet) -> None:  # fmt: skip
    """Backtest a model's predictions with bt: signals, costs, results in backtest.*, an HTML report."""
    from rich.console import Console

    from alphaduck.symbols import check_symbols

    check_symbols(db, symbols)
    if not no_report:
        options.require_writable(reports_dir, "--reports")

    from backtests.backtest import BacktestConfig, run_backtest, summary_table

    config = BacktestConfig(
        prediction_run=prediction_run, engine=engine, params=_strategy(params), initial_capital=capital,
        costs=costs, start=start, end=end,
        symbols=symbols, universe=universe, run_id=run_id, report=not no_report, reports_dir=reports_dir, models_dir=models_dir,
        allow_fill_mismatch=allow_fill_mismatch,
    )  # fmt: skip
    console = Console()
    status = console.status(f"backtesting with {engine}", spinner="dots") if not quiet and sys.stderr.isatty() else None
    with status or contextlib.nullcontext():
        outcome = run_backtest(db, config)
    if not quiet:
        console.print(summary_table(outcome))
    console.print(
        f"backtest {outcome.run_id}: total return {outcome.stats['total_return']:.2%} "
        f"(benchmark {outcome.benchmark_stats['total_return']:.2%}), {outcome.stats['trades']} trades"
        + (f"; report {outcome.report}" if outcome.report else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    if outcome.stats["trades"] == 0:
        from backtests.no_trades import explain_no_trades

        console.print(explain_no_trades(db, config), highlight=False, markup=False, soft_wrap=True)


@click.command(
    name="sweep",
    epilog="""\b
Examples:
  alphaduck sweep                                          # the default grid (256 configurations)
  alphaduck sweep --grid long_quantile=0.7,0.8,0.9 --grid min_hold=1,3,6
  alphaduck sweep --param kind=topk                        # 18 top-k portfolios (topk, n_drop, rebalance)
  alphaduck sweep --random 100 --seed 3 --metric calmar
  alphaduck sweep --dask local                             # the configurations on a local Dask cluster
\b
Default grid: long_quantile 0.6,0.7,0.8,0.9; min_hold 1,2,4,8; cooldown 0,2; max_hold none,13;
sizing fixed,confidence; flat_at_close false,true; with --param kind=topk or long_short:
topk 3,5,8; n_drop 1,2; rebalance 1,5,20. Any strategy parameter can be a --grid.
""",
)
@options.db
@click.option("--model", "model_run", default="latest", show_default=True, help="Registered model run whose validation window to sweep.")
@click.option("--grid", "grid_pairs", multiple=True, metavar="NAME=V1,V2", help="Values to try for a parameter (repeatable).")
@click.option("--param", "fixed", multiple=True, metavar="NAME=VALUE", help="A parameter held fixed for every configuration.")
@click.option("--random", "random_n", type=click.IntRange(min=1), help="Try this many configurations drawn from the grid instead of all.")
@options.seed
@click.option("--metric", type=click.Choice(("sharpe", "total_return", "calmar")), default="sharpe", show_default=True,
              help="What the choice maximises.")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(min=1),
              help="Configurations evaluated at once.")
@click.option("--dask", "dask", metavar="local|HOST:PORT",
              help="Evaluate the configurations on a Dask cluster (local starts one here) instead of this process.")
@cost_options
@options.universe
@options.models
@options.reports
@options.quiet
def sweep(db, model_run, grid_pairs, fixed, random_n, seed, metric, workers, dask, capital, costs, universe, models_dir,
          reports_dir, quiet) -> None:  # fmt: skip
    """Choose strategy parameters on the validation window (vector engine), then backtest the
    choice with bt on the test window, with its deflated Sharpe."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from alphaduck.progress import PlainTicker, plain_wanted
    from backtests.backtest import summary_table
    from backtests.sweep import SweepConfig, default_grid, parse_grid, sweep_and_backtest

    options.require_writable(reports_dir, "--reports")
    try:
        fixed_params = _strategy(fixed)
        grid = parse_grid(list(grid_pairs), base=default_grid(fixed_params.kind))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid") from exc
    config = SweepConfig(
        model_run=model_run, grid=grid, fixed=fixed_params, random=random_n, seed=seed, metric=metric, workers=workers,
        capital=capital, costs=costs, models_dir=models_dir, reports_dir=reports_dir, universe=universe, dask=dask,
    )  # fmt: skip
    console = Console()
    ticker = PlainTicker("sweep", "configurations evaluated") if plain_wanted(quiet) else None
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True,
                  disable=quiet or not sys.stderr.isatty()) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def on_done() -> None:
            bar.advance(task)
            if ticker:
                ticker.tick()

        try:
            outcome = sweep_and_backtest(db, config, on_done=on_done)
        except ValueError as exc:
            raise AlphaduckError(f"sweep: {exc}") from exc
    if ticker:
        ticker.close()
    results, best, run = outcome.results, outcome.best, outcome.backtest
    if not quiet:
        table = Table("#", "parameters", "Sharpe", "return", "max DD", "entries",
                      title=f"top of {len(results)} on {' .. '.join(outcome.window)} (validation)", box=None)  # fmt: skip
        for r in outcome.ranked[:10]:
            table.add_row(str(r.config_id), ", ".join(f"{k}={v}" for k, v in r.parameters.items()), f"{r.sharpe:.2f}",
                          f"{r.total_return:.2%}", f"{r.max_drawdown:.2%}", str(r.entries))  # fmt: skip
        console.print(table)
        console.print(summary_table(run))
    s, chosen_in_sample = run.stats, run.in_sample_stats or {}
    console.print(
        f"sweep {outcome.sweep_id}: {len(results)} configurations in {outcome.seconds:.1f} s; chosen #{best.config_id} "
        f"(validation Sharpe {best.sharpe:.2f}, deflated Sharpe {_percent(chosen_in_sample.get('dsr'))} "
        f"over the {len(results)} tried there) -> test window with bt: Sharpe {s['sharpe']:.2f}, "
        f"return {s['total_return']:.2%}, PSR {s['psr']:.1%}; backtest {run.run_id}"
        + (f"; report {run.report}" if run.report else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip


def _percent(value: float | None) -> str:
    """A share as a percentage, or why there is none (never 'nan%')."""
    return "not measured" if value is None or value != value else f"{value:.1%}"
