"""What a series of bars is: the kind of prices and the hours they cover (raw.bar_series).

raw.bars keys a bar by (symbol, bar_size, ts) (DESIGN.md), so one (symbol, bar_size) holds one
kind of bars. raw.bar_series records which kind, and a load of another kind is refused instead
of silently overwriting the stored bars: MIDPOINT bars carry no volume, and all-hours daily
bars are different bars from regular-hours ones. Adjusted prices (IB's ADJUSTED_LAST) are never
raw bars at all; ingest/actions.py turns them into corporate actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from alphaduck.bar_sizes import BarSize
from alphaduck.warehouse import CATALOG, fetch_one

# the kinds of bars raw.bars may hold (IB's whatToShow); files hold trade bars
RAW_KINDS = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK")
FILE_KIND = "TRADES"
ADJUSTED_KIND = "ADJUSTED_LAST"


@dataclass(frozen=True)
class SeriesKind:
    """What the bars of one (symbol, bar_size) are.

    Parameters
    ----------
    what_to_show : str
        IB's ``whatToShow`` of the bars: TRADES (files too), MIDPOINT, BID, ASK or BID_ASK.
    use_rth : bool or None
        True for regular trading hours only, False for all hours, None when not known
        (bars from a file).
    """

    what_to_show: str
    use_rth: bool | None

    def describe(self) -> str:
        hours = {True: "regular hours", False: "all hours", None: "hours not recorded"}[self.use_rth]
        return f"{self.what_to_show} bars ({hours})"


def hours_nest(bar: BarSize) -> bool:
    """Whether regular-hours bars of this size are also all-hours bars, value for value.

    They are when the bar size divides the half hour the regular session opens on (09:30 in
    New York): a 30-minute bar from 09:30 holds the same trades either way. A 1-hour
    regular-hours bar starts at 09:30 but the all-hours one at 09:00, and an all-hours daily
    bar includes pre- and post-market trading: those are different bars.
    """
    return bar.is_intraday and 1800 % bar.seconds == 0


def conflicts(stored: SeriesKind | None, wanted: SeriesKind, bar: BarSize) -> bool:
    """Whether bars of kind ``wanted`` would overwrite different bars of the stored series."""
    if stored is None:
        return False
    if stored.what_to_show != wanted.what_to_show:
        return True
    if stored.use_rth is None or wanted.use_rth is None or stored.use_rth == wanted.use_rth:
        return False
    return not hours_nest(bar)


def merged(stored: SeriesKind | None, wanted: SeriesKind) -> SeriesKind:
    """The series' kind after a load of ``wanted`` that does not conflict with it.

    All hours wins over regular hours (the series now holds extended-hours bars too); known
    hours win over unknown ones.
    """
    if stored is None:
        return wanted
    hours = [h for h in (stored.use_rth, wanted.use_rth) if h is not None]
    return SeriesKind(stored.what_to_show, min(hours) if hours else None)


def stored_kind(
    con: duckdb.DuckDBPyConnection, symbol: str, bar_size: str, *, catalog: str = CATALOG
) -> SeriesKind | None:
    row = fetch_one(
        con,
        f"select what_to_show, use_rth from {catalog}.raw.bar_series where symbol = ? and bar_size = ?",
        [symbol, bar_size],
    )
    return SeriesKind(row[0], row[1]) if row else None


def record_series(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    bar_size: str,
    kind: SeriesKind,
    *,
    source: str,
    at: datetime,
    catalog: str = CATALOG,
) -> None:
    """Insert or update one row of raw.bar_series (inside the caller's transaction)."""
    con.execute(
        f"""
        insert into {catalog}.raw.bar_series values (?, ?, ?, ?, ?, ?)
        on conflict (symbol, bar_size) do update set
            what_to_show = excluded.what_to_show, use_rth = excluded.use_rth, updated_at = excluded.updated_at
        """,
        [symbol, bar_size, kind.what_to_show, kind.use_rth, source, at],
    )


def record_file_series(
    con: duckdb.DuckDBPyConnection, keys_table: str, *, source: str, at: datetime, catalog: str = CATALOG
) -> None:
    """Record the series a file load adds (trade bars, hours unknown); existing ones stay as they are."""
    con.execute(
        f"""
        insert into {catalog}.raw.bar_series
        select k.symbol, k.bar_size, ?, null, ?, ? from {keys_table} as k
        anti join {catalog}.raw.bar_series as s on s.symbol = k.symbol and s.bar_size = k.bar_size
        """,
        [FILE_KIND, source, at],
    )


def file_conflict(
    con: duckdb.DuckDBPyConnection, keys_table: str, *, catalog: str = CATALOG
) -> tuple[str, str, SeriesKind] | None:
    """The first (symbol, bar_size, stored kind) a file's trade bars would overwrite with other bars."""
    row = fetch_one(
        con,
        f"""
        select s.symbol, s.bar_size, s.what_to_show, s.use_rth from {keys_table} as k
        join {catalog}.raw.bar_series as s on s.symbol = k.symbol and s.bar_size = k.bar_size
        where s.what_to_show <> ? order by 1, 2 limit 1
        """,
        [FILE_KIND],
    )
    return (row[0], row[1], SeriesKind(row[2], row[3])) if row else None
