"""CLI options shared by every stage, defined once (as pip-tools' options.py)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from alphaduck.bar_sizes import BarSize, parse_bar_size
from alphaduck.settings import DB_ENV_VAR, DEFAULT_CALENDAR, DEFAULT_DB, DEFAULT_SEED, MODELS_DIR, REPORTS_DIR


def _bar_size(ctx: click.Context, param: click.Parameter, value: str | None) -> BarSize | None:
    if value is None:
        return None
    try:
        return parse_bar_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def safe_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A name that becomes a file name (a backtest's --run-id names its report): letters,
    digits, '.', '_' and '-', not starting with a dot, so it cannot point outside its folder."""
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}", value):
        from alphaduck.errors import AlphaduckError

        raise AlphaduckError(
            f"{param.opts[0]} {value!r} is not a plain name: use letters, digits, '.', '_' and '-' "
            "(no '/', no leading '.'), so that it cannot name a file outside its folder"
        )
    return value


db = click.option(
    "--db",
    envvar=DB_ENV_VAR,
    default=str(DEFAULT_DB),
    show_default=True,
    show_envvar=True,
    metavar="PATH",
    help="DuckDB warehouse file.",
)
quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary (for scripts).")
calendar = click.option(
    "--calendar",
    default=DEFAULT_CALENDAR,
    show_default=True,
    help="exchange_calendars code for sessions, holidays and half-days.",
)


def bar_size(
    *, required: bool = False, default: str | None = None, help: str = "Bar size, e.g. '30 mins', 30min, 1d."
):
    return click.option(
        "--bar-size",
        default=default,
        required=required,
        show_default=default is not None,
        callback=_bar_size,
        help=help,
    )


models = click.option(
    "--models", "models_dir", type=click.Path(file_okay=False, path_type=Path), default=MODELS_DIR, show_default=True,
    help="Model registry directory.",
)  # fmt: skip
reports = click.option(
    "--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=REPORTS_DIR, show_default=True,
    help="Where HTML reports are written.",
)  # fmt: skip
seed = click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="Random seed (searches, sampling).")


def symbols(help: str = "Only these symbols (repeatable)."):
    return click.option("--symbol", "symbols", multiple=True, callback=_symbols, metavar="SYMBOL", help=help)


def _symbols(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    cleaned = [s.strip().upper() for s in value]
    if any(not s for s in cleaned):
        raise click.BadParameter("a symbol cannot be blank", ctx=ctx, param=param)
    return cleaned
