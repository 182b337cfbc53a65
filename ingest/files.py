"""CSV (also .gz) and Parquet files -> validated, typed bars, bulk-loaded through DuckDB.

Each file is read by DuckDB in one pass into an in-memory staging table, checked, and
only then merged into the warehouse in one transaction: bad input never reaches it.

CSV files are read with the dialect their header shows (delimiter, RFC 4180 quotes, every
column text), so DuckDB never guesses: a ragged row, or bytes that are not UTF-8, fail with
the line they are on, which the error names.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from alphaduck.bar_sizes import BarSize, bar_size_from_seconds, parse_bar_size
from alphaduck.errors import AlphaduckError
from alphaduck.settings import DEFAULT_CALENDAR
from alphaduck.warehouse import fetch_one
from ingest.clock_changes import AMBIGUOUS_RULES, GAP, ClockChange, clock_changes_frame
from ingest.sessions import trading_sessions
from ingest.validate import EARLIEST_BAR, check_rows, latest_bar, unique_bars

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
# a UTC offset larger than any zone's (they span -12:00..+14:00; ISO 8601 parsers allow 18:00)
MAX_UTC_OFFSET_MINUTES = 18 * 60
# bar_count is parsed as a number first, so 2.5 trades is refused instead of rounded
_MAX_WHOLE = 2**53

# the staged view's columns, typed, for when no file has been added yet
_EMPTY_STAGED = (
    "null::varchar as origin, null::bigint as row_no, null::varchar as symbol, null::varchar as bar_size, "
    "null::timestamptz as ts, null::double as open, null::double as high, null::double as low, "
    "null::double as close, null::double as volume, null::double as wap, null::bigint as bar_count"
)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zst", ".txt", ".txt.gz", ".tsv", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITERS = (",", ";", "\t", "|")
# a gap up to 20 h stays within one trading day; longer ones are overnight or weekend
_INTRADAY_GAP_S = 20 * 3600

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT")  # fmt: skip


@dataclass(frozen=True)
class ColumnType:
    """The DuckDB types (prefixes) a typed file (Parquet) may give a column, and their name in errors."""

    types: tuple[str, ...]
    description: str


NUMBERS = ColumnType((*_INTEGER_TYPES, "FLOAT", "DOUBLE", "DECIMAL", "VARCHAR"), "numbers")
TEXT = ColumnType(("VARCHAR", *_INTEGER_TYPES), "text")
DATES = ColumnType(("VARCHAR", "DATE", "TIMESTAMP"), "dates or text")
ACCEPTED_TYPES: dict[str, ColumnType] = {
    **{c: NUMBERS for c in (*NUMERIC, "bar_count")},
    "ts": ColumnType(("VARCHAR", "DATE", "TIMESTAMP"), "timestamps, dates or text"),
    "symbol": TEXT,
    "bar_size": ColumnType(("VARCHAR",), "text"),
}
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


@dataclass
class FileOptions:
    symbol: str | None = None
    bar_size: BarSize | None = None
    tz: str = "America/New_York"
    calendar: str = DEFAULT_CALENDAR
    ambiguous: str = "raise"  # see ingest.clock_changes.AMBIGUOUS_RULES


@dataclass
class StagedFiles:
    """What was staged into the in-memory table, and how to name a row of it."""

    table: str
    kinds: dict[str, str] = field(default_factory=dict)  # origin -> "csv" | "parquet"

    def locate(self, origin: str, row_no: int, symbol: str | None = None, ts: object = None) -> str:
        if self.kinds.get(origin) == "csv":
            return f"{origin} line {row_no + 1}"  # +1: the header is line 1
        return f"{origin} row {row_no}"


def stage_files(stager, paths: Sequence[Path], on_file: Callable[[Path, int], None] | None = None) -> int:
    """Stage every file with ``stager.add`` (each checked as it is read); the rows read."""
    rows_read = 0
    for path in paths:
        rows = stager.add(Path(path))
        rows_read += rows
        if on_file:
            on_file(Path(path), rows)
    return rows_read


def sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open_text(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _first_bad_utf8(path: Path, line_no: int | None = None) -> tuple[int, int, int] | None:
    """(line, column, byte) of the first byte that is not UTF-8, scanning from the top."""
    if path.name.lower().endswith(".zst"):
        return None
    with _open_text(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if line_no is not None and number < line_no:
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, exc.start + 1, raw[exc.start]
            if line_no is not None:
                return None
    return None


def _not_utf8(path: Path, line_no: int | None) -> AlphaduckError:
    found = _first_bad_utf8(path, line_no) or _first_bad_utf8(path)
    if found:
        line, column, byte = found
        where = f"{path} line {line}, character {column}: byte 0x{byte:02X} is not UTF-8 text"
    else:
        where = f"{path} line {line_no}: not UTF-8 text"
    return AlphaduckError(
        f"{where} (the file is in another encoding, e.g. Latin-1 or Windows-1252): save it as UTF-8, "
        f"e.g. iconv -f latin1 -t utf-8"
    )


def _csv_header(path: Path) -> tuple[list[str], str]:
    """The header's column names and the delimiter, read the way DuckDB reads the rest."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"""select line from read_csv({sql_string(path)}, header = false, auto_detect = false,
                delim = chr(1), quote = '', escape = '', columns = {{'line': 'VARCHAR'}}) limit 1"""
        ).fetchall()
    except duckdb.Error as exc:
        if "unicode" in str(exc).lower():
            raise _not_utf8(path, 1) from exc
        raise AlphaduckError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
    line = (rows[0][0] or "") if rows else ""
    line = line.lstrip("\ufeff")  # a byte-order mark some spreadsheets write
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        delimiter = "\t"
    else:
        delimiter = max(_DELIMITERS, key=line.count)
    names = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))] if line else []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AlphaduckError(f"{path} line 1: the header names column {repeated[0]!r} twice")
    return names, delimiter


def read_source(path: Path) -> tuple[str, str]:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet", f"read_parquet({sql_string(path)})"
    if name.endswith(_CSV_SUFFIXES):
        names, delimiter = _csv_header(path)
        if not names or names == [""]:
            raise AlphaduckError(f"{path} line 1: no header (expected column names such as ts,open,high,low,close,volume)")
        columns = "{" + ", ".join(f"{sql_string(n)}: 'VARCHAR'" for n in names) + "}"
        return "csv", (
            f"read_csv({sql_string(path)}, header = true, auto_detect = false, delim = {sql_string(delimiter)}, "
            f"quote = '\"', escape = '\"', columns = {columns})"
        )
    raise AlphaduckError(f"{path}: unknown file type (expected .csv, .csv.gz or .parquet)")


def read_error(path: Path, kind: str, exc: duckdb.Error) -> AlphaduckError:
    """DuckDB's reading error as one line naming the file and line."""
    text = str(exc)
    line = _CSV_LINE.search(text)
    line_no = int(line.group(1)) if line else None
    if "unicode" in text.lower():
        return _not_utf8(path, line_no)
    columns = _CSV_COLUMNS.search(text)
    if columns and line_no:
        expected, found = columns.groups()
        return AlphaduckError(
            f"{path} line {line_no}: {found} fields where the header has {expected} (a ragged row: "
            "a missing or extra delimiter, or an unquoted delimiter inside a value)"
        )
    if line_no:
        detail = text.split("\n", 2)[-1].splitlines()[0] if text.count("\n") >= 2 else text.splitlines()[0]
        return AlphaduckError(f"{path} line {line_no}: cannot read as {kind.upper()}: {detail}")
    return AlphaduckError(f"{path}: cannot read as {kind.upper()}: {text.splitlines()[0]}")


