"""CLI options shared by every stage, defined once (as pip-tools' options.py)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from alphaduck.bar_sizes import BarSize, parse_bar_size
from alphaduck.settings import DEFAULT_SEED, SETTINGS, default_of


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


# flag > environment variable (click) > alphaduck.toml > default (the callable default)
db = click.option(
    "--db",
    envvar=SETTINGS["db"].env_var,
    default=default_of("db"),
    show_default=f"{SETTINGS['db'].default}, or db in alphaduck.toml",
    show_envvar=True,
    metavar="PATH",
    help="DuckDB warehouse file.",
)
quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary (for scripts).")
calendar = click.option(
    "--calendar",
    envvar=SETTINGS["calendar"].env_var,
    default=default_of("calendar"),
    show_default=f"{SETTINGS['calendar'].default}, or calendar in alphaduck.toml",
    show_envvar=True,
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
    "--models", "models_dir", type=click.Path(file_okay=False, path_type=Path), envvar=SETTINGS["models"].env_var,
    default=default_of("models"), show_default=f"{SETTINGS['models'].default}, or models in alphaduck.toml",
    show_envvar=True, help="Model registry directory.",
)  # fmt: skip
reports = click.option(
    "--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), envvar=SETTINGS["reports"].env_var,
    default=default_of("reports"), show_default=f"{SETTINGS['reports'].default}, or reports in alphaduck.toml",
    show_envvar=True, help="Where HTML reports are written.",
)  # fmt: skip
seed = click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="Random seed (searches, sampling).")


universe = click.option(
    "--universe", metavar="NAME",
    help="Use a symbol only while it was a member of this universe (`alphaduck ingest universe`) "
         "[default: every symbol in the warehouse, today's list: survivorship bias].",
)  # fmt: skip


def symbols(help: str = "Only these symbols (repeatable)."):
    return click.option("--symbol", "symbols", multiple=True, callback=_symbols, metavar="SYMBOL", help=help)


def _symbols(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    cleaned = [s.strip().upper() for s in value]
    if any(not s for s in cleaned):
        raise click.BadParameter("a symbol cannot be blank", ctx=ctx, param=param)
    return cleaned


def check_date(value: object) -> None:
    """Refuse (ValueError, one line) a date the stages cannot compare with bar times: one that
    does not parse, or lies outside the nanosecond timestamps pandas and the warehouse hold."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot parse {value!r}: use 2025-06-01 or 2025-06-01T09:30") from exc
    if pd.isna(stamp) or not pd.Timestamp.min < stamp.tz_localize(None) < pd.Timestamp.max:
        raise ValueError(
            f"{value} is out of range: use a date between {pd.Timestamp.min:%Y-%m-%d} and {pd.Timestamp.max:%Y-%m-%d}"
        )


def date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --start/--end date (so 2026-13-01 and 2299 are refused here, naming the option)."""
    if value is None:
        return None
    try:
        check_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


def require_writable(path: Path | str | None, option: str) -> None:
    """Refuse, before any work, an output folder (--models, --reports, --docs, the folder of
    --csv) that cannot be written: a command that fails at its last step would have changed
    the warehouse for nothing. Nothing is created: the nearest existing folder is probed."""
    if path is None:
        return
    import tempfile

    from alphaduck.errors import AlphaduckError

    existing = Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AlphaduckError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".alphaduck-probe-"):
            pass
    except OSError as exc:
        raise AlphaduckError(f"{option} {path}: cannot write in {existing} ({exc.strerror or exc})") from None
