"""Plain progress lines for logs: where there is no terminal (CI, a file) a rich bar shows
nothing, so long work says where it is in a line now and then instead."""

from __future__ import annotations

import sys
import time

import click


def plain_wanted(quiet: bool) -> bool:
    """Plain lines instead of a bar: not quiet, and stderr is not a terminal."""
    return not quiet and not sys.stderr.isatty()


class PlainTicker:
    """'<what>: <done>[/<total>] <unit> (<seconds> s)' on stderr, at most every ``every`` seconds
    (and on :meth:`close`), so a 10-minute step logs tens of lines, not thousands."""

    def __init__(self, what: str, unit: str, *, total: int | None = None, every: float = 10.0) -> None:
        self.what, self.unit, self.total, self.every = what, unit, total, every
        self.done, self.started = 0, time.monotonic()
        self.last = self.started

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def close(self) -> None:
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        of = f"/{self.total}" if self.total else ""
        click.echo(f"{self.what}: {self.done}{of} {self.unit} ({now - self.started:.0f} s)", err=True)
