"""Exit codes and the error type every stage raises for bad input.

Library code raises; only the CLI edge turns errors into exits (click does that
for ``ClickException`` subclasses).
"""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1  # data tests or the quality gate found problems
EXIT_BAD_INPUT = 2  # bad arguments, bad data, unreachable services


class AlphaduckError(click.ClickException):
    """Bad input: the one-line message names the file/row/column or host:port."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line DuckDB or IB message would bury the point.
        super().__init__(" ".join(str(message).split()))


class WarehouseLockedError(AlphaduckError):
    """Another process holds the DuckDB file open for writing."""


class ChecksFailedError(click.ClickException):
    """Data failed a check (dbt test, quality gate) that a command needs to pass."""

    exit_code = EXIT_CHECKS_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
