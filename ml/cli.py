"""The ML stage's commands: `alphaduck train` (also `python -m ml.train`), `alphaduck predict`
(also `python -m ml.predict`) and `alphaduck models list|show`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from alphaduck import options
from alphaduck.contracts import PREDICTIONS


def _progress(quiet: bool):
    """A progress display for long work: rich bars in a terminal, a plain line per step
    otherwise (a CI log shows each step as it happens)."""
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=True, disable=quiet or not sys.stderr.isatty())  # fmt: skip


@click.command(
    name="train",
    epilog="""\b
Examples:
  python -m ml.train                               # classifier on label_direction_1
  alphaduck train --n-iter 20 --n-splits 5 --seed 1
  alphaduck train --objective regression --calibrate --symbol SPY --symbol QQQ
  alphaduck train --test-start 2026-01-02 --valid-start 2025-11-03
  alphaduck train --walk-forward --step 252 --window expanding --n-iter 4     # yearly refits
  alphaduck train --cv cpcv --cv-groups 6 --cv-test-groups 2                  # 15 splits, 5 backtest paths
  alphaduck train --walk-forward --objective lambdarank --horizon 5 --window rolling --train-sessions 1260
  alphaduck train --dask local                    # search and fit on a local Dask cluster
  alphaduck train --dask scheduler.example:8786   # ... or on a running one