def map_columns(
    path: Path,
    columns: list[str],
    aliases: dict[str, tuple[str, ...]] = ALIASES,
    required: tuple[str, ...] = REQUIRED,
) -> dict[str, str]:
    """canonical name -> column name in the file; raises on missing or ambiguous columns."""
    by_lower = {c.strip().lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for canonical, spellings in aliases.items():
        found = [by_lower[s] for s in spellings if s in by_lower]
        if len(found) > 1:
            raise AlphaduckError(
                f"{path}: columns {', '.join(repr(f) for f in found)} all mean {canonical!r}: keep one"
            )
        if found:
            mapping[canonical] = found[0]
    missing = [c for c in required if c not in mapping]
    if missing:
        known = {s for spellings in aliases.values() for s in spellings}
        unknown = [c for low, c in by_lower.items() if low not in known]
        first = missing[0]
        hint = difflib.get_close_matches(first, unknown, n=1, cutoff=0.5)
        suggestion = f" (is {hint[0]!r} a misspelling?)" if hint else ""
        also = f"; also missing {', '.join(missing[1:])}" if len(missing) > 1 else ""
        raise AlphaduckError(
            f"{path}: missing column {first!r}{suggestion}{also}; found columns: {', '.join(columns)}"
        )
    return mapping


def check_types(
    path: Path,
    mapping: dict[str, str],
    types: dict[str, str],
    accepted: dict[str, ColumnType] = ACCEPTED_TYPES,
) -> None:
    """A typed file's columns must hold what they are named for (no booleans as volumes)."""
    for canonical, column in mapping.items():
        expected = accepted[canonical]
        if not types[column].startswith(expected.types):
            raise AlphaduckError(f"{path}, column {column}: type {types[column]}, expected {expected.description}")


@dataclass(frozen=True)
class _TsSql:
    """SQL for one timestamp column: the UTC instant, a date for date-only values, whether the
    value is a local midnight, the naive local time (for clock-change checks), and whether a
    written UTC offset is out of range. ``casts`` are computed once per row, a level below the
    rest, which refers to them by name."""

    utc: str
    day: str
    midnight: str
    naive: str = "null::timestamp"
    bad_offset: str = "false"
    casts: tuple[tuple[str, str], ...] = ()


def _ts_sql(column: str, duck_type: str, tz: str) -> _TsSql:
    col = sql_ident(column)
    tzq = sql_string(tz)
    if duck_type == "VARCHAR":
        text = f"trim({col})"
        is_date = rf"regexp_full_match({text}, '\d{{4}}-\d{{2}}-\d{{2}}|\d{{8}}')"
        has_offset = rf"(length({text}) > 10 and regexp_matches({text}, '(Z|[+-]\d\d(:?\d\d)?)$'))"
        # A value with a UTC offset casts to a timestamp at its wall-clock time and to a
        # timestamptz at its instant: their difference is the offset (0 for naive values).
        offset_us = "(epoch_us(_wall) - epoch_us(_instant))"
        # the common shape, 2025-05-12T09:30:00-04:00, skips the regular expressions
        iso = f"(_length = 25 and {offset_us} <> 0)"
        return _TsSql(
            utc=(
                f"case when {iso} then _instant when {is_date} then null when {has_offset} then _instant "
                f"else timezone({tzq}, _wall) end"
            ),
            day=(
                f"case when {iso} then null when {is_date} then "
                f"coalesce(try_cast({text} as date), try_strptime({text}, '%Y%m%d')::date) end"
            ),
            midnight=(
                f"case when {iso} then false else coalesce(not {is_date} and not {has_offset} "
                "and _wall = date_trunc('day', _wall), false) end"
            ),
            naive=f"case when {iso} then null when not {is_date} and not {has_offset} then _wall end",
            bad_offset=f"coalesce(abs({offset_us}) > {MAX_UTC_OFFSET_MINUTES * 60_000_000}, false)",
            casts=(
                ("_instant", f"try_cast({col} as timestamptz)"),
                ("_wall", f"try_cast({col} as timestamp)"),
                ("_length", f"length({col})"),
            ),
        )
    # DuckDB 2 spells a nanosecond tz-aware column (pandas' default) TIMESTAMPTZ_NS
    if duck_type.startswith(("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")):
        return _TsSql(f"{col}::timestamptz", "null::date", "false")
    if duck_type.startswith("TIMESTAMP"):
        return _TsSql(
            f"timezone({tzq}, {col}::timestamp)",
            "null::date",
            f"({col}::timestamp = date_trunc('day', {col}::timestamp))",
            naive=f"{col}::timestamp",
        )
    return _TsSql("null::timestamptz", col, "false")  # DATE (check_types allows nothing else)


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
        if options.symbol is not None and not options.symbol.strip():
            raise AlphaduckError("--symbol is blank: pass the symbol of files without a symbol column, e.g. SPY")
        if options.ambiguous not in AMBIGUOUS_RULES:
            raise AlphaduckError(f"--ambiguous {options.ambiguous!r}: expected one of {', '.join(AMBIGUOUS_RULES)}")
        self.latest = latest_bar()
        self._parts: list[str] = []  # one SELECT per staged file; the staged view is their union
        self._data = ""  # the table of the file being added
        self._gaps: dict[float, int] = {}  # its histogram of gaps between a symbol's bars (seconds)
        self._repeats_possible = False  # whether a key may appear twice (then unique_bars must look)
        self._refresh_staged()

    def _refresh_staged(self) -> None:
        """The staged view over every added file: no copy of the rows is made."""
        body = " union all ".join(self._parts) or f"select * from (select {_EMPTY_STAGED}) where false"
        self.con.execute(f"create or replace temp view {self.staged.table} as {body}")

    # -- one file ---------------------------------------------------------------------------------
    def add(self, path: Path) -> int:
        """Read, parse and check one file; returns the rows staged."""
        path = Path(path)
        origin = str(path)
        if path.stat().st_size == 0:
            raise AlphaduckError(f"{path}: file is empty")
        kind, source = read_source(path)
        self.staged.kinds[origin] = kind
        self._gaps = {}
        try:
            described = self.con.execute(f"describe select * from {source}").fetchall()
        except duckdb.Error as exc:
            raise read_error(path, kind, exc) from exc
        types = {name: duck_type for name, duck_type, *_ in described}
        mapping = map_columns(path, list(types))
        check_types(path, mapping, types)
        try:
            self._parse(path, origin, kind, source, mapping, types)
        except duckdb.Error as exc:
            raise read_error(path, kind, exc) from exc
        rows = fetch_one(self.con, "select count(*) from _parsed")[0]
        if rows == 0:
            raise AlphaduckError(f"{path}: file has a header but no rows")
        self._check_parse(origin, source, kind, mapping)
        self._check_clock_changes(origin, mapping)
        bar = self._bar_size(path, origin, mapping)
        if bar.is_intraday:
            self._check_spacing(origin, bar, explicit=self.options.bar_size is not None or "bar_size" in mapping)
        else:
            self._anchor_daily(origin)
            self._repeats_possible = True
        self._repeats_possible = self._repeats_possible or bool(self._parts) or self._gaps.get(0, 0) > 0
        self._parts.append(
            f"select {sql_string(origin)} as origin, rowid + 1 as row_no, symbol, {sql_string(bar.code)} as bar_size, "
            f"ts, open, high, low, close, volume, wap, bar_count from {self._data}"
        )
        self._refresh_staged()
        self.con.execute("drop view _parsed")
        return rows

    def _parse(
        self, path: Path, origin: str, kind: str, source: str, mapping: dict[str, str], types: dict[str, str]
    ) -> None:
        t = _ts_sql(mapping["ts"], types[mapping["ts"]], self.options.tz)
        if "symbol" in mapping:
            if self.options.symbol:
                raise AlphaduckError(
                    f"{path}: has a {mapping['symbol']!r} column; --symbol is only for files without one"
                )
            # as written: cleaned up per distinct symbol afterwards (_normalize_symbols), not per row
            symbol = f"{sql_ident(mapping['symbol'])}::varchar"
        elif self.options.symbol:
            symbol = sql_string(self.options.symbol.strip().upper())
        else:
            raise AlphaduckError(f"{path}: no symbol column: pass --symbol")
        bar_size = (
            f"trim({sql_ident(mapping['bar_size'])}::varchar)" if "bar_size" in mapping else "null::varchar"
        )
        present = [c for c in (*NUMERIC, "bar_count") if c in mapping]
        raw = {c: sql_ident(mapping[c]) for c in present}
        # casts: every value parsed once; parsed: the timestamp's shape; outer: the first problem
        # of a row, mostly from nulls (the raw value is only looked at where the parse failed)
        casts = [
            "*",
            *[f"{expr} as {name}" for name, expr in t.casts],
            *[f"try_cast({raw[c]} as double) as _value_{c}" for c in present],
        ]
        parsed = [
            f"{symbol} as symbol",
            f"{bar_size} as bar_size_text",
            f"{sql_ident(mapping['ts'])} is null as ts_missing",
            f"{t.utc} as ts",
            f"{t.day} as day",
            f"{t.midnight} as at_midnight",
            f"{t.naive} as local_ts",
            f"{t.bad_offset} as bad_offset",
            *[f"_value_{c} as {c}" for c in present],
            *[f"_value_{c} is null and nullif(trim({raw[c]}::varchar), '') is not null as {c}_unparsed"
              for c in present],
        ]  # fmt: skip
        earliest, latest = sql_string(EARLIEST_BAR.isoformat()), sql_string(self.latest.isoformat())
        # the first problem of a row: 'column' (missing or unparseable) or 'column:what'
        checks = [
            "when ts_missing or (ts is null and day is null) then 'ts'",
            "when bad_offset then 'ts:offset'",
            f"when ts < {earliest}::timestamptz or ts > {latest}::timestamptz then 'ts:range'",
            f"when day < {earliest}::date or day > {latest}::timestamptz::date then 'ts:range'",
        ]
        for c in present:
            checks.append(f"when {c} is null and ({'true' if c in REQUIRED else 'false'} or {c}_unparsed) then '{c}'")
        if "bar_count" in mapping:
            checks.append(
                f"when bar_count is not null and not (isfinite(bar_count) and bar_count = floor(bar_count) "
                f"and abs(bar_count) < {_MAX_WHOLE}) then 'bar_count:whole'"
            )
        numbers = [c if c in mapping else f"null::double as {c}" for c in NUMERIC]
        self._data = f"_parsed_{len(self._parts)}"
        self.con.execute(
            f"""
            create or replace temp table {self._data} as
            with casts as (select {", ".join(casts)} from {source}),
            parsed as (select {", ".join(parsed)} from casts)
            select
                symbol, bar_size_text, ts, day, at_midnight, local_ts, {", ".join(numbers)},
                case {" ".join(checks)} end as parse_error,
                case when parse_error is null then {"bar_count" if "bar_count" in mapping else "null"}::bigint
                end as bar_count
            from parsed
            """
        )
        # an order-preserving scan gives rowid in file order: row numbers without
        # row_number() over (), which would serialise the read
        self.con.execute(
            f"create or replace temp view _parsed as select {sql_string(origin)} as origin, rowid + 1 as row_no, * "
            f"from {self._data}"
        )

    def _normalize_symbols(self) -> list[str]:
        """Symbols trimmed and in upper case, worked out once per distinct symbol (the rows are
        updated only where that changes something); returns the symbols that are blank as written."""
        self.con.execute(
            f"""
            create or replace temp table _symbols as
            select symbol as written, upper(trim(symbol)) as clean from (select distinct symbol from {self._data})
            """
        )
        blank = [w for (w,) in self.con.execute("select written from _symbols where coalesce(clean, '') = ''").fetchall()]
        if fetch_one(self.con, "select count(*) from _symbols where written <> clean")[0]:
            self.con.execute(
                f"""
                update {self._data} set symbol = s.clean from _symbols as s
                where {self._data}.symbol = s.written and s.written <> s.clean
                """
            )
        self.con.execute("drop table _symbols")
        return blank

    def _check_parse(self, origin: str, source: str, kind: str, mapping: dict[str, str]) -> None:
        blank = self._normalize_symbols() if "symbol" in mapping else []
        bad = fetch_one(
            self.con,
            f"""
            with problems as (
                select row_no, parse_error from _parsed where parse_error is not null
                {"union all select row_no, 'symbol' from _parsed where coalesce(trim(symbol), '') = ''" if blank else ""}
            )
            select row_no, parse_error, count(*) over () from problems order by row_no limit 1
            """,
        )
        if not bad:
            return
        row_no, error, n_bad = bad
        column, _, what = error.partition(":")
        row_no_sql = "row_number() over ()"  # the error path can afford it
        raw = fetch_one(
            self.con,
            f"select raw from (select {row_no_sql} as rn, {sql_ident(mapping[column])}::varchar as raw from {source}) where rn = ?",
            [row_no],
        )[0]
        if what == "offset":
            problem = f"the UTC offset of {raw!r} is beyond ±18:00"
        elif what == "range":
            problem = (
                f"{raw!r} is out of range: bars start between {EARLIEST_BAR:%Y-%m-%d} and now "
                f"({self.latest:%Y-%m-%d})"
            )
        elif what == "whole":
            problem = f"{raw!r} is not a whole number of trades"
        elif raw is None or str(raw).strip() == "":
            problem = "missing value"
        else:
            noun = {"ts": "timestamp", "bar_count": "number", "symbol": "symbol"}.get(column, "number")
            problem = f"cannot parse {raw!r} as a {noun}"
        more = f" ({n_bad - 1} more bad rows)" if n_bad > 1 else ""
        raise AlphaduckError(
            f"{self.staged.locate(origin, row_no)}, column {mapping[column]}: {problem}{more}"
        )

    def _check_clock_changes(self, origin: str, mapping: dict[str, str]) -> None:
        """Naive times that a clock change repeats (fold) or skips (gap) name no single instant.

        Gaps are refused; folds are refused unless --ambiguous says how to read them, and then
        their UTC time is set here.
        """
        years = fetch_one(self.con, f"select year(min(local_ts)), year(max(local_ts)) from {self._data}")
        if years is None or years[0] is None:
            return
        self.con.register("_changes", clock_changes_frame(self.options.tz, years[0], years[1]))
        try:
            self.con.execute(
                """
                create or replace temp table _in_change as
                select p.row_no, p.symbol, p.local_ts, c.kind, c.local_start, c.local_end,
                       c.offset_before_s, c.offset_after_s
                from _parsed p join _changes c on p.local_ts >= c.local_start and p.local_ts < c.local_end
                """
            )
        finally:
            self.con.unregister("_changes")
        first = fetch_one(
            self.con,
            """
            select row_no, local_ts, kind, local_start, local_end, offset_before_s, offset_after_s,
                   count(*) over (partition by kind)
            from _in_change order by kind = 'gap' desc, row_no limit 1
            """,
        )
        if first is None:
            self.con.execute("drop table _in_change")
            return
        row_no, local_ts, kind, start, end, before, after, n = first
        change = ClockChange(kind, start, end, timedelta(seconds=before), timedelta(seconds=after))
        where = f"{self.staged.locate(origin, row_no)}, column {mapping['ts']}"
        more = f" ({n - 1} more rows in clock changes)" if n > 1 else ""
        if kind == GAP:
            raise AlphaduckError(
                f"{where}: {local_ts:%Y-%m-%d %H:%M:%S} does not exist in {self.options.tz}: {change.describe(self.options.tz)}"
                f"{more}; give the timestamps a UTC offset, or check --tz"
            )
        rule = self.options.ambiguous
        if rule == "raise":
            raise AlphaduckError(
                f"{where}: {local_ts:%Y-%m-%d %H:%M:%S} is ambiguous (DST): {change.describe(self.options.tz)}"
                f"{more}; give the timestamps a UTC offset, or pass --ambiguous earlier|later|infer"
            )
        self._resolve_folds(origin, mapping, rule)
        self.con.execute("drop table _in_change")

    def _resolve_folds(self, origin: str, mapping: dict[str, str], rule: str) -> None:
        """Set the UTC time of each folded row by --ambiguous (earlier, later, infer)."""
        if rule == "infer":
            # per symbol and fold, in file order: the repeat starts where the local time stops rising
            self.con.execute(
                """
                create or replace temp table _fold_sides as
                with ordered as (
                    select *, coalesce(local_ts <= lag(local_ts) over w, false) as restarts
                    from _in_change window w as (partition by symbol, local_start order by row_no)
                )
                select *, sum(restarts::int) over (partition by symbol, local_start order by row_no) as side,
                       sum(restarts::int) over (partition by symbol, local_start) as repeats
                from ordered
                """
            )
            bad = fetch_one(
                self.con, "select row_no, local_ts, repeats from _fold_sides where repeats <> 1 order by row_no limit 1"
            )
            if bad:
                row_no, local_ts, repeats = bad
                why = "it does not repeat" if repeats == 0 else f"it repeats {repeats} times"
                raise AlphaduckError(
                    f"{self.staged.locate(origin, row_no)}, column {mapping['ts']}: cannot infer which "
                    f"{local_ts:%Y-%m-%d %H:%M:%S} in {self.options.tz} is meant (DST ends), {why}: give the "
                    "timestamps a UTC offset, or pass --ambiguous earlier|later"
                )
            rows = (
                "select row_no, local_ts, case when side = 0 then offset_before_s else offset_after_s end "
                "as offset_s from _fold_sides"
            )
        else:
            offset = "offset_before_s" if rule == "earlier" else "offset_after_s"
            rows = f"select row_no, local_ts, {offset} as offset_s from _in_change"
        self.con.execute(
            f"""
            update {self._data} set ts = (f.local_ts - to_seconds(f.offset_s))::timestamptz
            from ({rows}) as f where {self._data}.rowid + 1 = f.row_no
            """
        )
        if rule == "infer":
            self.con.execute("drop table _fold_sides")

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

    def _gap_histogram(self) -> dict[float, int]:
        """Seconds between consecutive bars of a symbol (under 20 h) -> how often: one sort of the file
        answers the bar size, mixed sizes, a mistyped --bar-size and repeated keys (gap 0)."""
        rows = self.con.execute(
            f"""
            with gaps as (
                select epoch(ts) - epoch(lag(ts) over (partition by symbol order by ts)) as gap from _parsed
            )
            select gap, count(*) from gaps where gap < {_INTRADAY_GAP_S} group by gap
            """
        ).fetchall()
        return {gap: n for gap, n in rows}

    def _infer_intraday(self, path: Path) -> BarSize:
        self._gaps = self._gap_histogram()
        spaced = {gap: n for gap, n in self._gaps.items() if gap > 0}
        if not spaced:
            raise AlphaduckError(f"{path}: cannot infer the bar size from so few bars: pass --bar-size")
        gap = min(spaced, key=lambda g: (-spaced[g], g))
        bar = bar_size_from_seconds(gap)
        if bar is None:
            raise AlphaduckError(
                f"{path}: bars are most often {gap:g} s apart, which is no IB bar size: pass --bar-size"
            )
        return bar

    def _check_spacing(self, origin: str, bar: BarSize, *, explicit: bool) -> None:
        """Bars closer together than the bar size mean two bar sizes were mixed.

        The first bar of a local day may be shorter (IB's hourly bars start 09:30, 10:00,
        11:00), so a short gap right after it is allowed.
        """
        if not self._gaps:
            self._gaps = self._gap_histogram()
        spaced = {gap: n for gap, n in self._gaps.items() if gap > 0}
        if any(gap < bar.seconds for gap in spaced):
            self._locate_short_gap(origin, bar)
        if explicit and spaced:
            # a --bar-size that no two bars are apart by, where most gaps say another size, is a typo
            n_gaps = sum(spaced.values())
            gap = min(spaced, key=lambda g: (-spaced[g], g))
            if n_gaps >= 10 and bar.seconds not in spaced and spaced[gap] / n_gaps > 0.5:
                found = bar_size_from_seconds(gap)
                raise AlphaduckError(
                    f"{origin}: the bar size is {bar.code} but most bars are {found or f'{gap:g} s'} apart"
                )

    def _locate_short_gap(self, origin: str, bar: BarSize) -> None:
        """The first bar that starts too soon after the previous one, unless it follows a day's first bar."""
        tzq = sql_string(self.options.tz)
        short = fetch_one(
            self.con,
            f"""
            with ordered as (
                select row_no, symbol, ts, lag(row_no) over w as previous_row,
                       epoch(ts) - epoch(lag(ts) over w) as gap, lag(ts) over w as previous_ts,
                       lag(ts, 2) over w as before_previous_ts
                from _parsed
                window w as (partition by symbol order by ts)
            ),
            short as (select * from ordered where gap > 0 and gap < {bar.seconds})
            select row_no, symbol, ts, gap, previous_row from short
            where timezone({tzq}, previous_ts)::date
                  = coalesce(timezone({tzq}, before_previous_ts)::date, date '0001-01-01')
            order by greatest(row_no, previous_row) limit 1
            """,
        )
        if short:
            row_no, symbol, ts, gap, previous_row = short
            raise AlphaduckError(
                f"{self.staged.locate(origin, row_no)}: {symbol} bar at {ts:%Y-%m-%d %H:%M} UTC starts {gap:g} s after "
                f"the one at {self.staged.locate(origin, previous_row).removeprefix(origin + ' ')}, but the file's bars "
                f"are {bar.code}: mixed bar sizes in one file"
            )

    def _anchor_daily(self, origin: str) -> None:
        """Daily bars start at their session's open: look it up in the exchange calendar."""
        tzq = sql_string(self.options.tz)
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
            f"""
            update {self._data} set ts = s.open_utc
            from _days d join _sessions s on s.session_date = d.day
            where {self._data}.rowid + 1 = d.row_no
            """
        )
        self.con.execute("drop table _days")
        self.con.unregister("_sessions")

    # -- all files --------------------------------------------------------------------------------
    def check(self) -> str:
        """Row rules and cross-file clashes over everything staged; returns the table of unique bars."""
        check_rows(self.con, self.staged.table, self.staged.locate)
        if not self._repeats_possible:
            return self.staged.table  # one intraday file whose gap histogram has no zero gap
        return unique_bars(self.con, self.staged.table, self.staged.locate)
