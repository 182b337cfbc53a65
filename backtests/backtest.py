"""A backtest: a model run's predictions -> signals -> an engine (bt by default) -> figures,
tables and a report. `alphaduck backtest` (backtests/cli.py) drives it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from alphaduck import trials
from alphaduck.contracts import CPCV_PREDICTIONS, PREDICTIONS
from alphaduck.errors import AlphaduckError
from alphaduck.settings import MODELS_DIR, REPORTS_DIR
from alphaduck.warehouse import Warehouse, relation_exists
from backtests import data, tables
from backtests.costs import CostModel
from backtests.engine_bt import run_bt
from backtests.engines import ENGINES  # noqa: E402
from backtests.overfitting import min_track_record_length
from backtests.results import benchmark_weights, fill_prices, fill_weights
from backtests.stats import compute_stats, deflated_sharpe, drawdown, excess_figures, honesty, round_trips
from backtests.strategy import StrategyParams, target_weights


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
    validation window), with the sweep's overfitting statistics. The trial ledger holds the
    configurations, so the deflated Sharpe of that window counts them; the test window,
    untouched by the choice, counts only the trials made on it."""

    n_trials: int
    sharpe_variance: float
    window: tuple[str, str]
    sweep_id: str | None = None
    overfitting: object | None = None  # backtests.sweep.Overfitting


@dataclass
class BacktestOutcome:
    run_id: str
    stats: dict
    benchmark_stats: dict
    in_sample_stats: dict | None
    report: Path | None
    equity: pd.Series
    trades: pd.DataFrame


