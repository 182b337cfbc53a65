"""`alphaduck sweep`: search strategy parameters on the model's validation window with the
vector engine, record every configuration, re-run the chosen one with bt on the test window.

The validation window is the one the model early-stopped on, before its test window, so
choosing a configuration there leaves the test window out of sample. Every configuration
tried counts: the deflated Sharpe of the chosen one is computed against the Sharpe the best
of that many skill-less configurations would reach.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import pandas as pd

from alphaduck import options
from alphaduck.errors import AlphaduckError
from alphaduck.settings import MODELS_DIR, REPORTS_DIR
from alphaduck.warehouse import connect
from backtests.costs import CostModel
from backtests.data import insert_frame
from backtests.stats import curve_figures
from backtests.strategy import Panel, StrategyParams, kernel_params, make_panel

DEFAULT_GRID: dict[str, list] = {
    "long_quantile": [0.6, 0.7, 0.8, 0.9],
    "min_hold": [1, 2, 4, 8],
    "cooldown": [0, 2],
    "max_hold": [None, 13],
    "sizing": ["fixed", "confidence"],
    "flat_at_close": [False, True],
}
METRICS = ("sharpe", "total_return", "calmar")


@dataclass
class ConfigResult:
    config_id: int
    parameters: dict
    sharpe: float  # annualised
    bar_sharpe: float  # per bar (what the deflated Sharpe's variance is taken over)
    total_return: float
    max_drawdown: float
    calmar: float
    entries: int


def parse_grid(pairs: list[str], base: dict[str, list] | None = None) -> dict[str, list]:
    """NAME=v1,v2,... strings over a grid (each names one StrategyParams field)."""
    grid = dict(base if base is not None else DEFAULT_GRID)
    for pair in pairs:
        try:
            name, text = StrategyParams.parse_value(pair)
            grid[name] = [getattr(StrategyParams.from_pairs([f"{name}={v}"]), name) for v in text.split(",")]
        except ValueError as exc:
            raise AlphaduckError(f"--grid {pair!r}: {exc}") from exc
    return grid


def configurations(grid: dict[str, list], *, random: int | None = None, seed: int = 7) -> list[dict]:
    """Every combination of the grid, or ``random`` of them drawn without replacement."""
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]
    if random is not None and random < len(combos):
        picks = np.random.default_rng(seed).choice(len(combos), size=random, replace=False)
        combos = [combos[i] for i in sorted(picks)]
    return combos


def evaluate(panel: Panel, prices: dict[str, np.ndarray], base: StrategyParams, values: dict, quantiles: dict | None,
             costs: CostModel, capital: float, bars_per_year: float, config_id: int) -> ConfigResult:  # fmt: skip
    """One configuration on the panel: the fused compiled pass (no pandas, no bars x symbols
    intermediates on this path). ``base`` has its fill resolved."""
    from backtests.kernels import sweep_equity

    params = replace(base, **values).with_model_quantiles(quantiles)
    equity, entries = sweep_equity(
        panel.signal(params), panel.confidence, panel.has_bar, panel.last_of_session, panel.last_bar,
        prices[params.fill], float(capital), costs.rates, kernel_params(params, len(panel.symbols)),
    )  # fmt: skip
    f = curve_figures(equity, bars_per_year)
    return ConfigResult(config_id, {**values}, f["sharpe"], f["bar_sharpe"], f["total_return"], f["max_drawdown"],
                        f["calmar"], entries)  # fmt: skip


def run_sweep(panel: Panel, configs: list[dict], *, base: StrategyParams, quantiles: dict | None, costs: CostModel,
              capital: float, bars_per_year: float, workers: int = 2,
              on_done=None) -> list[ConfigResult]:  # fmt: skip
    """Evaluate every configuration, ``workers`` at a time (the kernels release the GIL)."""
    prices = {"next_open": panel.fill_prices("next_open"), "next_close": panel.fill_prices("next_close")}

    def one(item):
        i, values = item
        result = evaluate(panel, prices, base, values, quantiles, costs, capital, bars_per_year, i)
        if on_done:
            on_done()
        return result

    evaluate(panel, prices, base, configs[0], quantiles, costs, capital, bars_per_year, 0)  # compile once, outside the pool
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(configs)))


SWEEPS_DDL = """
create schema if not exists backtest;
create table if not exists backtest.sweeps (
    sweep_id varchar not null,
    config_id integer not null,
    model_run_id varchar not null,
    created_at timestamptz not null,
    window_start date not null,
    window_end date not null,
    parameters json not null,
    sharpe double,
    total_return double,
    max_drawdown double,
    calmar double,
    entries integer,
    chosen boolean not null,
    test_backtest_run_id varchar,
    primary key (sweep_id, config_id)
)
"""


def record_sweep(db, sweep_id: str, model_run: str, window: tuple[str, str], results: list[ConfigResult], chosen: int,
                 test_run_id: str | None) -> None:  # fmt: skip
    frame = pd.DataFrame(
        {
            "sweep_id": sweep_id, "config_id": [r.config_id for r in results], "model_run_id": model_run,
            "created_at": datetime.now(UTC), "window_start": pd.Timestamp(window[0]).date(), "window_end": pd.Timestamp(window[1]).date(),
            "parameters": [json.dumps(r.parameters) for r in results], "sharpe": [r.sharpe for r in results],
            "total_return": [r.total_return for r in results], "max_drawdown": [r.max_drawdown for r in results],
            "calmar": [r.calmar for r in results], "entries": [r.entries for r in results],
            "chosen": [r.config_id == chosen for r in results],
            "test_backtest_run_id": [test_run_id if r.config_id == chosen else None for r in results],
        }
    )  # fmt: skip
    con = connect(db)
    try:
        con.execute(SWEEPS_DDL)
        con.execute("begin")
        con.execute("delete from backtest.sweeps where sweep_id = ?", [sweep_id])
        insert_frame(con, "backtest.sweeps", frame)
        con.execute("commit")
    finally:
        con.close()


def _ensure_test_predictions(db, model, models_dir: Path) -> None:
    """The chosen configuration is judged on the model's test window: score it if not yet."""
    from ml.predict import predict

    con = connect(db, read_only=True)
    try:
        start = model.metadata["windows"]["test"][0]
        have = con.execute(
            "select count(*) from ml.predictions where run_id = ? and ts >= ?::date", [model.run_id, start]
        ).fetchall()[0][0]
    finally:
        con.close()
    if not have:
        predict(db, run_id=model.run_id, models_root=models_dir)


