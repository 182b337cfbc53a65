"""NAME=VALUE settings (--param, --grid, --threshold, --var): the one parser behind them all."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def split_pairs(pairs: Iterable[str], known: Iterable[str], *, what: str) -> list[tuple[str, str]]:
    """NAME=VALUE strings -> (name, value text), every NAME one of ``known`` (dashes read as
    underscores). Raises ValueError naming the pair, with a suggestion for a misspelt name.

    >>> split_pairs(["min-hold=3"], ["min_hold", "cooldown"], what="strategy parameter")
    [('min_hold', '3')]
    """
    known = list(known)
    parsed = []
    for pair in pairs:
        name, sep, text = str(pair).partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"{pair!r}: expected NAME=VALUE")
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            suggestion = f"; did you mean {hint[0]}?" if hint else f" (known: {', '.join(known)})"
            raise ValueError(f"{pair!r}: unknown {what} {name!r}{suggestion}")
        parsed.append((name, text.strip()))
    return parsed