""",
)
@options.db
@options.bar_size(help="Bar size to train on (default: the only one in the feature table).")
@options.symbols(help="Train on these symbols only (repeatable).")
@options.universe
@click.option("--objective", type=click.Choice(("classification", "regression", "lambdarank")), default="classification",
              show_default=True, help="lambdarank: LightGBM's ranker, one query per timestamp, on cross-sectional ranks.")
@click.option("--label", type=click.Choice(("direction", "fwd_return", "xs_rank", "xs_excess")),
              help="Label kind to learn [default: direction / fwd_return / xs_rank by objective].")
@click.option("--horizon", type=click.IntRange(min=1), help="Label horizon in bars, one of dbt var label_horizons [default: label_horizon].")
@click.option("--n-iter", default=10, show_default=True, type=click.IntRange(min=1), help="Parameter settings the search samples.")
@click.option("--n-splits", default=4, show_default=True, type=click.IntRange(min=2), help="Purged time-series CV folds.")
@click.option("--cv", "cv", type=click.Choice(("purged", "cpcv")), default="purged", show_default=True,
              help="Search on walk-forward purged folds, or combinatorial purged CV (cpcv): its C(N, k) models also "
                   "score the search window, and `alphaduck backtest` reports one Sharpe per out-of-sample path.")
@click.option("--cv-groups", default=6, show_default=True, type=click.IntRange(min=2), help="--cv cpcv: N groups of time.")
@click.option("--cv-test-groups", default=2, show_default=True, type=click.IntRange(min=1),
              help="--cv cpcv: k groups tested by each split (k / N x C(N, k) paths).")
@click.option("--embargo", type=click.IntRange(min=0), help="Bars between training and each CV fold beyond the label horizon [default: the horizon].")
@options.seed
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Last share of sessions held out for test (walk-forward: predicted).")
@click.option("--valid-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the rest before it, for early stopping.")
@click.option("--test-start", metavar="DATE", help="First test session (instead of --test-fraction).")
@click.option("--valid-start", metavar="DATE", help="First validation session (instead of --valid-fraction).")
@click.option("--calibrate", is_flag=True, help="Isotonic calibration of probabilities, fitted on validation.")
@click.option("--skip-gate", is_flag=True, help="Train even if the features quality gate fails (recorded in the model).")
@click.option("--walk-forward", is_flag=True, help="Retrain every --step sessions and predict each step out of sample.")
@click.option("--step", default=63, show_default=True, type=click.IntRange(min=1), help="Walk-forward: sessions each fold predicts.")
@click.option("--window", type=click.Choice(("expanding", "rolling")), default="expanding", show_default=True,
              help="Walk-forward: train on everything before (expanding) or the last --train-sessions (rolling).")
@click.option("--train-sessions", type=click.IntRange(min=10), help="Walk-forward: training sessions of a rolling window.")
@click.option("--valid-sessions", type=click.IntRange(min=1), help="Walk-forward: early-stopping sessions before each step [default: --step].")
@click.option("--first-test", metavar="DATE", help="Walk-forward: first predicted session [default: after 1 - --test-fraction of them].")
@click.option("--search-each-fold", is_flag=True, help="Walk-forward: search hyperparameters in every fold (default: the first only).")
@click.option("--dask", "dask", metavar="local|HOST:PORT",
              help="Fan the search out to a Dask cluster and fit data-parallel with lightgbm.dask (with the searched "
                   "number of trees: LightGBM's Dask interface has no early stopping); local starts one here.")
@options.models
@options.quiet
def train_command(db, bar_size, symbols, universe, objective, label, horizon, n_iter, n_splits, cv, cv_groups, cv_test_groups,
                  embargo, seed, test_fraction,
                  valid_fraction, test_start, valid_start, calibrate, skip_gate, walk_forward, step, window, train_sessions,
                  valid_sessions, first_test, search_each_fold, dask, models_dir, quiet) -> None:  # fmt: skip
    """Train LightGBM on marts.fct_features and register it under models/<run_id>/; with
    --walk-forward, refit as time passes and write the out-of-sample predictions."""
    from rich.console import Console

    from alphaduck.symbols import check_symbols
    from ml.train import TrainOptions, metrics_table, train

    check_symbols(db, symbols)
    options.require_writable(models_dir, "--models")
    opts = TrainOptions(
        bar_size=bar_size.code if bar_size else None, symbols=symbols, universe=universe, objective=objective, label=label, horizon=horizon,
        n_iter=n_iter, n_splits=n_splits, cv=cv, cv_groups=cv_groups, cv_test_groups=cv_test_groups, embargo=embargo,
        seed=seed, test_fraction=test_fraction,
        valid_fraction=valid_fraction, test_start=test_start, valid_start=valid_start, calibrate=calibrate,
        skip_gate=skip_gate, walk_forward=walk_forward, step=step, window=window, train_sessions=train_sessions,
        valid_sessions=valid_sessions, first_test=first_test, search_each_fold=search_each_fold, dask=dask,
    )  # fmt: skip
    started = time.perf_counter()
    with _progress(quiet) as bar:
        task = bar.add_task("train", total=None)
        last = [""]

        def on_progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total if step.endswith("search") or "fold" in step else None)
            if bar.disable and not quiet and step != last[0]:
                click.echo(f"train: {step}", err=True)  # plain lines when not in a terminal
                last[0] = step

        result = train(db, opts, models_root=models_dir, on_progress=on_progress)
    console = Console()
    if not quiet:
        console.print(metrics_table(result.metadata))
    m = result.metadata
    cv = m["cv"]
    folds = f", {len(m['folds'])} walk-forward folds" if m.get("kind") == "walk_forward" else ""
    console.print(
        f"model {result.run_id}: {len(m['features'])} features, {m['parameters']['n_estimators']} trees, "
        f"CV {cv['mean']:.4f} ({', '.join(f'{s:.4f}' for s in cv['fold_scores'])}){folds}, gate {m['gate']['status']}, "
        f"{time.perf_counter() - started:.0f} s -> {result.path}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


@click.command(
    name="predict",
    epilog="""\b
Examples:
  python -m ml.predict                                   # latest model, from its test window on
  alphaduck predict --run-id 20261126T120000Z-clf-1a2b3c --start 2026-01-02 --end 2026-03-31
  alphaduck predict --symbol SPY --csv reports/spy_predictions.csv