@click.command(
    name="sweep",
    epilog="""\b
Examples:
  alphaduck sweep                                          # the default grid (256 configurations)
  alphaduck sweep --grid long_quantile=0.7,0.8,0.9 --grid min_hold=1,3,6
  alphaduck sweep --random 100 --seed 3 --metric calmar
\b
Default grid: long_quantile 0.6,0.7,0.8,0.9; min_hold 1,2,4,8; cooldown 0,2; max_hold none,13;
sizing fixed,confidence; flat_at_close false,true. Any StrategyParams field can be a --grid.
""",
)
@options.db
@click.option("--model", "model_run", default="latest", show_default=True, help="Registered model run whose validation window to sweep.")
@click.option("--grid", "grid_pairs", multiple=True, metavar="NAME=V1,V2", help="Values to try for a parameter (repeatable).")
@click.option("--param", "fixed", multiple=True, metavar="NAME=VALUE", help="A parameter held fixed for every configuration.")
@click.option("--random", "random_n", type=int, help="Try this many configurations drawn from the grid instead of all.")
@click.option("--seed", default=7, show_default=True)
@click.option("--metric", type=click.Choice(METRICS), default="sharpe", show_default=True, help="What the choice maximises.")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, help="Configurations evaluated at once.")
@click.option("--capital", default=100_000.0, show_default=True)
@click.option("--slippage-bps", default=1.0, show_default=True)
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=MODELS_DIR, show_default=True)
@click.option("--reports", "reports_dir", type=click.Path(path_type=Path), default=REPORTS_DIR, show_default=True)
@options.quiet
def sweep(db, model_run, grid_pairs, fixed, random_n, seed, metric, workers, capital, slippage_bps, models_dir,
          reports_dir, quiet) -> None:  # fmt: skip
    """Choose strategy parameters on the validation window (vector engine), then backtest the
    choice with bt on the test window, with its deflated Sharpe."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from backtests.backtest import BacktestConfig, Selection, resolve_params, run_backtest, summary_table
    from backtests.validation import score_validation
    from ml.registry import resolve

    model = resolve(model_run, root=models_dir)
    try:
        base = StrategyParams.from_pairs(list(fixed))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from exc
    base = resolve_params(base, model)  # the fill; each configuration sets its own quantiles
    grid = parse_grid(list(grid_pairs))
    configs = configurations(grid, random=random_n, seed=seed)
    costs = CostModel(slippage_bps=slippage_bps)
    quantiles = model.metadata.get("valid_raw_score_quantiles")
    console = Console()
    started = time.perf_counter()
    scored = score_validation(db, model)
    panel = make_panel(scored.predictions, scored.bars)
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True,
                  disable=quiet) as bar:  # fmt: skip
        task = bar.add_task("", total=len(configs))
        try:
            results = run_sweep(panel, configs, base=base, quantiles=quantiles, costs=costs, capital=capital,
                                bars_per_year=scored.bars_per_year, workers=workers,
                                on_done=lambda: bar.advance(task))  # fmt: skip
        except ValueError as exc:
            raise AlphaduckError(f"sweep: {exc}") from exc
    seconds = time.perf_counter() - started
    ranked = sorted(results, key=lambda r: (np.nan_to_num(getattr(r, metric), nan=-np.inf)), reverse=True)
    best = ranked[0]
    variance = float(np.var([r.bar_sharpe for r in results], ddof=1)) if len(results) > 1 else 0.0
    sweep_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-sweep-{uuid.uuid4().hex[:6]}"

    _ensure_test_predictions(db, model, models_dir)
    chosen = replace(base, **best.parameters)
    selection = Selection(n_trials=len(results), sharpe_variance=variance, window=scored.window, sweep_id=sweep_id)
    outcome = run_backtest(db, BacktestConfig(
        prediction_run=model.run_id, params=chosen, costs=costs, initial_capital=capital, selection=selection,
        reports_dir=reports_dir, models_dir=models_dir, start=model.metadata["windows"]["test"][0],
    ))  # fmt: skip
    record_sweep(db, sweep_id, model.run_id, scored.window, results, best.config_id, outcome.run_id)

    if not quiet:
        table = Table("#", "parameters", "Sharpe", "return", "max DD", "entries", title=f"top of {len(results)} on {' .. '.join(scored.window)} (validation)", box=None)
        for r in ranked[:10]:
            table.add_row(str(r.config_id), ", ".join(f"{k}={v}" for k, v in r.parameters.items()), f"{r.sharpe:.2f}",
                          f"{r.total_return:.2%}", f"{r.max_drawdown:.2%}", str(r.entries))  # fmt: skip
        console.print(table)
        console.print(summary_table(outcome))
    s, chosen_in_sample = outcome.stats, outcome.in_sample_stats or {}
    console.print(
        f"sweep {sweep_id}: {len(results)} configurations in {seconds:.1f} s; chosen #{best.config_id} "
        f"(validation Sharpe {best.sharpe:.2f}, deflated Sharpe {chosen_in_sample.get('dsr', float('nan')):.1%} "
        f"over the {len(results)} tried there) -> test window with bt: Sharpe {s['sharpe']:.2f}, "
        f"return {s['total_return']:.2%}, PSR {s['psr']:.1%}; backtest {outcome.run_id}"
        + (f"; report {outcome.report}" if outcome.report else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip
