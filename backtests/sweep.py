"""A sweep: search strategy parameters on the model's validation window with the vector
engine, record every configuration, re-run the chosen one with bt on the test window
(`alphaduck sweep`, backtests/cli.py, drives it).

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from alphaduck import trials
from alphaduck.contracts import PREDICTIONS, SWEEP_RETURNS, SWEEP_STATS, SWEEPS
from alphaduck.errors import AlphaduckError
from alphaduck.pairs import split_pairs
from alphaduck.settings import DEFAULT_SEED, MODELS_DIR, REPORTS_DIR
from alphaduck.warehouse import Warehouse, insert_frame, relation_exists
from backtests.costs import CostModel
from backtests.stats import curve_figures
from backtests.strategy import Panel, StrategyParams, kernel_params, make_panel
from backtests.tables import ensure_tables

DEFAULT_GRID: dict[str, list] = {
    "long_quantile": [0.6, 0.7, 0.8, 0.9],
    "min_hold": [1, 2, 4, 8],
    "cooldown": [0, 2],
    "max_hold": [None, 13],
    "sizing": ["fixed", "confidence"],
    "flat_at_close": [False, True],
}
# a ranking portfolio (topk, long_short) ignores the threshold rules: sweeping them would
# only repeat the same configuration (the trial ledger would count it once anyway)
DEFAULT_RANKING_GRID: dict[str, list] = {
    "topk": [3, 5, 8],
    "n_drop": [1, 2],
    "rebalance": [1, 5, 20],
}
METRICS = ("sharpe", "total_return", "calmar")


def default_grid(kind: str) -> dict[str, list]:
    """The parameters worth sweeping for a strategy kind."""
    return dict(DEFAULT_GRID if kind == "threshold" else DEFAULT_RANKING_GRID)


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
    returns: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))  # per bar, on the sweep's window


def parse_grid(pairs: list[str], base: dict[str, list] | None = None) -> dict[str, list]:
    """NAME=v1,v2,... strings over a grid (each names one StrategyParams field); ValueError
    names a bad one."""
    grid = dict(base if base is not None else DEFAULT_GRID)
    for name, text in split_pairs(pairs, [f.name for f in fields(StrategyParams)], what="strategy parameter"):
        grid[name] = [getattr(StrategyParams.from_pairs([f"{name}={v}"]), name) for v in text.split(",")]
    return grid


def configurations(grid: dict[str, list], *, random: int | None = None, seed: int = DEFAULT_SEED) -> list[dict]:
    """Every combination of the grid, or ``random`` of them drawn without replacement."""
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]
    if random is not None and random < len(combos):
        picks = np.random.default_rng(seed).choice(len(combos), size=random, replace=False)
        combos = [combos[i] for i in sorted(picks)]
    return combos


def evaluate(panel: Panel, prices: dict[str, np.ndarray], base: StrategyParams, batch: list[tuple[int, dict]],
             costs: CostModel, capital: float, bars_per_year: float) -> list[ConfigResult]:  # fmt: skip
    """Configurations (config_id, values) on the panel, in batch order. Threshold strategies
    that read the same signal and fill prices run together in one fused compiled pass (no
    pandas, no bars x symbols intermediates on this path); a ranking strategy runs alone.
    ``base`` has its fill resolved."""
    from backtests.kernels import simulate, sweep_equity
    from backtests.strategy import change_matrix, weights_matrix

    rates = costs.kernel_rates(bars_per_year)
    curves: dict[int, tuple[np.ndarray, int]] = {}
    together: dict[tuple[str, str], list[tuple[int, StrategyParams]]] = {}
    for config_id, values in batch:
        params = replace(base, **values).with_quantile_thresholds()
        if params.kind == "threshold":
            together.setdefault((params.threshold_on, params.fill), []).append((config_id, params))
        else:  # a ranking strategy: its weights, then the same portfolio pass
            weights, _ = weights_matrix(panel, params)
            equity, _ = simulate(prices[params.fill], change_matrix(weights, panel.has_bar), float(capital), *rates)
            previous = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])
            curves[config_id] = equity, int(((weights != 0) & (previous == 0)).sum())
    for (_, fill), members in together.items():
        equities, entries = sweep_equity(
            panel.signal(members[0][1]), panel.confidence, panel.has_bar, panel.last_of_session, panel.last_bar,
            prices[fill], float(capital), rates, [kernel_params(p, len(panel.symbols)) for _, p in members],
        )  # fmt: skip
        for (config_id, _), equity, n in zip(members, equities, entries, strict=True):
            curves[config_id] = equity, int(n)
    results = []
    for config_id, values in batch:
        equity, entries = curves[config_id]
        f = curve_figures(equity, bars_per_year)
        results.append(ConfigResult(config_id, {**values}, f["sharpe"], f["bar_sharpe"], f["total_return"],
                                    f["max_drawdown"], f["calmar"], entries, equity[1:] / equity[:-1] - 1))  # fmt: skip
    return results


def batches(items: list, workers: int, most: int = 128) -> list[list]:
    """items cut into about 4 batches per worker (so one slow batch leaves little idle), of at
    most ``most`` (a batch keeps configurations x bars of equity in memory)."""
    size = min(most, max(1, -(-len(items) // (4 * workers))))
    return [items[start:start + size] for start in range(0, len(items), size)]


def run_sweep(panel: Panel, configs: list[dict], *, base: StrategyParams, costs: CostModel, capital: float,
              bars_per_year: float, workers: int = 2, on_done=None, dask: str | None = None) -> list[ConfigResult]:  # fmt: skip
    """Evaluate every configuration, in batches run ``workers`` at a time (the kernels release
    the GIL), or on the workers of the Dask cluster ``dask`` (alphaduck.cluster)."""
    prices = {"next_open": panel.fill_prices("next_open"), "next_close": panel.fill_prices("next_close")}
    if dask:
        return _run_on_dask(dask, panel, prices, configs, base, costs, capital, bars_per_year, on_done)

    def one(batch):
        results = evaluate(panel, prices, base, batch, costs, capital, bars_per_year)
        for _ in results:
            if on_done:
                on_done()
        return results

    evaluate(panel, prices, base, [(0, configs[0])], costs, capital, bars_per_year)  # compile once, outside the pool
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for done in pool.map(one, batches(list(enumerate(configs)), workers)) for r in done]


def _run_on_dask(address: str, panel: Panel, prices: dict[str, np.ndarray], configs: list[dict], base: StrategyParams,
                 costs: CostModel, capital: float, bars_per_year: float, on_done=None) -> list[ConfigResult]:  # fmt: skip
    """run_sweep on a Dask cluster: the panel sent to every worker once, the configurations
    in a few batches per worker (each batch one task), results in configuration order."""
    from dask.distributed import as_completed

    from alphaduck.cluster import dask_client, worker_count

    with dask_client(address) as client:
        shared = client.scatter([panel, prices], broadcast=True)
        futures = [client.submit(evaluate, *shared, base, batch, costs, capital, bars_per_year, pure=False)
                   for batch in batches(list(enumerate(configs)), worker_count(client))]  # fmt: skip
        results: list[ConfigResult] = []
        for future in as_completed(futures):
            done = future.result()
            results += done
            for _ in done:
                if on_done:
                    on_done()
    return sorted(results, key=lambda r: r.config_id)


@dataclass
class Overfitting:
    """How much a sweep's choice can be trusted (backtests/overfitting.py's statistics)."""

    pbo: float  # probability of backtest overfitting (CSCV, 16 blocks)
    logits: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    reality_check_p: float  # White: no configuration beats holding cash
    spa_p: float  # Hansen's SPA, consistent p-value
    spa_lower_p: float
    spa_upper_p: float
    min_backtest_years: float  # MinBTL for the chosen one's Sharpe given the configurations tried
    window_years: float

    def as_row(self) -> dict:
        return {
            "pbo": self.pbo, "logits": json.dumps(np.round(self.logits, 6).tolist()),
            "degradation_slope": self.degradation_slope, "degradation_intercept": self.degradation_intercept,
            "prob_oos_loss": self.prob_oos_loss, "reality_check_p": self.reality_check_p, "spa_p": self.spa_p,
            "spa_lower_p": self.spa_lower_p, "spa_upper_p": self.spa_upper_p,
            "min_backtest_years": self.min_backtest_years, "window_years": self.window_years,
        }  # fmt: skip


def overfitting(results: list[ConfigResult], best: ConfigResult, *, bars_per_year: float, seed: int) -> Overfitting:
    """PBO by CSCV over the configurations' per-bar returns (Bailey et al. 2017), White's
    Reality Check and Hansen's SPA against holding cash (stationary bootstrap), and the
    minimum backtest length for the chosen configuration's Sharpe (pure)."""
    from backtests.overfitting import min_backtest_length, pbo, reality_check, spa_test

    matrix = np.column_stack([r.returns for r in results]) if results else np.empty((0, 0))
    matrix = np.nan_to_num(matrix, nan=0.0)
    n_bars = matrix.shape[0]
    if len(results) < 2 or n_bars < 32:
        raise ValueError(f"overfitting statistics need at least 2 configurations and 32 bars, got {len(results)} x {n_bars}")
    cscv = pbo(matrix, n_blocks=16)
    spa = spa_test(matrix, n_boot=1000, seed=seed)
    return Overfitting(
        pbo=float(cscv.pbo), logits=np.asarray(cscv.logits, float),
        degradation_slope=float(cscv.degradation_slope), degradation_intercept=float(cscv.degradation_intercept),
        prob_oos_loss=float(cscv.prob_oos_loss), reality_check_p=float(reality_check(matrix, n_boot=1000, seed=seed)),
        spa_p=float(spa.consistent), spa_lower_p=float(spa.lower), spa_upper_p=float(spa.upper),
        min_backtest_years=float(min_backtest_length(len(results), best.sharpe)) if best.sharpe > 0 else float("inf"),
        window_years=n_bars / bars_per_year,
    )  # fmt: skip