""",
)
@options.db
@click.option("--run-id", default="latest", show_default=True, help="Registered model run (see `alphaduck models list`).")
@click.option("--start", metavar="DATE", callback=options.date, help="First session to score [default: the model's test window start].")
@click.option("--end", metavar="DATE", callback=options.date, help="Last session to score [default: the last bar].")
@options.symbols(help="Score these symbols (repeatable) [default: the model's].")
@click.option("--csv", type=click.Path(path_type=Path, dir_okay=False), help="Also write the scored rows to this CSV.")
@options.models
@options.quiet
def predict_command(db, run_id, start, end, symbols, csv, models_dir, quiet) -> None:
    """Score feature rows with a registered model and upsert them into ml.predictions."""
    from alphaduck.contracts import PREDICTIONS
    from alphaduck.symbols import check_symbols
    from ml.predict import predict

    check_symbols(db, symbols)
    options.require_writable(csv.parent if csv else None, "--csv")
    result = predict(db, run_id=run_id, start=start, end=end, symbols=symbols or None, models_root=models_dir, csv=csv)
    if not quiet and not result.rows:
        click.echo(f"model {result.run_id}: nothing new to score (its walk-forward folds scored everything up to now)")
    elif not quiet:
        click.echo(
            f"model {result.run_id}: {result.rows:,} rows scored ({result.first_ts:%Y-%m-%d %H:%M} .. "
            f"{result.last_ts:%Y-%m-%d %H:%M} UTC), {result.inserted:,} inserted, {result.updated:,} updated in {PREDICTIONS}"
            + (f"; CSV {csv}" if csv else "")
        )


@click.group(name="models")
def models() -> None:
    """The model registry under models/ (one directory per training run)."""


@models.command(name="list", epilog="\b\nExamples:\n  alphaduck models list\n  alphaduck models list --models /data/models")
@options.models
def list_models(models_dir: Path) -> None:
    """Every registered model, newest first, with its test metrics."""
    from rich.console import Console
    from rich.table import Table

    from ml.registry import list_runs, resolve

    runs = list_runs(models_dir)
    console = Console()
    if not runs:
        console.print("no models yet: run `alphaduck train`")
        return
    latest = resolve("latest", root=models_dir).run_id
    from rich.table import Column

    table = Table(Column("run id", no_wrap=True), "objective", "data", "CV", "AUC", "IC", "gate", box=None)
    for run in runs:
        m = run.metadata
        pooled = m["test_metrics"]["pooled"]["model"]
        table.add_row(
            run.run_id + ("*" if run.run_id == latest else ""), m["objective"][:5],
            f"{len(m['symbols'])}x{m['bar_size']}", f"{m['cv']['mean']:.3f}",
            f"{pooled['auc']:.3f}" if "auc" in pooled else "-", f"{pooled['ic']:.3f}", m["gate"]["status"],
        )  # fmt: skip
    table.caption = "* latest; CV and AUC/IC on the test window"
    console.print(table)


@models.command(name="show", epilog="\b\nExamples:\n  alphaduck models show latest\n  alphaduck models show 20261126T120000Z-clf-1a2b3c")
@click.argument("run_id", default="latest")
@options.models
def show_model(run_id: str, models_dir: Path) -> None:
    """One model: what it was trained on, how, and its test metrics beside the baselines."""
    from rich.console import Console

    from ml.registry import resolve
    from ml.train import metrics_table

    model = resolve(run_id, root=models_dir)
    m = model.metadata
    console = Console()
    w = m["windows"]
    lines = [
        f"run {model.run_id}  ({model.path})",
        f"created {m['created_at']}  git {m['git_commit']}  gate {m['gate']['status']}",
        f"{m['objective']} on {m['label']} (horizon {m['horizon']} bars, embargo {m['embargo']}), {m['bar_size']} bars, "
        f"{len(m['symbols'])} symbols, {len(m['features'])} features",
        f"train {w['train'][0]}..{w['train'][1]} ({m['rows']['train']:,} rows)  valid {w['valid'][0]}..{w['valid'][1]} "
        f"({m['rows']['valid']:,})  test {w['test'][0]}..{w['test'][1]} ({m['rows']['test']:,})",
        f"parameters {m['parameters']}",
        f"CV ({m['search']['scoring']}) {m['cv']['mean']:.4f} per fold {[round(s, 4) for s in m['cv']['fold_scores']]}",
        f"training rows fingerprint {m['training_fingerprint'][:16]}…  dbt manifest {str(m['dbt_manifest_sha256'])[:16]}…",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(metrics_table(m))
    importance = model.importance()
    if importance is not None:
        console.print("top features by gain: " + ", ".join(importance["feature"].head(10)), highlight=False, soft_wrap=True)


@click.command(
    name="analyze",
    epilog="""\b
