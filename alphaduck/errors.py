"""Exit codes and the error type every stage raises for bad input.

Library code raises; only the CLI edge turns errors into exits (click does that
for ``ClickException`` subclasses, and :func:`one_line_errors` for everything else).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import sys
import traceback
from collections.abc import Iterator

import click

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1  # data tests or the quality gate found problems
EXIT_BAD_INPUT = 2  # bad arguments, bad data, unreachable services
EXIT_UNEXPECTED = 1  # a failure no check foresaw: one line, the traceback behind -v

# the variable that shows tracebacks where there is no -v to pass (python -m ml.train)
DEBUG_ENV_VAR = "ALPHADUCK_DEBUG"

# colour and cursor codes (dbt colours its messages) never reach a one-line message
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_QUOTED_FILE = re.compile(r'file "([^"]+)"')

log = logging.getLogger("alphaduck")


def one_line(message: object) -> str:
    """``message`` as one line: no ANSI codes, every run of whitespace one space."""
    return " ".join(_ANSI.sub("", str(message)).split())


class AlphaduckError(click.ClickException):
    """Bad input: the one-line message names the file/row/column or host:port."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line DuckDB or IB message would bury the point.
        super().__init__(one_line(message))


class WarehouseLockedError(AlphaduckError):
    """Another process holds the DuckDB file open for writing."""


class ChecksFailedError(click.ClickException):
    """Data failed a check (dbt test, quality gate) that a command needs to pass."""

    exit_code = EXIT_CHECKS_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UnexpectedError(click.ClickException):
    """A failure nothing foresaw, told in one line with the way to its traceback."""

    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def explain(exc: BaseException, hint: str) -> click.ClickException:
    """The one-line error a user sees for ``exc``: precise where the cause is known (a damaged
    or unbuilt warehouse, a file that cannot be written), else its type and first line + ``hint``."""
    import duckdb

    first = one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    if isinstance(exc, duckdb.Error):
        if isinstance(
            exc, duckdb.IOException | duckdb.SerializationException | duckdb.InternalException
        ) and ("read" in first.lower() or "corrupt" in first.lower() or "checksum" in first.lower()):
            found = _QUOTED_FILE.search(first)
            where = f"warehouse {found.group(1)}" if found else "the warehouse file"
            return AlphaduckError(
                f"{where} is damaged or truncated ({first}): restore a copy, or re-create it with "
                "`alphaduck ingest` and `alphaduck build`"
            )
        if isinstance(exc, duckdb.CatalogException):
            return AlphaduckError(
                f"the warehouse lacks a table this command reads ({first}): it is not built yet: run `alphaduck build`"
            )
        if isinstance(exc, duckdb.BinderException):
            return AlphaduckError(
                f"a warehouse table lacks a column this command reads ({first}): an older or altered schema: "
                "`alphaduck build --full-refresh` remakes the built tables; raw.* ones need a re-ingest into a new file"
            )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else ""
        return AlphaduckError(f"no space left on the device{where}: free some space or write elsewhere")
    if isinstance(exc, OSError) and exc.filename is not None:
        return AlphaduckError(f"cannot use {exc.filename}: {exc.strerror or first}")
    return UnexpectedError(f"unexpected {type(exc).__name__}: {first} ({hint})")


@contextlib.contextmanager
def one_line_errors(
    *, verbose: bool, hint: str = "rerun with `alphaduck -v` for the traceback"
) -> Iterator[None]:
    """Turn any exception that is not already a click exit into one line and a named exit code.

    The root command wraps every command in this (``alphaduck.cli``), so a crash anywhere is
    one line on stderr; ``verbose`` prints the traceback before it.
    """
    try:
        yield
    except click.UsageError as exc:
        if exc.ctx is None:
            raise
        # click would print the usage and a hint on three more lines: the option is named already
        raise AlphaduckError(f"{exc.format_message()} (see `{exc.ctx.command_path} --help`)") from exc
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as exc:
        error = explain(exc, hint)
        if verbose:
            traceback.print_exception(exc, file=sys.stderr)
        log.info("%s turned into: %s", type(exc).__name__, error.message)
        raise error from exc
