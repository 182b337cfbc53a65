"""The root ``alphaduck`` command: it only wires each stage's own ``cli.py`` in, lazily.

Lazy loading keeps ``alphaduck ingest`` from importing LightGBM or Great Expectations.
"""

from __future__ import annotations

import importlib
import logging

import click

from alphaduck import __version__

# command name -> "module:attribute"; each stage owns its commands in <stage>/cli.py
STAGE_COMMANDS = {
    "ingest": "ingest.cli:ingest",
    "build": "alphaduck.build:build",
    "lookahead": "alphaduck.lookahead:lookahead",
    "sql": "alphaduck.sql:sql",
    "check": "quality.cli:check",
    "train": "ml.cli:train_command",
    "predict": "ml.cli:predict_command",
    "models": "ml.cli:models",
    "analyze": "ml.cli:analyze_command",
    "backtest": "backtests.cli:backtest",
    "run": "pipeline.cli:run",
    "sweep": "backtests.cli:sweep",
    "dashboard": "dashboard.cli:dashboard",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *STAGE_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = STAGE_COMMANDS.get(name)
        if target is None:
            return super().get_command(ctx, name)
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExamples:\n  alphaduck run --ingest sample     # the whole pipeline on the bundled sample\n  alphaduck ingest sample\n  alphaduck ingest file data/sample/spy_daily_1999-11_2023-03.csv.gz --symbol SPY\n  alphaduck build",
)
@click.version_option(__version__, prog_name="alphaduck")
@click.option("--verbose", "-v", is_flag=True, help="Log what the libraries underneath say.")
def main(verbose: bool) -> None:
    """alphaduck: a research pipeline from IBKR bars to backtests, one DuckDB warehouse."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