def record_sweep(warehouse: Warehouse, sweep_id: str, model_run: str, window: tuple[str, str], results: list[ConfigResult],
                 chosen: int, test_run_id: str | None, stats: Overfitting | None = None) -> None:  # fmt: skip
    """The sweep's configurations (backtest.sweeps), their per-bar returns on the window
    (backtest.sweep_returns: what PBO is computed from) and its overfitting statistics
    (backtest.sweep_stats), replacing any earlier rows of the sweep, in one transaction."""
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
    with warehouse.transaction() as con:
        ensure_tables(con)
        for table in (SWEEPS, SWEEP_RETURNS, SWEEP_STATS):
            con.execute(f"delete from {table} where sweep_id = ?", [sweep_id])
        insert_frame(con, SWEEPS, frame)
        n_bars = len(results[0].returns) if results else 0
        returns = pd.DataFrame({
            "sweep_id": sweep_id,
            "config_id": np.repeat([r.config_id for r in results], n_bars),
            "bar": np.tile(np.arange(1, n_bars + 1), len(results)),
            "ret": np.concatenate([r.returns for r in results]) if results else np.empty(0),
        })  # fmt: skip
        insert_frame(con, SWEEP_RETURNS, returns)
        if stats is not None:
            insert_frame(con, SWEEP_STATS, pd.DataFrame([{"sweep_id": sweep_id, **stats.as_row()}]))


