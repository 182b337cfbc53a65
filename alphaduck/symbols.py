"""Symbols a command is asked for, checked against the warehouse's bars with a suggestion."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from alphaduck.contracts import BARS
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import Warehouse, relation_exists


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """'; did you mean X?' for the closest known name, or the known names when none is close."""
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    if hint:
        return f"; did you mean {hint[0]}?"
    shown = sorted(known)[:10]
    return f" (it has {', '.join(shown)}{', ...' if len(known) > len(shown) else ''})" if known else " (it has none)"


def unknown_symbol_message(symbols: Sequence[str], known: Sequence[str], where: str) -> str | None:
    """The one line for the first of ``symbols`` not in ``known``, or None when all are known."""
    missing = [s for s in symbols if s not in set(known)]
    if not missing:
        return None
    return f"unknown symbol {missing[0]}: {where} has no bars for it{did_you_mean(missing[0], known)}"


def check_symbols(db: Warehouse | str | None, symbols: Sequence[str] | None) -> None:
    """Refuse a --symbol the warehouse has no bars for, before any work starts (a warehouse
    with no raw.bars is left to the command, which says what to run first)."""
    if not symbols:
        return
    warehouse = Warehouse.of(db)
    with warehouse.reader() as con:
        if not relation_exists(con, BARS):
            return
        known = [s for (s,) in con.execute(f"select distinct symbol from {BARS}").fetchall()]
    message = unknown_symbol_message(symbols, known, f"warehouse {warehouse.path}")
    if message:
        raise AlphaduckError(message)
