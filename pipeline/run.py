"""`alphaduck run`: the whole pipeline in order (ingest -> dbt build -> quality gate -> train
-> predict -> backtest -> report), every step skippable, one summary at the end.

It sits after every stage because it calls each of them (stages only import backwards
along the flow). A failing step stops the run; the steps before it keep what they wrote, so
fixing the cause and re-running with the done steps skipped resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from alphaduck.contracts import PREDICTIONS
from alphaduck.errors import AlphaduckError, ChecksFailedError
from alphaduck.settings import DATA_DOCS_DIR, MODELS_DIR, REPORTS_DIR
from alphaduck.warehouse import Warehouse

STEPS = ("ingest", "build", "gate", "train", "predict", "analyze", "backtest")
SOURCES = ("sample", "ibkr", "none")


@dataclass
class RunConfig:
    """Everything one `alphaduck run` does, made once at the command line."""

    ingest: str = "none"  # where new bars come from: sample, ibkr or none
    sample: str = "us24-30min"  # which bundled sample (with --ingest sample)
    skip: set[str] = field(default_factory=set)
    symbols: list[str] = field(default_factory=list)  # IBKR symbols to fetch and train on
    bar_size: object | None = None  # a BarSize
    host: str = "127.0.0.1"
    port: int = 7497
    start_date: str | None = None  # first session to predict and backtest
    end_date: str | None = None
    train: object | None = None  # ml.train.TrainOptions
    strategy: object | None = None  # backtests.strategy.StrategyParams
    gate_thresholds: list[str] = field(default_factory=list)  # NAME=VALUE overrides of the quality gate
    models_dir: Path = MODELS_DIR
    reports_dir: Path = REPORTS_DIR


@dataclass
class StepResult:
    step: str
    status: str  # ok | skipped | failed
    seconds: float
    detail: str


# -- the steps: each takes the warehouse, the config and what earlier steps produced -------------------


def ingest_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    if config.ingest == "sample":
        from ingest.load import ingest_sample

        result = ingest_sample(config.sample, db=warehouse.path)
        return f"{result.rows_read:,} rows read, {result.counts.inserted:,} new"
    if config.ingest == "ibkr":
        import asyncio

        import pandas as pd

        from alphaduck.bar_sizes import parse_bar_size
        from ingest.ibkr import IbkrOptions, ingest_ibkr

        if not config.symbols:
            raise AlphaduckError("--ingest ibkr needs --symbol (repeatable)")
        start = pd.Timestamp(config.start_date, tz="UTC").to_pydatetime() if config.start_date else None
        options = IbkrOptions(symbols=config.symbols, bar_size=config.bar_size or parse_bar_size("30 mins"),
                              host=config.host, port=config.port, start=start)  # fmt: skip
        result, _ = asyncio.run(ingest_ibkr(options, db=warehouse.path))
        return f"{result.counts.inserted:,} new bars from IB at {config.host}:{config.port}"
    raise AlphaduckError(f"--ingest {config.ingest!r}: expected one of {', '.join(SOURCES)}")


def build_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from alphaduck.build import dbt_build

    outcome = dbt_build(warehouse)
    if not outcome.ok:
        raise ChecksFailedError("dbt build failed: " + "; ".join(outcome.failures))
    notes = "".join(f"; {note}" for note in outcome.notes)  # e.g. a feature table rebuilt in full, and why
    return f"{outcome.models} models, {outcome.tests_passed} tests passed, {outcome.tests_warned} warned{notes}"


def _has_trained_model(warehouse: Warehouse) -> bool:
    from alphaduck.contracts import TRAIN_RUNS
    from alphaduck.warehouse import relation_exists

    with warehouse.reader() as con:
        return relation_exists(con, TRAIN_RUNS) and bool(con.execute(f"select count(*) from {TRAIN_RUNS}").fetchall()[0][0])


def gate_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from quality.gate import run_gate

    # drift compares with a trained model's window: on a warehouse no model was trained on
    # yet it cannot run, so the first run leaves it out (and says so)
    suites = ["raw", "features"] + (["drift"] if _has_trained_model(warehouse) else [])
    from quality.suites import Thresholds

    thresholds = Thresholds().with_overrides(config.gate_thresholds)
    report = run_gate(warehouse, suites, thresholds=thresholds, docs_dir=config.reports_dir / DATA_DOCS_DIR.name)
    if not report.success:
        failed = "; ".join(f"{r.suite}.{r.check}: {r.expectation}: {', '.join(r.examples[:3])}" for r in report.failures())
        failed += "".join(f"; {suite}: {why}" for suite, why in report.unavailable.items())
        raise ChecksFailedError(f"quality gate failed ({failed.lstrip('; ')}); see {report.data_docs}")
    produced["data_docs"] = report.data_docs
    drift = "" if "drift" in suites else " (drift: no model trained here yet)"
    return f"{len(report.results)} expectations passed{drift}; Data Docs {report.data_docs}"


def train_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from dataclasses import replace

    from ml.train import TrainOptions, train

    opts = replace(
        config.train or TrainOptions(),
        symbols=config.symbols if config.ingest == "ibkr" else [],
        bar_size=config.bar_size.code if config.bar_size else None,
        skip_gate="gate" in config.skip,
    )
    result = train(warehouse, opts, models_root=config.models_dir)
    produced["model"] = result.metadata
    pooled = result.metadata["test_metrics"]["pooled"]
    m, prev = pooled["model"], pooled["previous_bar"]
    headline = f"AUC {m['auc']:.3f} (previous-bar {prev['auc']:.3f}), " if "auc" in m else ""
    return f"model {result.run_id}: test {headline}IC {m['ic']:.3f}, CV {result.metadata['cv']['mean']:.3f}"


def predict_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from ml.predict import predict

    run_id = produced.get("model", {}).get("run_id", "latest")
    result = predict(warehouse, run_id=run_id, start=config.start_date, end=config.end_date, models_root=config.models_dir)
    produced["prediction_run"] = result.run_id
    return f"{result.rows:,} predictions ({result.inserted:,} new) by {result.run_id}"


def analyze_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from ml.analyze import analyze_run

    run_id = produced.get("prediction_run")
    with warehouse.reader() as con:
        symbols = con.execute(f"select count(distinct symbol) from {PREDICTIONS} where run_id = coalesce(?, "
                              f"(select run_id from {PREDICTIONS} order by created_at desc limit 1))", [run_id]).fetchall()[0][0]  # fmt: skip
    if symbols < 2:
        return "left out: one symbol has no cross-section to rank"
    analysis = analyze_run(warehouse, run_id=run_id)
    produced["analysis"] = analysis
    rank = analysis.report["rank_ic_summary"].iloc[0]
    return (f"{analysis.run_id}: rank IC {rank['ic_mean']:.4f}, rank ICIR {rank['icir']:.3f} over {int(rank['n']):,} "
            f"dates ({analysis.report['rank_ic_summary'].index[0].removeprefix('fwd_')}-bar horizon) -> ml.signal_*")


def backtest_step(warehouse: Warehouse, config: RunConfig, produced: dict) -> str:
    from backtests.backtest import BacktestConfig, run_backtest
    from backtests.strategy import StrategyParams

    backtest = BacktestConfig(
        prediction_run=produced.get("prediction_run"), params=config.strategy or StrategyParams(),
        start=config.start_date, end=config.end_date, reports_dir=config.reports_dir, models_dir=config.models_dir,
    )  # fmt: skip
    outcome = run_backtest(warehouse, backtest)
    produced["backtest"] = outcome
    s, b = outcome.stats, outcome.benchmark_stats
    return (f"{outcome.run_id}: return {s['total_return']:.2%} vs benchmark {b['total_return']:.2%}, "
            f"Sharpe {s['sharpe']:.2f}, max drawdown {s['max_drawdown']:.2%}, {s['trades']} trades; report {outcome.report}")  # fmt: skip


STEP_FUNCTIONS: dict[str, Callable[[Warehouse, RunConfig, dict], str]] = {
    "ingest": ingest_step,
    "build": build_step,
    "gate": gate_step,
    "train": train_step,
    "predict": predict_step,
    "analyze": analyze_step,
    "backtest": backtest_step,
}


def preset(name: str) -> RunConfig:
    """The named end-to-end research runs (`alphaduck run --preset NAME`)."""
    from backtests.strategy import StrategyParams
    from ml.train import TrainOptions

    if name == "dow30-daily":
        # the Dow 30 + SPY daily file with its 25 splits; a regressor on the next day's
        # cross-sectional return rank (Qlib's Alpha158 + LightGBM setup), refitted every year
        # from 2010 on, on point-in-time DJIA members only (dow30-members: no symbol before it
        # joined the index); a top-5 portfolio replacing at most one name a day, against the
        # equal-weight universe of members (the backtest takes the model's universe). The gate tolerates the file's known quirks: wicks of 20-28%
        # beyond the day's body in 2000-2010 (vendor errors such as NKE 2000-02-08's low of 26.5
        # in a 37-45 day, and the 2010-05-06 flash crash) and SPY ending three sessions before
        # the others; moves over 30% still fail it.
        return RunConfig(
            ingest="sample", sample="dow30-daily",
            train=TrainOptions(walk_forward=True, step=252, first_test="2010-01-01", objective="regression",
                               label="xs_rank", horizon=1, n_iter=4, n_splits=3, universe="dow30"),
            strategy=StrategyParams(kind="topk", topk=5, n_drop=1),
            gate_thresholds=["max_abs_return=0.30", "max_sessions_behind=3"],
        )  # fmt: skip
    raise AlphaduckError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")


PRESETS = ("dow30-daily",)


def run_pipeline(
    db: Warehouse | str | Path | None, config: RunConfig, *, on_step: Callable[[str, int], None] | None = None
) -> tuple[list[StepResult], dict]:
    """Run the steps in order; returns each step's result and what later steps produced."""
    warehouse = Warehouse.of(db)
    produced: dict = {}
    results: list[StepResult] = []
    for number, step in enumerate(STEPS, start=1):
        if on_step:
            on_step(step, number)
        if step in config.skip or (step == "ingest" and config.ingest == "none"):
            results.append(StepResult(step, "skipped", 0.0, ""))
            continue
        started = time.perf_counter()
        try:
            detail = STEP_FUNCTIONS[step](warehouse, config, produced)
        except (click.ClickException, ValueError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            results.append(StepResult(step, "failed", time.perf_counter() - started, message))
            produced["failed"] = (step, exc)
            break
        results.append(StepResult(step, "ok", time.perf_counter() - started, detail))
    return results, produced