def _ensure_test_predictions(warehouse: Warehouse, model, models_dir: Path) -> None:
    """The chosen configuration is judged on the model's test window: score it if not yet."""
    from ml.predict import predict

    with warehouse.reader() as con:
        start = model.metadata["windows"]["test"][0]
        have = relation_exists(con, PREDICTIONS) and con.execute(
            f"select count(*) from {PREDICTIONS} where run_id = ? and ts >= ?::date", [model.run_id, start]
        ).fetchall()[0][0]
    if not have:
        predict(warehouse, run_id=model.run_id, models_root=models_dir)


@dataclass
class SweepConfig:
    model_run: str = "latest"
    grid: dict[str, list] = field(default_factory=lambda: dict(DEFAULT_GRID))
    fixed: StrategyParams = field(default_factory=StrategyParams)
    random: int | None = None
    seed: int = DEFAULT_SEED
    metric: str = "sharpe"
    workers: int = os.cpu_count() or 1
    capital: float = 100_000.0
    costs: CostModel = field(default_factory=CostModel)
    models_dir: Path = MODELS_DIR
    reports_dir: Path = REPORTS_DIR
    universe: str | None = None  # default: the model's
    dask: str | None = None  # "local" or a scheduler's HOST:PORT: configurations run on Dask


@dataclass
class SweepOutcome:
    sweep_id: str
    window: tuple[str, str]
    results: list[ConfigResult]
    ranked: list[ConfigResult]
    best: ConfigResult
    seconds: float
    backtest: object  # the chosen configuration's BacktestOutcome on the test window
    overfitting: Overfitting | None


