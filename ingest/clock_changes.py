"""Clock changes of a time zone (daylight saving time and the like) as local-time spans.

A naive wall-clock timestamp names no instant when it falls in a clock change: in a *fold*
(clocks go back, e.g. New York 2025-11-02 01:00-02:00) it happens twice; in a *gap* (clocks
go forward, e.g. 2025-03-09 02:00-03:00) it never happens. The file loader finds such rows
with these spans instead of letting the database pick one of the two instants silently.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

FOLD = "fold"
GAP = "gap"

# how --ambiguous resolves a time that happens twice
AMBIGUOUS_RULES = ("raise", "earlier", "later", "infer")
AMBIGUOUS_HELP = (
    "How to read a naive time that happens twice when clocks go back (DST ends): raise (refuse, "
    "the default), earlier (the first of the two, still on summer time), later (the second), "
    "infer (per symbol in file order: the first run of the repeated hour is the earlier one)."
)


@dataclass(frozen=True)
class ClockChange:
    """One change of a zone's UTC offset: the local times it skips (gap) or repeats (fold)."""

    kind: str  # FOLD | GAP
    local_start: datetime  # naive local time, inclusive
    local_end: datetime  # naive local time, exclusive
    offset_before: timedelta
    offset_after: timedelta

    def describe(self, tz: str) -> str:
        span = f"{self.local_start:%Y-%m-%d %H:%M}-{self.local_end:%H:%M}"
        if self.kind == FOLD:
            return f"clocks in {tz} go back at the end of daylight saving time and {span} happens twice"
        return f"clocks in {tz} go forward at the start of daylight saving time and {span} never happens"


def _offset(zone: ZoneInfo, seconds: int) -> timedelta:
    return datetime.fromtimestamp(seconds, UTC).astimezone(zone).utcoffset()


@functools.lru_cache(maxsize=256)
def _changes_in_year(tz: str, year: int) -> tuple[ClockChange, ...]:
    zone = ZoneInfo(tz)
    first = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    last = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    found = []
    day = 86_400
    for lo in range(first, last, day):
        hi = min(lo + day, last)
        before, after = _offset(zone, lo), _offset(zone, hi)
        if before == after:
            continue
        # the first second on the new offset
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(zone, mid) == before:
                lo = mid
            else:
                hi = mid
        instant = datetime.fromtimestamp(hi, UTC).replace(tzinfo=None)
        if after < before:
            found.append(ClockChange(FOLD, instant + after, instant + before, before, after))
        else:
            found.append(ClockChange(GAP, instant + before, instant + after, before, after))
    return tuple(found)


def clock_changes(tz: str, first_year: int, last_year: int) -> list[ClockChange]:
    """Every clock change of ``tz`` from ``first_year`` through ``last_year``.

    >>> [c.kind for c in clock_changes("America/New_York", 2025, 2025)]
    ['gap', 'fold']
    >>> clock_changes("America/New_York", 2025, 2025)[1].local_start
    datetime.datetime(2025, 11, 2, 1, 0)
    """
    return [c for year in range(first_year, last_year + 1) for c in _changes_in_year(tz, year)]


def clock_changes_frame(tz: str, first_year: int, last_year: int) -> pd.DataFrame:
    """The same as a frame for SQL: kind, local_start, local_end, offset_before_s, offset_after_s."""
    changes = clock_changes(tz, first_year, last_year)
    return pd.DataFrame(
        {
            "kind": [c.kind for c in changes],
            "local_start": pd.to_datetime([c.local_start for c in changes]).as_unit("us"),
            "local_end": pd.to_datetime([c.local_end for c in changes]).as_unit("us"),
            "offset_before_s": [int(c.offset_before.total_seconds()) for c in changes],
            "offset_after_s": [int(c.offset_after.total_seconds()) for c in changes],
        }
    )
