"""Point-in-time universes (raw.universe): a symbol's rows count only while it was a member.

Without a universe, the symbols are the ones the warehouse holds today, which is how most
research goes wrong quietly: a list of today's index members holds the companies that
survived and grew (survivorship bias). Every report says which of the two it used.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import UNIVERSE
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import relation_exists

SURVIVORSHIP_NOTE = "today's list, not point-in-time (survivorship bias; see --universe)"


@dataclass(frozen=True)
class Universe:
    """Membership spans of one universe: symbol, from_date, to_date (NaT while a member)."""

    name: str
    spans: pd.DataFrame

    def describe(self) -> str:
        return f"universe {self.name}: point-in-time membership ({self.spans['symbol'].nunique()} symbols, {len(self.spans)} spans)"

    def keep(self, frame: pd.DataFrame, *, ts_column: str = "ts") -> pd.DataFrame:
        """The rows of ``frame`` (symbol, ts) whose symbol was a member on the bar's UTC date."""
        return frame[self.member_mask(frame, ts_column=ts_column)]

    def member_mask(self, frame: pd.DataFrame, *, ts_column: str = "ts") -> np.ndarray:
        day = pd.to_datetime(frame[ts_column], utc=True).dt.tz_localize(None).dt.normalize().to_numpy()
        symbols = frame["symbol"].to_numpy()
        mask = np.zeros(len(frame), dtype=bool)
        for symbol, span in self.spans.groupby("symbol", sort=False):
            rows = symbols == symbol
            if not rows.any():
                continue
            days, inside = day[rows], np.zeros(rows.sum(), dtype=bool)
            for start, end in zip(span["from_date"], span["to_date"], strict=True):
                last = np.datetime64("2262-01-01") if pd.isna(end) else np.datetime64(end)
                inside |= (days >= np.datetime64(start)) & (days <= last)
            mask[rows] = inside
        return mask

    def leaves(self, bars: pd.DataFrame) -> pd.Series:
        """True at a symbol's last bar of each membership span that ends before its data does
        (it leaves the universe there: a held position is closed, as at a delisting)."""
        kept = bars.assign(_member=self.member_mask(bars))
        kept = kept.sort_values(["symbol", "ts"])
        following = kept.groupby("symbol")["_member"].shift(-1)
        out = kept["_member"] & following.eq(False)
        return out.reindex(bars.index).fillna(False).astype(bool)


def load_universe(con: duckdb.DuckDBPyConnection, name: str) -> Universe:
    """The named universe from raw.universe, or one line saying what there is."""
    name = name.strip().lower()
    if not relation_exists(con, UNIVERSE):
        raise AlphaduckError(f"--universe {name}: the warehouse has no {UNIVERSE}: load one with `alphaduck ingest universe FILE --name {name}`")
    spans = con.execute(
        f"select symbol, from_date, to_date from {UNIVERSE} where universe = ? order by symbol, from_date", [name]
    ).df()
    if spans.empty:
        known = [r[0] for r in con.execute(f"select distinct universe from {UNIVERSE} order by 1").fetchall()]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise AlphaduckError(f"--universe {name}: not in {UNIVERSE} (it has {', '.join(known) or 'none'}){hint}")
    for column in ("from_date", "to_date"):
        spans[column] = pd.to_datetime(spans[column])
    return Universe(name, spans)
