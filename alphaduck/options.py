"""CLI options shared by every stage, defined once (as pip-tools' options.py)."""

from __future__ import annotations

import re

import click

from alphaduck.bar_sizes import BarSize, parse_bar_size
from alphaduck.settings import DB_ENV_VAR, DEFAULT_CALENDAR, DEFAULT_DB


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