def simulate(predictions: pd.DataFrame, bars: pd.DataFrame, config: BacktestConfig,
             bars_per_year: float | None = None) -> dict:  # fmt: skip
    """Signals, the engine's run and the benchmark (no warehouse access). ``config.params``
    have its thresholds set (see resolve_params); an unset fill is the default one.
    ``bars_per_year`` spreads the shorts' yearly borrow fee over the bars (bt and the vector
    engine charge it; the adapters do not)."""
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
        result = run_bt(prices, weights, bars_per_year=bars_per_year, **kwargs)
        benchmark = run_bt(prices, hold, name="benchmark", **kwargs)
    else:
        if config.engine == "vector":
            result = run_vector(prices, weights, bars_per_year=bars_per_year, **kwargs)
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
    differing one refused unless allowed) and quantile thresholds (on the score's percentile
    among the model's validation scores)."""
    metadata = model.metadata if model else {}
    try:
        params = params.resolve_fill(metadata.get("fill"), allow_mismatch=allow_fill_mismatch)
        return params.with_quantile_thresholds()
    except ValueError as exc:
        who = f"model {model.run_id}: " if model else ""
        raise AlphaduckError(f"{who}{exc}") from exc


@dataclass
class Inputs:
    """What one backtest reads: a model run's predictions and the bars it trades on."""

    prediction_run: str
    predictions: pd.DataFrame  # symbol, bar_size, ts, proba_up, score, score_pct
    bars: pd.DataFrame
    bar_size: str
    symbols: list[str]
    calendar: str
    model: object | None  # the registered model that made them (None if it left the registry)
    signal: dict | None = None  # its signal analysis (ml.signal_*), if `alphaduck analyze` ran


def load_inputs(warehouse: Warehouse, config: BacktestConfig) -> Inputs:
    """The predictions of one run (newest by default) in the window asked for, the bars of
    their symbols, the calendar, and the model that made them (checked: same warehouse, same
    bar size)."""
    from alphaduck.features import built_features

    with warehouse.reader() as con:
        if not relation_exists(con, PREDICTIONS):
            raise AlphaduckError(f"{PREDICTIONS} does not exist: run `alphaduck build`, then `alphaduck predict`")
        prediction_run = config.prediction_run or data.latest_prediction_run(con)
        predictions = data.load_predictions(con, prediction_run, symbols=config.symbols or None, start=config.start,
                                            end=config.end)  # fmt: skip
        bar_sizes = predictions["bar_size"].unique()
        if len(bar_sizes) > 1:
            raise AlphaduckError(f"run {prediction_run} has predictions for bar sizes {', '.join(bar_sizes)}: pick symbols of one")
        bar_size = bar_sizes[0]
        bars = data.bars_for(con, predictions, bar_size)
        calendar = built_features(con).calendar
        signal = data.load_signal_analysis(con, prediction_run)
        model = _registered(prediction_run, config.models_dir)
        if model is not None:
            from ml.registry import check_fits

            check_fits(model, con, bar_size=bar_size, rows=False)  # predict checked the rows
    if model is not None:
        predictions["score_pct"] = model.score_percentile(predictions["ts"], predictions["score"].to_numpy(float))
    return Inputs(prediction_run, predictions, bars, bar_size, sorted(predictions["symbol"].unique()), calendar, model, signal)


@dataclass
class Measured:
    """A simulation's figures: the strategy's, the benchmark's, the in-sample run's."""

    stats: dict
    benchmark_stats: dict
    in_sample: dict | None
    trades: pd.DataFrame


def measure(sim: dict, config: BacktestConfig, bars_per_year: float, in_sample: dict | None) -> Measured:
    """Performance and honesty figures of a simulation (pure)."""
    result, benchmark, prices = sim["result"], sim["benchmark"], sim["prices"]
    stats = compute_stats(result.equity, result.transactions, result.positions, prices, bars_per_year=bars_per_year)
    # the test window played no part in choosing the configuration: one trial there
    stats |= honesty(result.equity.pct_change().dropna().to_numpy(), bars_per_year)
    returns = result.equity.pct_change().dropna().to_numpy()
    stats["min_track_record_years"] = min_track_record_length(returns) / bars_per_year
    if config.selection:
        stats |= {"selected_from": config.selection.n_trials, "selection_window": "..".join(config.selection.window)}
        if config.selection.overfitting is not None:
            o = config.selection.overfitting
            stats |= {"pbo": o.pbo, "spa_p": o.spa_p, "reality_check_p": o.reality_check_p,
                      "min_backtest_years": o.min_backtest_years, "selection_years": o.window_years}  # fmt: skip
    benchmark_stats = compute_stats(benchmark.equity, benchmark.transactions, benchmark.positions, prices,
                                    bars_per_year=bars_per_year)  # fmt: skip
    benchmark_stats |= honesty(benchmark.equity.pct_change().dropna().to_numpy(), bars_per_year)
    stats |= excess_figures(result.equity, benchmark.equity, bars_per_year=bars_per_year)
    return Measured(stats, benchmark_stats, in_sample, round_trips(result.transactions))


def write_report(inputs: Inputs, sim: dict, measured: Measured, config: BacktestConfig, run_id: str) -> Path:
    from backtests.report import build_report

    prices, c = sim["prices"], config.costs
    return build_report(
        config.reports_dir / f"{run_id}.html",
        title=f"Backtest {run_id}",
        subtitle=(
            f"model run {inputs.prediction_run}; {len(inputs.symbols)} symbols, {inputs.bar_size} bars, "
            f"{prices.index[0]:%Y-%m-%d} .. {prices.index[-1]:%Y-%m-%d}; fills at {config.params.fill.replace('_', ' ')}; "
            f"costs: IB tiered {c.per_share} USD/share (min {c.min_per_order}, max {c.max_pct_of_value:.0%}) + "
            f"{c.slippage_bps:g} bps slippage"
        ),
        equity=sim["result"].equity, benchmark=sim["benchmark"].equity, prices=prices, trades=measured.trades,
        stats=measured.stats, benchmark_stats=measured.benchmark_stats, daily_stats=sim["result"].daily_stats,
        in_sample=measured.in_sample, signal=inputs.signal,
        importance=inputs.model.importance() if inputs.model else None,
    )  # fmt: skip


def record(warehouse: Warehouse, inputs: Inputs, sim: dict, measured: Measured, config: BacktestConfig, run_id: str,
           created: datetime, report: Path | None, *, paths: pd.DataFrame | None = None) -> None:  # fmt: skip
    """Replace the run's rows in backtest.runs / equity / trades / signals, in one transaction."""
    result, benchmark, prices = sim["result"], sim["benchmark"], sim["prices"]
    gross = (result.positions.abs() * prices).sum(axis=1)
    equity_table = pd.DataFrame({
        "ts": result.equity.index,
        "equity": result.equity.to_numpy(),
        "benchmark_equity": benchmark.equity.reindex(result.equity.index).to_numpy(),
        "drawdown": drawdown(result.equity).to_numpy(),
        "gross_exposure": (gross / result.equity).to_numpy(),
    })  # fmt: skip
    in_sample = measured.in_sample
    run = {
        "run_id": run_id,
        "prediction_run_id": inputs.prediction_run,
        "created_at": created,
        "engine": config.engine,
        "bar_size": inputs.bar_size,
        "symbols": inputs.symbols,
        "first_ts": prices.index[0],
        "last_ts": prices.index[-1],
        "initial_capital": config.initial_capital,
        "parameters": asdict(config.params),
        "costs": asdict(config.costs),
        "stats": _clean(measured.stats),
        "benchmark_stats": _clean(measured.benchmark_stats),
        "bt_daily_stats": _clean(result.daily_stats),
        "in_sample_stats": _clean(in_sample["stats"]) | {"window": in_sample["window"]} if in_sample else None,
        "sweep_id": config.selection.sweep_id if config.selection else None,
        "report": str(report) if report else None,
    }
    with warehouse.transaction() as con:
        tables.write_run(con, run, equity_table, measured.trades.rename(columns={"open": "is_open"}), sim["signals"], paths)


def run_backtest(db: Warehouse | str | Path | None, config: BacktestConfig) -> BacktestOutcome:
    """load_inputs -> resolve the strategy -> simulate -> measure -> report -> record."""
    warehouse = Warehouse.of(db)
    inputs = load_inputs(warehouse, config)
    per_year = data.bars_per_year(inputs.bars[inputs.bars["ts"] <= inputs.predictions["ts"].max()], inputs.calendar)
    config = replace(config, params=resolve_params(config.params, inputs.model, allow_fill_mismatch=config.allow_fill_mismatch))
    if config.params.threshold_on == "score_pct" and inputs.predictions["score_pct"].isna().all():
        raise AlphaduckError(
            f"run {inputs.prediction_run}: quantile thresholds need the model that made the predictions (its validation "
            f"scores) and its scores in {PREDICTIONS}; re-run `alphaduck predict --run-id {inputs.prediction_run}`"
        )
    sim = simulate(inputs.predictions, inputs.bars, config, per_year)
    in_sample = _in_sample(warehouse, inputs.model, config) if config.in_sample and _has_validation(inputs.model) else None
    measured = measure(sim, config, per_year, in_sample)
    paths = cpcv_paths(warehouse, inputs, config, per_year)
    if paths is not None:
        measured.stats |= paths.figures()
    created = datetime.now(UTC)
    run_id = config.run_id or f"{created:%Y%m%dT%H%M%SZ}-bt-{uuid.uuid4().hex[:6]}"
    measured.stats |= deflate(warehouse, "backtest", inputs.prediction_run, run_id, sim, config, per_year)
    report = write_report(inputs, sim, measured, config, run_id) if config.report else None
    record(warehouse, inputs, sim, measured, config, run_id, created, report, paths=paths.paths if paths else None)
    return BacktestOutcome(run_id, measured.stats, measured.benchmark_stats, in_sample["stats"] if in_sample else None,
                           report, sim["result"].equity, measured.trades)  # fmt: skip


def deflate(warehouse: Warehouse, kind: str, run: str, source_id: str, sim: dict, config: BacktestConfig,
            bars_per_year: float) -> dict:  # fmt: skip
    """Record the simulation in the trial ledger and deflate its Sharpe by every traded trial
    on the same run and window (N and the variance of their per-bar Sharpes): the DSR, N and
    where the trials came from."""
    equity = sim["result"].equity
    returns = equity.pct_change().dropna().to_numpy()
    window = (equity.index[0], equity.index[-1])
    row = trials.trial_row(kind=kind, run_id=run, source_id=source_id, parameters=asdict(config.params) | asdict(config.costs),
                           window=window, returns=returns, bars_per_year=bars_per_year)  # fmt: skip
    with warehouse.transaction() as con:
        trials.record(con, [row])
        counted = trials.deflation(con, run, window)
    return {"dsr": deflated_sharpe(returns, counted.n_trials, counted.sharpe_variance), "n_trials": counted.n_trials,
            "trials_counted": counted.describe()}  # fmt: skip


def cpcv_paths(warehouse: Warehouse, inputs: Inputs, config: BacktestConfig, bars_per_year: float):
    """For a model trained with --cv cpcv: the strategy on each of its out-of-sample paths of
    the search window (backtests.cpcv), or None for other models."""
    from backtests.cpcv import run_paths

    cv = inputs.model.metadata.get("cv", {}) if inputs.model is not None else {}
    if cv.get("kind") != "cpcv":
        return None
    with warehouse.reader() as con:
        predictions = data.load_cpcv_predictions(con, inputs.prediction_run, symbols=config.symbols or None)
        if predictions.empty:
            raise AlphaduckError(f"model {inputs.prediction_run} was trained with --cv cpcv but {CPCV_PREDICTIONS} has "
                                 "none of its rows: retrain it")  # fmt: skip
        bars = data.bars_for(con, predictions, inputs.bar_size)
    predictions["score_pct"] = inputs.model.score_percentile(predictions["ts"], predictions["score"].to_numpy(float))
    return run_paths(predictions, bars, config, bars_per_year, n_groups=cv["n_groups"], n_test_groups=cv["n_test_groups"])


def _has_validation(model) -> bool:
    """A single model has a validation window before its test window to compare with; a
    walk-forward run's predictions are all out of sample."""
    return model is not None and model.metadata.get("kind", "single") == "single"


def _registered(run_id: str, models_dir: Path):
    """The registered model that made the predictions, or None if it is no longer in the
    registry (its predictions still backtest; there is just nothing to compare them with)."""
    from ml.registry import resolve

    try:
        return resolve(run_id, root=models_dir)
    except AlphaduckError:
        return None


def _in_sample(warehouse: Warehouse, model, config: BacktestConfig) -> dict:
    """The same strategy and costs on the model's validation window (vector engine, which
    gives bt's numbers): the in-sample side of the in-sample / out-of-sample comparison. When
    a sweep chose the configuration on this window, its deflated Sharpe counts every
    configuration the sweep tried (the trial ledger holds them)."""
    from backtests.validation import score_validation

    scored = score_validation(warehouse, model)
    sim = simulate(scored.predictions, scored.bars, replace(config, engine="vector"), scored.bars_per_year)
    result = sim["result"]
    stats = compute_stats(result.equity, result.transactions, result.positions, sim["prices"], bars_per_year=scored.bars_per_year)
    stats |= honesty(result.equity.pct_change().dropna().to_numpy(), scored.bars_per_year)
    # a trial on the validation window: its DSR counts every trial there (a sweep's included)
    stats |= deflate(warehouse, "in_sample", model.run_id, None, sim, config, scored.bars_per_year)
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