def sweep_and_backtest(db, config: SweepConfig, *, on_done: Callable[[], None] | None = None) -> SweepOutcome:
    """Score the model's validation window, run every configuration there (vector engine),
    choose by ``config.metric``, record the sweep, and backtest the choice with bt on the
    test window (its deflated Sharpe on the validation window counts every configuration)."""
    from backtests.backtest import BacktestConfig, Selection, resolve_params, run_backtest
    from backtests.validation import score_validation
    from ml.registry import resolve

    warehouse = Warehouse.of(db)
    model = resolve(config.model_run, root=config.models_dir)
    base = resolve_params(config.fixed, model)  # the fill; each configuration sets its own quantiles
    configs = configurations(config.grid, random=config.random, seed=config.seed)
    started = time.perf_counter()
    universe = config.universe or model.metadata.get("universe")
    scored = score_validation(warehouse, model, universe=universe)
    panel = make_panel(scored.predictions, scored.bars)
    try:
        results = run_sweep(panel, configs, base=base, costs=config.costs, capital=config.capital,
                            bars_per_year=scored.bars_per_year, workers=config.workers, on_done=on_done,
                            dask=config.dask)  # fmt: skip
    except ValueError as exc:
        raise AlphaduckError(f"sweep: {exc}") from exc
    seconds = time.perf_counter() - started
    ranked = sorted(results, key=lambda r: (np.nan_to_num(getattr(r, config.metric), nan=-np.inf)), reverse=True)
    best = ranked[0]
    variance = float(np.var([r.bar_sharpe for r in results], ddof=1)) if len(results) > 1 else 0.0
    sweep_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-sweep-{uuid.uuid4().hex[:6]}"
    try:
        stats = overfitting(results, best, bars_per_year=scored.bars_per_year, seed=config.seed)
    except ValueError:
        stats = None  # too short or too few to measure: the sweep still records and says so
    # every configuration is a trial on the validation window: the chosen one's deflated
    # Sharpe there counts them all (and any other trial on that window)
    window = (panel.index[0], panel.index[-1])
    with warehouse.transaction() as con:
        trials.record(con, [trials.trial_row(kind="sweep", run_id=model.run_id, source_id=sweep_id, parameters=r.parameters,
                                             window=window, returns=r.returns, bars_per_year=scored.bars_per_year)
                            for r in results])  # fmt: skip

    _ensure_test_predictions(warehouse, model, config.models_dir)
    selection = Selection(n_trials=len(results), sharpe_variance=variance, window=scored.window, sweep_id=sweep_id,
                          overfitting=stats)  # fmt: skip
    outcome = run_backtest(warehouse, BacktestConfig(
        prediction_run=model.run_id, params=replace(base, **best.parameters), costs=config.costs,
        initial_capital=config.capital, selection=selection, reports_dir=config.reports_dir,
        models_dir=config.models_dir, start=model.metadata["windows"]["test"][0], universe=universe,
    ))  # fmt: skip
    record_sweep(warehouse, sweep_id, model.run_id, scored.window, results, best.config_id, outcome.run_id, stats)
    return SweepOutcome(sweep_id, scored.window, results, ranked, best, seconds, outcome, stats)
