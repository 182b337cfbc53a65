"""The root ``alphaduck`` command: it only wires each stage's own ``cli.py`` in, lazily.

Lazy loading keeps ``alphaduck ingest`` from importing LightGBM or Great Expectations.
"""

from __future__ import annotations

import importlib
import logging
import os

import click

from alphaduck import __version__
from alphaduck.errors import DEBUG_ENV_VAR, one_line_errors

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


# the packages whose logging -v shows (not GX's, dbt's or the IB client's)
OWN_LOGGERS = ("alphaduck", "ingest", "ml", "backtests", "quality", "pipeline", "dashboard")


def debugging() -> bool:
    """Tracebacks wanted: -v was given, or $ALPHADUCK_DEBUG is set (for entry points without -v)."""
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


def configure_logging(verbose: bool) -> None:
    """Warnings from everyone; with ``verbose`` also alphaduck's own info lines."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.NOTSET)


def standalone(command: click.Command, prog_name: str) -> None:
    """Run one stage command as its own program (``python -m ml.train``) with the same
    one-line errors as under ``alphaduck``; $ALPHADUCK_DEBUG shows tracebacks and the log."""
    run = command.invoke

    def invoke(ctx: click.Context):
        configure_logging(debugging())
        with one_line_errors(verbose=debugging(), hint=f"rerun with {DEBUG_ENV_VAR}=1 for the traceback"):
            return run(ctx)

    command.invoke = invoke
    command.main(prog_name=prog_name)


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        # the one place any unforeseen exception becomes one line and exit 1 (AlphaduckError and
        # the other click exceptions pass through as they are)
        with one_line_errors(verbose=bool(ctx.params.get("verbose")) or debugging()):
            return super().invoke(ctx)

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
@click.option(
    "--verbose", "-v", "--debug", "verbose", is_flag=True,
    help=f"Show alphaduck's own log, and the traceback of a failure (also ${DEBUG_ENV_VAR}=1).",
)  # fmt: skip
def main(verbose: bool) -> None:
    """alphaduck: a research pipeline from IBKR bars to backtests, one DuckDB warehouse."""
    configure_logging(verbose or debugging())
