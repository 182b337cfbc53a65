"""Bar sizes: one canonical code per size, parsed from IB's spelling or ours.

The warehouse stores the canonical code (``30min``, ``1d``); IB requests use
``ib_setting`` (``30 mins``, ``1 day``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BarSize:
    code: str
    ib_setting: str
    seconds: int  # nominal length; a day bar spans one session, not 86,400 s of trading

    @property
    def is_intraday(self) -> bool:
        return self.seconds < 86_400

    def __str__(self) -> str:
        return self.code


_ALL = [
    BarSize("1s", "1 secs", 1),
    BarSize("5s", "5 secs", 5),
    BarSize("10s", "10 secs", 10),
    BarSize("15s", "15 secs", 15),
    BarSize("30s", "30 secs", 30),
    BarSize("1min", "1 min", 60),
    BarSize("2min", "2 mins", 120),
    BarSize("3min", "3 mins", 180),
    BarSize("5min", "5 mins", 300),
    BarSize("10min", "10 mins", 600),
    BarSize("15min", "15 mins", 900),
    BarSize("20min", "20 mins", 1_200),
    BarSize("30min", "30 mins", 1_800),
    BarSize("1h", "1 hour", 3_600),
    BarSize("2h", "2 hours", 7_200),
    BarSize("3h", "3 hours", 10_800),
    BarSize("4h", "4 hours", 14_400),
    BarSize("8h", "8 hours", 28_800),
    BarSize("1d", "1 day", 86_400),
    BarSize("1w", "1 week", 7 * 86_400),
    BarSize("1mo", "1 month", 30 * 86_400),
]
BAR_SIZES: dict[str, BarSize] = {b.code: b for b in _ALL}

_UNITS = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "min",
    "min": "min",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "t": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "wk": "w",
    "week": "w",
    "weeks": "w",
    "mo": "mo",
    "mon": "mo",
    "month": "mo",
    "months": "mo",
}
_PATTERN = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")


def parse_bar_size(text: str) -> BarSize:
    """Parse ``'30 mins'``, ``'30min'``, ``'30m'``, ``'1 day'`` or ``'1d'``.

    >>> parse_bar_size("30 mins").code
    '30min'
    >>> parse_bar_size("1 day").ib_setting
    '1 day'
    """
    match = _PATTERN.match(str(text).lower())
    unit = _UNITS.get(match.group(2)) if match else None
    code = f"{int(match.group(1))}{unit}" if match and unit else None
    if code in BAR_SIZES:
        return BAR_SIZES[code]
    hint = difflib.get_close_matches(str(text).strip(), list(BAR_SIZES) + [b.ib_setting for b in _ALL], n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ValueError(f"unknown bar size {text!r} (known: {', '.join(BAR_SIZES)}){suggestion}")


def bar_size_from_seconds(seconds: float) -> BarSize | None:
    """The intraday bar size whose length is exactly ``seconds``, if there is one."""
    for bar in _ALL:
        if bar.is_intraday and bar.seconds == seconds:
            return bar
    return None
