"""`alphaduck models list|show`: the model registry."""

from __future__ import annotations

from pathlib import Path

import click

models_option = click.option(
    "--models", "models_root", type=click.Path(path_type=Path), help="Registry directory [default: models]."
)


@click.group(name="models")
def models() -> None:
    """The model registry under models/ (one directory per training run)."""


@models.command(name="list", epilog="\b\nExamples:\n  alphaduck models list\n  alphaduck models list --models /data/models")
@models_option
def list_models(models_root: Path | None) -> None:
    """Every registered model, newest first, with its test metrics."""
    from rich.console import Console
    from rich.table import Table

    from ml.registry import list_runs, resolve

    runs = list_runs(models_root)
    console = Console()
    if not runs:
        console.print("no models yet: run `alphaduck train`")
        return
    latest = resolve("latest", root=models_root).run_id
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
@models_option
def show_model(run_id: str, models_root: Path | None) -> None:
    """One model: what it was trained on, how, and its test metrics beside the baselines."""
    import pandas as pd
    from rich.console import Console

    from ml.registry import resolve
    from ml.train import metrics_table

    model = resolve(run_id, root=models_root)
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
    importance = pd.read_csv(model.path / "importance.csv").head(10)
    console.print("top features by gain: " + ", ".join(importance["feature"]), highlight=False, soft_wrap=True)