Examples:
  alphaduck analyze                                   # the newest prediction run, every label horizon
  alphaduck analyze --prediction-run 20261202T073209Z-wf-clf-de559e --horizons 1,5
  alphaduck sql "select * from ml.signal_summary where method = 'spearman'"
\b
Writes ml.signal_runs, ml.signal_ic (per date), ml.signal_summary (mean, std, ICIR, t-stat per
horizon, Pearson and Spearman), ml.signal_by_year, ml.signal_by_symbol, ml.signal_quantiles
(mean forward return per score quintile) and ml.signal_turnover (rank autocorrelation and
top/bottom quintile turnover per date).
""",
)
@options.db
@click.option("--prediction-run", help=f"Prediction run to analyse [default: the newest in {PREDICTIONS}].")
@click.option("--horizons", metavar="H1,H2", callback=lambda ctx, param, value: _horizons(value),
              help="Label horizons to measure against [default: every horizon the labels were built for].")
@click.option("--quantiles", default=5, show_default=True, type=click.IntRange(2, 20), help="Score buckets per date.")
@options.quiet
def analyze_command(db, prediction_run, horizons, quantiles, quiet) -> None:
    """Signal analysis of a model run's scores: IC, rank IC and ICIR per date, year and symbol,
    quantile returns and spread, IC decay, rank autocorrelation and turnover (ml.signal_*)."""
    from rich.console import Console

    from ml.analyze import analyze_run

    analysis = analyze_run(db, run_id=prediction_run, horizons=horizons, quantiles=quantiles)
    console = Console()
    rank = analysis.report["rank_ic_summary"]
    if not quiet:
        console.print(signal_table(analysis))
        by_year = analysis.report["rank_ic_by_year"]["ic_mean"]
        first = rank.index[0]
        console.print("rank IC by year (" + first.removeprefix("fwd_") + "-bar horizon): " + ", ".join(
            f"{year} {value:.3f}" for (year, horizon), value in by_year.items() if horizon == first),
            highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"analysis of {analysis.run_id}: {analysis.rows_used:,} scored rows ({analysis.rows_dropped:,} without "
                  "every forward return or cross-section left out) -> ml.signal_*", highlight=False, soft_wrap=True)  # fmt: skip


def signal_table(analysis):
    """A rich table of a run's IC, ICIR and spread per horizon, beside Qlib's published figures."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ml.analyze import QLIB_ALPHA158_LGBM

    rank, pearson, spread = analysis.report["rank_ic_summary"], analysis.report["ic_summary"], analysis.report["spread"]
    table = Table("horizon", "IC", "ICIR", "rank IC", "rank ICIR", "t (rank IC)", "top - bottom", "dates",
                  title=f"signal analysis of {analysis.run_id}: per-date IC of the score with label_fwd_return_<h>",
                  box=None)  # fmt: skip
    for column in rank.index:
        table.add_row(column.removeprefix("fwd_"), f"{pearson.loc[column, 'ic_mean']:.4f}", f"{pearson.loc[column, 'icir']:.3f}",
                      f"{rank.loc[column, 'ic_mean']:.4f}", f"{rank.loc[column, 'icir']:.3f}", f"{rank.loc[column, 't_stat']:.2f}",
                      f"{spread.loc[column, 'spread']:.4%}", f"{int(rank.loc[column, 'n']):,}")  # fmt: skip
    q = QLIB_ALPHA158_LGBM
    table.add_row("Qlib*", f"{q['ic']:.4f}", f"{q['icir']:.3f}", f"{q['rank_ic']:.4f}", "-", "", "", "", style="dim")
    note = Text("* Qlib's published Alpha158 + LightGBM benchmark: CSI300 (China A-shares), daily, test 2017-01..2020-08; "
                "a different market and period, for scale only.", style="dim")  # fmt: skip
    return Group(table, note)


def _horizons(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        horizons = sorted({int(v) for v in value.split(",")})
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected whole numbers of bars, e.g. 1,5,20", param_hint="--horizons") from None
    if any(h < 1 for h in horizons):
        raise click.BadParameter(f"{value!r}: horizons are at least 1 bar", param_hint="--horizons")
    return horizons
