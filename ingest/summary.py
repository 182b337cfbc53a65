"""What is in raw.bars, as a table a person reads after an ingest."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
from rich.console import Console
from rich.table import Table


def bars_summary(
    con: duckdb.DuckDBPyConnection, keys: Sequence[tuple[str, str]] | None = None
) -> list[tuple]:
    """(symbol, bar_size, first ts, last ts, rows) per series, optionally only for ``keys``."""
    rows = con.execute(
        """
        select symbol, bar_size, min(ts), max(ts), count(*)
        from raw.bars group by all order by symbol, bar_size
        """
    ).fetchall()
    if keys is not None:
        wanted = set(map(tuple, keys))
        rows = [r for r in rows if (r[0], r[1]) in wanted]
    return rows


def print_summary(
    rows: Sequence[tuple], *, title: str, console: Console | None = None, footer: str | None = None
) -> None:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("symbol", "left"),
        ("bar size", "left"),
        ("first bar (UTC)", "left"),
        ("last bar (UTC)", "left"),
        ("rows", "right"),
    ):
        table.add_column(name, justify=justify)
    for symbol, bar_size, first, last, n in rows:
        table.add_row(symbol, bar_size, f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}", f"{n:,}")
    if footer:
        table.caption = footer
        table.caption_justify = "left"
    (console or Console()).print(table)


def actions_summary(con: duckdb.DuckDBPyConnection, symbols: Sequence[str] | None = None) -> list[tuple]:
    """(symbol, splits, dividends, first ex_date, last ex_date) per symbol, optionally only ``symbols``."""
    rows = con.execute(
        """
        select symbol, count(*) filter (where kind = 'split'), count(*) filter (where kind = 'dividend'),
               min(ex_date), max(ex_date)
        from raw.corporate_actions group by symbol order by symbol
        """
    ).fetchall()
    if symbols is not None:
        wanted = set(symbols)
        rows = [r for r in rows if r[0] in wanted]
    return rows


def print_actions_summary(
    rows: Sequence[tuple], *, title: str, console: Console | None = None, footer: str | None = None
) -> None:
    table = Table(title=title, title_justify="left")
    for name, justify in (("symbol", "left"), ("splits", "right"), ("dividends", "right"),
                          ("first ex-date", "left"), ("last ex-date", "left")):  # fmt: skip
        table.add_column(name, justify=justify)
    for symbol, splits, dividends, first, last in rows:
        table.add_row(symbol, f"{splits:,}", f"{dividends:,}", f"{first}", f"{last}")
    if footer:
        table.caption = footer
        table.caption_justify = "left"
    (console or Console()).print(table)
