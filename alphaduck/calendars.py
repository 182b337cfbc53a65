"""Exchange calendars (exchange_calendars): sessions, holidays, half days and the exchange's
time zone. Never a hand-kept list; every stage asks here."""

from __future__ import annotations

import contextlib
import difflib
import functools
import threading
import warnings
from datetime import date

import pandas as pd

from alphaduck.errors import AlphaduckError

# Building a calendar costs about a second whatever its span, so one wide calendar per name
# is kept and only rebuilt (wider) when a span falls outside it.
_WIDE_FROM = 1990
_built: dict[str, tuple[int, int, object]] = {}
_building = threading.Lock()


def _calendar(name: str, first_year: int, last_year: int):
    with _building:  # warm_calendar may be building it in the background
        have = _built.get(name)
        if have and have[0] <= first_year and last_year <= have[1]:
            return have[2]
        lo = min(first_year, _WIDE_FROM, have[0] if have else first_year)
        hi = max(last_year, date.today().year + 1, have[1] if have else last_year)
        try:
            calendar = _make_calendar(name, lo, hi)
        except ValueError:  # a calendar that does not reach back that far: only what was asked
            lo, hi = first_year, last_year
            calendar = _make_calendar(name, lo, hi)
        _built[name] = (lo, hi, calendar)
        return calendar


def warm_calendar(name: str) -> threading.Thread:
    """Build ``name``'s calendar in a background thread (DuckDB releases the GIL while it reads a
    file, so the second it takes is mostly hidden); trading_sessions waits for it if needed."""
    today = date.today().year

    def build() -> None:
        with contextlib.suppress(Exception):  # a failure shows again, properly, in the caller
            _calendar(name, today, today)

    thread = threading.Thread(target=build, name=f"calendar-{name}", daemon=True)
    thread.start()
    return thread


@functools.lru_cache(maxsize=16)
def _make_calendar(name: str, first_year: int, last_year: int):
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():
            # exchange_calendars trips a pandas 3.1 deprecation inside its own code
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return xcals.get_calendar(name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    except xcals.errors.InvalidCalendarName as exc:
        hint = difflib.get_close_matches(name.upper(), xcals.get_calendar_names(), n=1)
        suggestion = f"; did you mean {hint[0]}?" if hint else ""
        raise AlphaduckError(f"unknown calendar {name!r}{suggestion}") from exc


def trading_sessions(calendar: str, start: date, end: date) -> pd.DataFrame:
    """One row per session in [start, end]: calendar, session_date, open_utc, close_utc, is_early_close."""
    # Whole years keep the calendar cache useful across nearby spans.
    cal = _calendar(calendar, start.year, end.year)
    schedule = cal.schedule.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    early = set(cal.early_closes)
    return pd.DataFrame(
        {
            "calendar": calendar,
            "session_date": schedule.index.date,
            "open_utc": schedule["open"].array,
            "close_utc": schedule["close"].array,
            "is_early_close": [s in early for s in schedule.index],
        }
    )


def validate_calendar(calendar: str) -> None:
    """Fail fast, before anything is read or written, on an unknown calendar code (by name: building
    the calendar waits until sessions are needed)."""
    import exchange_calendars as xcals

    names = xcals.get_calendar_names(include_aliases=True)
    if calendar not in names:
        hint = difflib.get_close_matches(calendar.upper(), xcals.get_calendar_names(), n=1)
        suggestion = f"; did you mean {hint[0]}?" if hint else ""
        raise AlphaduckError(f"unknown calendar {calendar!r}{suggestion}")


def calendar_timezone(calendar: str) -> str:
    """The exchange's time zone (IANA name) of a calendar code: XNYS -> America/New_York."""
    today = date.today()
    return str(_calendar(calendar, today.year, today.year).tz)


def warehouse_calendar(con, *, catalog: str | None = None) -> str | None:
    """The calendar the warehouse's sessions were filled for (``alphaduck ingest --calendar``),
    or None before the first ingest. Refuses a warehouse filled for several."""
    prefix = f"{catalog}." if catalog else ""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'trading_sessions'"
        + (" and database_name = ?" if catalog else ""),
        [catalog] if catalog else [],
    ).fetchall()[0][0]
    if not exists:
        return None
    names = [r[0] for r in con.execute(f"select distinct calendar from {prefix}raw.trading_sessions order by 1").fetchall()]
    if len(names) > 1:
        raise AlphaduckError(
            f"raw.trading_sessions holds sessions of several calendars ({', '.join(names)}): pass --calendar to choose one"
        )
    return names[0] if names else None
