"""`alphaduck run`: the pipeline's command."""

from __future__ import annotations

import sys

import click

from alphaduck import options
from pipeline.run import PRESETS, SOURCES, STEPS, RunConfig


@click.command(
    name="run",
    epilog="""\b
Examples:
  alphaduck run --ingest sample                  # the whole pipeline on the bundled sample
  alphaduck run --skip ingest --skip train       # re-predict with the latest model and backtest
  alphaduck run --ingest ibkr --symbol SPY --symbol QQQ --bar-size '30 mins' --port 4002
  alphaduck run --start-date 2026-02-01 --param long_threshold=0.6 --param flat_at_close=true
  alphaduck run --preset dow30-daily            # Dow 30 daily: walk-forward, signal analysis, top-5 portfolio
""",
)
@options.db
@click.option("--preset", type=click.Choice(PRESETS), help="A whole research run, configured (see README).")
@click.option("--ingest", "ingest", type=click.Choice(SOURCES), default="none", show_default=True,
              help="Where new bars come from.")  # fmt: skip
@click.option("--skip", "skip", multiple=True, type=click.Choice(STEPS), help="Leave a step out (repeatable).")
@options.symbols(help="IBKR symbols to ingest and train on (with --ingest ibkr).")
@options.bar_size()
@click.option("--host", default="127.0.0.1", show_default=True, help="IB gateway host (with --ingest ibkr).")
@click.option("--port", default=7497, show_default=True, type=click.IntRange(1, 65_535), help="IB gateway port (with --ingest ibkr).")
@click.option("--start-date", metavar="DATE", help="First session to predict and backtest [default: the model's test window].")
@click.option("--end-date", metavar="DATE", help="Last session to predict and backtest.")
@click.option("--n-iter", default=10, show_default=True, type=click.IntRange(min=1), help="Training: parameter settings to search.")
@click.option("--n-splits", default=4, show_default=True, type=click.IntRange(min=2), help="Training: purged CV folds.")
@options.seed
@click.option("--param", "strategy_params", multiple=True, metavar="NAME=VALUE", help="Strategy parameter (see `alphaduck backtest --help`).")
@options.models
@options.reports
def run(db, preset, ingest, skip, symbols, bar_size, host, port, start_date, end_date, n_iter, n_splits, seed, strategy_params,
        models_dir, reports_dir) -> None:  # fmt: skip
    """Run the pipeline: ingest -> dbt build -> quality gate -> train -> predict -> backtest -> report."""
    from rich.console import Console
    from rich.table import Table

    from backtests.strategy import StrategyParams
    from ml.train import TrainOptions
    from pipeline.run import run_pipeline

    try:
        strategy = StrategyParams.from_pairs(list(strategy_params))
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from exc
    if preset:
        from dataclasses import replace

        from pipeline.run import preset as configured

        config = replace(configured(preset), skip=set(skip), models_dir=models_dir, reports_dir=reports_dir)
    else:
        config = RunConfig(
            ingest=ingest, skip=set(skip), symbols=symbols, bar_size=bar_size, host=host, port=port, start_date=start_date,
            end_date=end_date, train=TrainOptions(n_iter=n_iter, n_splits=n_splits, seed=seed), strategy=strategy,
            models_dir=models_dir, reports_dir=reports_dir,
        )  # fmt: skip
    console = Console()
    interactive = sys.stderr.isatty()
    status = console.status("alphaduck run", spinner="dots") if interactive else None
    if status:
        status.start()

    def on_step(step: str, number: int) -> None:
        if status:
            status.update(f"step {number}/{len(STEPS)}: {step}")
        else:  # a CI log shows each step as it starts
            click.echo(f"run: step {number}/{len(STEPS)}: {step}", err=True)

    try:
        results, produced = run_pipeline(db, config, on_step=on_step)
    finally:
        if status:
            status.stop()
    table = Table("step", "", "seconds", "result", title="alphaduck run", box=None)
    for r in results:
        mark = {"ok": "[green]ok[/]", "skipped": "[dim]skipped[/]", "failed": "[bold red]FAILED[/]"}[r.status]
        table.add_row(r.step, mark, f"{r.seconds:.1f}", r.detail)
    console.print(table)
    if "model" in produced:
        from ml.train import metrics_table

        console.print(metrics_table(produced["model"]))
    if "analysis" in produced:
        from ml.cli import signal_table

        console.print(signal_table(produced["analysis"]))
    if "backtest" in produced:
        from backtests.backtest import summary_table

        console.print(summary_table(produced["backtest"]))
        console.print(f"report: {produced['backtest'].report}", highlight=False, soft_wrap=True)
        console.print("browse it all: alphaduck dashboard (then open http://127.0.0.1:8050)", highlight=False)
    if "failed" in produced:
        step, exc = produced["failed"]
        code = exc.exit_code if isinstance(exc, click.ClickException) else 2
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        console.print(f"Error: {message}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"stopped at {step}: fix it and re-run (skip the steps that are done with --skip)", highlight=False)
        click.get_current_context().exit(code)
