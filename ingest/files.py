"""CSV (also .gz) and Parquet files -> validated, typed bars, bulk-loaded through DuckDB.

Each file is read by DuckDB in one pass into an in-memory staging table, checked, and
only then merged into the warehouse in one transaction: bad input never reaches it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from alphaduck.bar_sizes import BarSize, bar_size_from_seconds, parse_bar_size
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import fetch_one
from ingest.sessions import trading_sessions
from ingest.validate import check_rows, unique_bars

# canonical column -> accepted spellings (lower case)
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "datetime", "date", "time", "bar_start"),
    "symbol": ("symbol", "ticker"),
    "bar_size": ("bar_size", "barsize"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "wap": ("wap", "vwap", "average"),
    "bar_count": ("bar_count", "barcount", "count", "trades"),
}
REQUIRED = ("ts", "open", "high", "low", "close", "volume")
NUMERIC = ("open", "high", "low", "close", "volume", "wap")

STAGED_COLUMNS = """
    origin varchar, row_no bigint, symbol varchar, bar_size varchar, ts timestamptz,
    open double, high double, low double, close double, volume double,
    wap double, bar_count bigint
"""

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zst", ".txt", ".txt.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# a gap up to 20 h stays within one trading day; longer ones are overnight or weekend
_INTRADAY_GAP_S = 20 * 3600


@dataclass
class FileOptions:
    symbol: str | None = None
    bar_size: BarSize | None = None
    tz: str = "America/New_York"
    calendar: str = "XNYS"


@dataclass
class StagedFiles:
    """What was staged into the in-memory table, and how to name a row of it."""

    table: str
    kinds: dict[str, str] = field(default_factory=dict)  # origin -> "csv" | "parquet"

    def locate(self, origin: str, row_no: int, symbol: str | None = None, ts: object = None) -> str:
        if self.kinds.get(origin) == "csv":
            return f"{origin} line {row_no + 1}"  # +1: the header is line 1
        return f"{origin} row {row_no}"


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _reader(path: Path) -> tuple[str, str]:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet", f"read_parquet({_quote(path)})"
    if name.endswith(_CSV_SUFFIXES):
        return "csv", f"read_csv({_quote(path)}, all_varchar = true, header = true)"
    raise AlphaduckError(f"{path}: unknown file type (expected .csv, .csv.gz or .parquet)")


def _map_columns(path: Path, columns: list[str]) -> dict[str, str]:
    """canonical name -> column name in the file; raises on missing or ambiguous columns."""
    by_lower = {c.strip().lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for canonical, spellings in ALIASES.items():
        found = [by_lower[s] for s in spellings if s in by_lower]
        if len(found) > 1:
            raise AlphaduckError(
                f"{path}: columns {', '.join(repr(f) for f in found)} all mean {canonical!r}: keep one"
            )
        if found:
            mapping[canonical] = found[0]
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        known = {s for spellings in ALIASES.values() for s in spellings}
        unknown = [c for low, c in by_lower.items() if low not in known]
        first = missing[0]
        hint = difflib.get_close_matches(first, unknown, n=1, cutoff=0.5)
        suggestion = f" (is {hint[0]!r} a misspelling?)" if hint else ""
        also = f"; also missing {', '.join(missing[1:])}" if len(missing) > 1 else ""
        raise AlphaduckError(
            f"{path}: missing column {first!r}{suggestion}{also}; found columns: {', '.join(columns)}"
        )
    return mapping


def _ts_sql(column: str, duck_type: str, tz: str) -> tuple[str, str, str]:
    """SQL for (timestamp in UTC, session date for date-only values, 'is local midnight')."""
    col = _ident(column)
    tzq = _quote(tz)
    if duck_type == "VARCHAR":
        text = f"trim({col})"
        is_date = rf"regexp_full_match({text}, '\d{{4}}-\d{{2}}-\d{{2}}|\d{{8}}')"
        has_offset = rf"(length({text}) > 10 and regexp_matches({text}, '(Z|[+-]\d\d(:?\d\d)?)$'))"
        naive = f"try_cast({text} as timestamp)"
        ts = (
            f"case when {is_date} then null when {has_offset} then try_cast({text} as timestamptz) "
            f"else timezone({tzq}, {naive}) end"
        )
        day = f"case when {is_date} then coalesce(try_cast({text} as date), try_strptime({text}, '%Y%m%d')::date) end"
        midnight = f"(not {is_date} and not {has_offset} and {naive} = date_trunc('day', {naive}))"
        return ts, day, f"coalesce({midnight}, false)"
    # DuckDB 2 spells a nanosecond tz-aware column (pandas' default) TIMESTAMPTZ_NS
    if duck_type.startswith(("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")):
        return f"{col}::timestamptz", "null::date", "false"
    if duck_type.startswith("TIMESTAMP"):
        return (
            f"timezone({tzq}, {col}::timestamp)",
            "null::date",
            f"({col}::timestamp = date_trunc('day', {col}::timestamp))",
        )
    if duck_type == "DATE":
        return "null::timestamptz", col, "false"
    raise AlphaduckError(f"column {column!r} has type {duck_type}: expected timestamps or dates")


class FileStager:
    """Stages any number of files into one in-memory table, checking each as it goes."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, options: FileOptions, table: str = "staged_bars"
    ) -> None:
        self.con = con
        self.options = options
        self.staged = StagedFiles(table)
        try:
            ZoneInfo(options.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise AlphaduckError(
                f"unknown time zone --tz {options.tz!r} (use an IANA name such as America/New_York)"
            ) from exc
        con.execute(f"create or replace temp table {table} ({STAGED_COLUMNS})")

    # -- one file ---------------------------------------------------------------------------------
    def add(self, path: Path) -> int:
        """Read, parse and check one file; returns the rows staged."""
        path = Path(path)
        origin = str(path)
        kind, source = _reader(path)
        self.staged.kinds[origin] = kind
        if path.stat().st_size == 0:
            raise AlphaduckError(f"{path}: file is empty")
        try:
            described = self.con.execute(f"describe select * from {source}").fetchall()
        except duckdb.Error as exc:
            raise AlphaduckError(
                f"{path}: cannot read as {kind.upper()}: {str(exc).splitlines()[0]}"
            ) from exc
        types = {name: duck_type for name, duck_type, *_ in described}
        mapping = _map_columns(path, list(types))
        try:
            self._parse(path, origin, kind, source, mapping, types)
        except duckdb.Error as exc:
            raise AlphaduckError(
                f"{path}: cannot read as {kind.upper()}: {str(exc).splitlines()[0]}"
            ) from exc
        rows = fetch_one(self.con, "select count(*) from _parsed")[0]
        if rows == 0:
            raise AlphaduckError(f"{path}: file has a header but no rows")
        self._check_parse(origin, source, kind, mapping)
        bar = self._bar_size(path, origin, mapping)
        if not bar.is_intraday:
            self._anchor_daily(origin)
        self.con.execute(
            f"""
            insert into {self.staged.table}
            select origin, row_no, symbol, ?, ts, open, high, low, close, volume, wap, bar_count
            from _parsed
            """,
            [bar.code],
        )
        if bar.is_intraday:
            self._check_spacing(
                origin, bar, explicit=self.options.bar_size is not None or "bar_size" in mapping
            )
        self.con.execute("drop view _parsed")
        self.con.execute("drop table _parsed_data")
        return rows

    def _parse(
        self, path: Path, origin: str, kind: str, source: str, mapping: dict[str, str], types: dict[str, str]
    ) -> None:
        ts, day, midnight = _ts_sql(mapping["ts"], types[mapping["ts"]], self.options.tz)
        if "symbol" in mapping:
            if self.options.symbol:
                raise AlphaduckError(
                    f"{path}: has a {mapping['symbol']!r} column; --symbol is only for files without one"
                )
            symbol = f"upper(trim({_ident(mapping['symbol'])}::varchar))"
        elif self.options.symbol:
            symbol = _quote(self.options.symbol.strip().upper())
        else:
            raise AlphaduckError(f"{path}: no symbol column: pass --symbol")
        numbers = {
            c: (f"try_cast({_ident(mapping[c])} as double)" if c in mapping else "null::double")
            for c in NUMERIC
        }
        bar_count = (
            f"try_cast({_ident(mapping['bar_count'])} as bigint)"
            if "bar_count" in mapping
            else "null::bigint"
        )
        bar_size = (
            f"trim({_ident(mapping['bar_size'])}::varchar)" if "bar_size" in mapping else "null::varchar"
        )
        # first column whose value is present but does not parse (or is absent where required)
        checks = [
            f"when {_ident(mapping['ts'])} is null then 'ts'",
            f"when ({ts}) is null and ({day}) is null then 'ts'",
        ]
        if "symbol" in mapping:
            checks.insert(
                0, f"when coalesce(trim({_ident(mapping['symbol'])}::varchar), '') = '' then 'symbol'"
            )
        for c in NUMERIC:
            if c in mapping:
                if c in REQUIRED:
                    checks.append(f"when {_ident(mapping[c])} is null then '{c}'")
                checks.append(f"when {_ident(mapping[c])} is not null and {numbers[c]} is null then '{c}'")
        if "bar_count" in mapping:
            checks.append(
                f"when {_ident(mapping['bar_count'])} is not null and {bar_count} is null then 'bar_count'"
            )
        self.con.execute(
            f"""
            create or replace temp table _parsed_data as
            select
                {_quote(origin)} as origin,
                {symbol} as symbol,
                {bar_size} as bar_size_text,
                {ts} as ts,
                {day} as day,
                {midnight} as at_midnight,
                {numbers["open"]} as open,
                {numbers["high"]} as high,
                {numbers["low"]} as low,
                {numbers["close"]} as close,
                {numbers["volume"]} as volume,
                {numbers["wap"]} as wap,
                {bar_count} as bar_count,
                case {" ".join(checks)} end as parse_error
            from {source}
            """
        )
        # an order-preserving scan gives rowid in file order: row numbers without
        # row_number() over (), which would serialise the read
        self.con.execute(
            "create or replace temp view _parsed as select rowid + 1 as row_no, * from _parsed_data"
        )

    def _check_parse(self, origin: str, source: str, kind: str, mapping: dict[str, str]) -> None:
        bad = fetch_one(
            self.con,
            """
            select row_no, parse_error, count(*) over ()
            from _parsed where parse_error is not null order by row_no limit 1
            """,
        )
        if not bad:
            return
        row_no, column, n_bad = bad
        row_no_sql = "row_number() over ()"  # the error path can afford it
        raw = fetch_one(
            self.con,
            f"select raw from (select {row_no_sql} as rn, {_ident(mapping[column])}::varchar as raw from {source}) where rn = ?",
            [row_no],
        )[0]
        what = (
            "timestamp"
            if column == "ts"
            else "integer"
            if column == "bar_count"
            else "symbol"
            if column == "symbol"
            else "number"
        )
        problem = (
            "missing value" if raw is None or str(raw).strip() == "" else f"cannot parse {raw!r} as a {what}"
        )
        more = f" ({n_bad - 1} more bad rows)" if n_bad > 1 else ""
        raise AlphaduckError(
            f"{self.staged.locate(origin, row_no)}, column {mapping[column]}: {problem}{more}"
        )

    def _bar_size(self, path: Path, origin: str, mapping: dict[str, str]) -> BarSize:
        """The file's one bar size: from the bar_size column, --bar-size, or the timestamps."""
        given = self.options.bar_size
        if "bar_size" in mapping:
            values = self.con.execute(
                "select bar_size_text, min(row_no) from _parsed group by 1 order by 2"
            ).fetchall()
            try:
                sizes = [(parse_bar_size(text), row_no) for text, row_no in values]
            except ValueError as exc:
                raise AlphaduckError(f"{path}, column {mapping['bar_size']}: {exc}") from exc
            codes = list(dict.fromkeys(b.code for b, _ in sizes))
            if len(codes) > 1:
                second = next(row_no for b, row_no in sizes if b.code == codes[1])
                raise AlphaduckError(
                    f"{self.staged.locate(origin, second)}, column {mapping['bar_size']}: bar size {codes[1]} "
                    f"in a file of {codes[0]} bars: mixed bar sizes in one file (split it)"
                )
            if given and given.code != codes[0]:
                raise AlphaduckError(
                    f"{path}: --bar-size {given.code} but its bar_size column says {codes[0]}"
                )
            given = sizes[0][0]
        dated, timed, midnights = fetch_one(
            self.con, "select count(day), count(ts), count(*) filter (where at_midnight) from _parsed"
        )
        if given is not None:
            daily = not given.is_intraday
        else:
            daily = timed == 0 or (dated == 0 and midnights == timed)
        if not daily and dated:
            row_no, day = fetch_one(
                self.con, "select row_no, day from _parsed where day is not null order by row_no limit 1"
            )
            raise AlphaduckError(
                f"{self.staged.locate(origin, row_no)}, column {mapping['ts']}: a date without a time of day "
                f"({day}) among intraday bars: mixed bar sizes in one file"
            )
        if daily:
            return given or parse_bar_size("1d")
        if given is not None:
            return given
        return self._infer_intraday(path)

    def _infer_intraday(self, path: Path) -> BarSize:
        gaps = fetch_one(
            self.con,
            f"""
            with gaps as (
                select epoch(ts) - epoch(lag(ts) over (partition by symbol order by ts)) as gap
                from _parsed
            )
            select gap, count(*) as n from gaps where gap > 0 and gap < {_INTRADAY_GAP_S}
            group by gap order by n desc, gap limit 1
            """,
        )
        if not gaps:
            raise AlphaduckError(f"{path}: cannot infer the bar size from so few bars: pass --bar-size")
        bar = bar_size_from_seconds(gaps[0])
        if bar is None:
            raise AlphaduckError(
                f"{path}: bars are most often {gaps[0]:g} s apart, which is no IB bar size: pass --bar-size"
            )
        return bar

    def _check_spacing(self, origin: str, bar: BarSize, *, explicit: bool) -> None:
        """Bars closer together than the bar size mean two bar sizes were mixed.

        The first bar of a local day may be shorter (IB's hourly bars start 09:30, 10:00,
        11:00), so a short gap right after it is allowed.
        """
        tzq = _quote(self.options.tz)
        short = fetch_one(
            self.con,
            f"""
            with ordered as (
                select row_no, symbol, ts, lag(row_no) over w as previous_row,
                       epoch(ts) - epoch(lag(ts) over w) as gap,
                       timezone({tzq}, lag(ts) over w)::date
                           <> coalesce(timezone({tzq}, lag(ts, 2) over w)::date, date '0001-01-01') as after_first_of_day
                from {self.staged.table}
                where origin = ?
                window w as (partition by symbol order by ts)
            )
            select row_no, symbol, ts, gap, previous_row from ordered
            where gap > 0 and gap < {bar.seconds} and not after_first_of_day
            order by greatest(row_no, previous_row) limit 1
            """,
            [origin],
        )
        if short:
            row_no, symbol, ts, gap, previous_row = short
            raise AlphaduckError(
                f"{self.staged.locate(origin, row_no)}: {symbol} bar at {ts:%Y-%m-%d %H:%M} UTC starts {gap:g} s after "
                f"the one at {self.staged.locate(origin, previous_row).removeprefix(origin + ' ')}, but the file's bars "
                f"are {bar.code}: mixed bar sizes in one file"
            )
        if explicit:
            # a --bar-size that no two bars are apart by, where most gaps say another size, is a typo
            mode = fetch_one(
                self.con,
                f"""
                with gaps as (
                    select epoch(ts) - epoch(lag(ts) over (partition by symbol order by ts)) as gap
                    from {self.staged.table} where origin = ?
                ),
                counted as (
                    select gap, count(*) as n from gaps
                    where gap > 0 and gap < {_INTRADAY_GAP_S} group by gap
                )
                select arg_max(gap, n), max(n) / sum(n), sum(n), count(*) filter (where gap = {bar.seconds})
                from counted
                """,
                [origin],
            )
            gap, share, n_gaps, exact = mode
            if n_gaps and n_gaps >= 10 and exact == 0 and share > 0.5:
                found = bar_size_from_seconds(gap)
                raise AlphaduckError(
                    f"{origin}: the bar size is {bar.code} but most bars are {found or f'{gap:g} s'} apart"
                )

    def _anchor_daily(self, origin: str) -> None:
        """Daily bars start at their session's open: look it up in the exchange calendar."""
        tzq = _quote(self.options.tz)
        self.con.execute(
            f"create or replace temp table _days as select row_no, coalesce(day, timezone({tzq}, ts)::date) as day from _parsed"
        )
        first, last = fetch_one(self.con, "select min(day), max(day) from _days")
        self.con.register("_sessions", trading_sessions(self.options.calendar, first, last))
        missing = fetch_one(
            self.con,
            """
            select d.row_no, d.day, count(*) over () from _days d
            anti join _sessions s on s.session_date = d.day
            order by d.row_no limit 1
            """,
        )
        if missing:
            row_no, day, n = missing
            more = f" ({n - 1} more such rows)" if n > 1 else ""
            raise AlphaduckError(
                f"{self.staged.locate(origin, row_no)}: {day} is not a {self.options.calendar} trading session{more}"
            )
        self.con.execute(
            """
            update _parsed_data set ts = s.open_utc
            from _days d join _sessions s on s.session_date = d.day
            where _parsed_data.rowid + 1 = d.row_no
            """
        )
        self.con.execute("drop table _days")
        self.con.unregister("_sessions")

    # -- all files --------------------------------------------------------------------------------
    def check(self) -> str:
        """Row rules and cross-file clashes over everything staged; returns the table of unique bars."""
        check_rows(self.con, self.staged.table, self.staged.locate)
        return unique_bars(self.con, self.staged.table, self.staged.locate)
