"""`alphaduck run`: the whole pipeline in order (ingest -> dbt build -> quality gate -> train
-> predict -> backtest -> report), every step skippable, one summary at the end.

It lives in the last stage because it calls every earlier one (stages only import
backwards along the flow). A failing step stops the run; the steps before it keep what
they wrote, so fixing the cause and re-running with the done steps skipped resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from alphaduck import options
from alphaduck.errors import AlphaduckError
from alphaduck.settings import DATA_DOCS_DIR, MODELS_DIR, REPORTS_DIR

STEPS = ("ingest", "build", "gate", "train", "predict", "backtest")


@dataclass
class StepResult:
    step: str
    status: str  # ok | skipped | failed
    seconds: float
    detail: str


def _ingest(db, source: str, symbols: tuple[str, ...], bar_size, host: str, port: int, start: str | None, quiet: bool) -> str:
    if source == "sample":
        from ingest.load import ingest_sample

        result = ingest_sample("us24-30min", db=db)
        return f"{result.rows_read:,} bars read, {result.counts.inserted:,} new"
    if source == "ibkr":
        import asyncio

        from ingest.ibkr import IbkrOptions, ingest_ibkr

        if not symbols:
            raise AlphaduckError("--ingest ibkr needs --symbol (repeatable)")
        from alphaduck.bar_sizes import parse_bar_size

        options_ = IbkrOptions(symbols=[s.upper() for s in symbols], bar_size=bar_size or parse_bar_size("30 mins"),
                               host=host, port=port, start=_utc(start) if start else None)  # fmt: skip
        result, _ = asyncio.run(ingest_ibkr(options_, db=db))
        return f"{result.counts.inserted:,} new bars from IB at {host}:{port}"
    raise AlphaduckError(f"--ingest {source!r}: expected sample, ibkr or none")


def _has_trained_model(db) -> bool:
    from alphaduck.contracts import TRAIN_RUNS
    from alphaduck.warehouse import connect, relation_exists

    con = connect(db, read_only=True)
    try:
        return relation_exists(con, TRAIN_RUNS) and bool(con.execute(f"select count(*) from {TRAIN_RUNS}").fetchall()[0][0])
    finally:
        con.close()


def _utc(text: str):
    import pandas as pd

    return pd.Timestamp(text, tz="UTC").to_pydatetime()


def run_pipeline(
    db,
    *,
    ingest: str,
    skip: set[str],
    symbols: tuple[str, ...] = (),
    bar_size=None,
    host: str = "127.0.0.1",
    port: int = 7497,
    start_date: str | None = None,
    end_date: str | None = None,
    n_iter: int = 10,
    n_splits: int = 4,
    seed: int = 7,
    strategy_params: tuple[str, ...] = (),
    models_dir: Path = MODELS_DIR,
    reports_dir: Path = REPORTS_DIR,
    on_step: Callable[[str, int], None] | None = None,
    quiet: bool = True,
) -> tuple[list[StepResult], dict]:
    """Run the steps in order; returns each step's result and what later steps produced."""
    produced: dict = {}
    results: list[StepResult] = []
    for number, step in enumerate(STEPS, start=1):
        if on_step:
            on_step(step, number)
        if step in skip or (step == "ingest" and ingest == "none"):
            results.append(StepResult(step, "skipped", 0.0, ""))
            continue
        started = time.perf_counter()
        try:
            detail = _run_step(step, db, produced, ingest=ingest, symbols=symbols, bar_size=bar_size, host=host, port=port,
                               start_date=start_date, end_date=end_date, n_iter=n_iter, n_splits=n_splits, seed=seed,
                               strategy_params=strategy_params, models_dir=models_dir, reports_dir=reports_dir,
                               quiet=quiet, skip=skip)  # fmt: skip
        except (click.ClickException, ValueError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            results.append(StepResult(step, "failed", time.perf_counter() - started, message))
            produced["failed"] = (step, exc)
            break
        results.append(StepResult(step, "ok", time.perf_counter() - started, detail))
    return results, produced


def _run_step(step: str, db, produced: dict, *, ingest, symbols, bar_size, host, port, start_date, end_date, n_iter,
              n_splits, seed, strategy_params, models_dir, reports_dir, quiet, skip) -> str:  # fmt: skip
    if step == "ingest":
        return _ingest(db, ingest, symbols, bar_size, host, port, start_date, quiet)
    if step == "build":
        from alphaduck.build import dbt_build
        from alphaduck.errors import ChecksFailedError

        outcome = dbt_build(db)
        if not outcome.ok:
            raise ChecksFailedError("dbt build failed: " + "; ".join(outcome.failures))
        return f"{outcome.models} models, {outcome.tests_passed} tests passed, {outcome.tests_warned} warned"
    if step == "gate":
        from alphaduck.errors import ChecksFailedError
        from alphaduck.quality.gate import run_gate

        # drift compares with a trained model's window: on a warehouse no model was trained on
        # yet it cannot run, so the first run leaves it out (and says so)
        suites = ["raw", "features"] + (["drift"] if _has_trained_model(db) else [])
        report = run_gate(db, suites, docs_dir=reports_dir / DATA_DOCS_DIR.name)
        if not report.success:
            failed = "; ".join(f"{r.suite}.{r.check}: {r.expectation}: {', '.join(r.examples[:3])}" for r in report.failures())
            raise ChecksFailedError(f"quality gate failed ({failed}); see {report.data_docs}")
        produced["data_docs"] = report.data_docs
        drift = "" if "drift" in suites else " (drift: no model trained here yet)"
        return f"{len(report.results)} expectations passed{drift}; Data Docs {report.data_docs}"
    if step == "train":
        from ml.train import TrainOptions, train

        opts = TrainOptions(n_iter=n_iter, n_splits=n_splits, seed=seed, symbols=list(symbols) if ingest == "ibkr" else [],
                            bar_size=bar_size.code if bar_size else None, skip_gate="gate" in skip)  # fmt: skip
        result = train(db, opts, models_root=models_dir)
        produced["model"] = result.metadata
        pooled = result.metadata["test_metrics"]["pooled"]
        m, prev = pooled["model"], pooled["previous_bar"]
        return (f"model {result.run_id}: test AUC {m['auc']:.3f} (previous-bar {prev['auc']:.3f}), "
                f"IC {m['ic']:.3f}, CV {result.metadata['cv']['mean']:.3f}")  # fmt: skip
    if step == "predict":
        from ml.predict import predict

        result = predict(db, run_id=produced.get("model", {}).get("run_id", "latest"), start=start_date, end=end_date,
                         models_root=models_dir)  # fmt: skip
        produced["prediction_run"] = result.run_id
        return f"{result.rows:,} predictions ({result.inserted:,} new) by {result.run_id}"
    if step == "backtest":
        from backtests.backtest import BacktestConfig, run_backtest
        from backtests.strategy import StrategyParams

        config = BacktestConfig(
            prediction_run=produced.get("prediction_run"), params=StrategyParams.from_pairs(list(strategy_params)),
            start=start_date, end=end_date, reports_dir=reports_dir, models_dir=models_dir,
        )  # fmt: skip
        outcome = run_backtest(db, config)
        produced["backtest"] = outcome
        s, b = outcome.stats, outcome.benchmark_stats
        return (f"{outcome.run_id}: return {s['total_return']:.2%} vs buy & hold {b['total_return']:.2%}, "
                f"Sharpe {s['sharpe']:.2f}, max drawdown {s['max_drawdown']:.2%}, {s['trades']} trades; report {outcome.report}")  # fmt: skip
    raise AssertionError(step)


@click.command(
    name="run",
    epilog="""\b
Examples:
  alphaduck run --ingest sample                  # the whole pipeline on the bundled sample
  alphaduck run --skip ingest --skip train       # re-predict with the latest model and backtest
  alphaduck run --ingest ibkr --symbol SPY --symbol QQQ --bar-size '30 mins' --port 4002
  alphaduck run --start-date 2026-02-01 --param long_threshold=0.6 --param flat_at_close=true
""",
)
@options.db
@click.option("--ingest", "ingest", type=click.Choice(["sample", "ibkr", "none"]), default="none", show_default=True,
              help="Where new bars come from.")  # fmt: skip
@click.option("--skip", "skip", multiple=True, type=click.Choice(STEPS), help="Leave a step out (repeatable).")
@click.option("--symbol", "symbols", multiple=True, help="IBKR symbols to ingest and train on (with --ingest ibkr).")
@options.bar_size()
@click.option("--host", default="127.0.0.1", show_default=True, help="IB gateway host (with --ingest ibkr).")
@click.option("--port", default=7497, show_default=True, help="IB gateway port (with --ingest ibkr).")
@click.option("--start-date", metavar="DATE", help="First session to predict and backtest [default: the model's test window].")
@click.option("--end-date", metavar="DATE", help="Last session to predict and backtest.")
@click.option("--n-iter", default=10, show_default=True, help="Training: parameter settings to search.")
@click.option("--n-splits", default=4, show_default=True, help="Training: purged CV folds.")
@click.option("--seed", default=7, show_default=True)
@click.option("--param", "strategy_params", multiple=True, metavar="NAME=VALUE", help="Strategy parameter (see `alphaduck backtest --help`).")
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=MODELS_DIR, show_default=True)
@click.option("--reports", "reports_dir", type=click.Path(path_type=Path), default=REPORTS_DIR, show_default=True)
def run(db, ingest, skip, symbols, bar_size, host, port, start_date, end_date, n_iter, n_splits, seed, strategy_params,
        models_dir, reports_dir) -> None:  # fmt: skip
    """Run the pipeline: ingest -> dbt build -> quality gate -> train -> predict -> backtest -> report."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    status = console.status("alphaduck run", spinner="dots")
    status.start()

    def on_step(step: str, number: int) -> None:
        status.update(f"step {number}/{len(STEPS)}: {step}")

    try:
        results, produced = run_pipeline(
            db, ingest=ingest, skip=set(skip), symbols=symbols, bar_size=bar_size, host=host, port=port,
            start_date=start_date, end_date=end_date, n_iter=n_iter, n_splits=n_splits, seed=seed,
            strategy_params=strategy_params, models_dir=models_dir, reports_dir=reports_dir, on_step=on_step,
        )  # fmt: skip
    finally:
        status.stop()
    table = Table("step", "", "seconds", "result", title="alphaduck run", box=None)
    for r in results:
        mark = {"ok": "[green]ok[/]", "skipped": "[dim]skipped[/]", "failed": "[bold red]FAILED[/]"}[r.status]
        table.add_row(r.step, mark, f"{r.seconds:.1f}", r.detail)
    console.print(table)
    if "model" in produced:
        from ml.train import metrics_table

        console.print(metrics_table(produced["model"]))
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
