"""Corporate actions (stock splits and cash dividends) into raw.corporate_actions.

Raw bars stay raw (DESIGN.md): a split or a dividend is a row here, and adjustment is a dbt
model over raw.bars and these rows. Two ways in:

- files (``alphaduck ingest actions FILE``): CSV or Parquet with ``symbol, ex_date`` and
  ``split_ratio`` (new shares per old) and/or ``cash_dividend`` (cash per share), checked
  like bar files (one line naming file/row/column, exit 2, warehouse unchanged);
- IBKR (``alphaduck ingest ibkr --bar-size 1d --actions``): derived by ``derive_actions``
  from IB's split- and dividend-adjusted daily series (ADJUSTED_LAST) beside its raw one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import CATALOG, attach, fetch_one, scratch
from ingest.files import (
    DATES,
    NUMBERS,
    TEXT,
    ColumnType,
    StagedFiles,
    check_types,
    map_columns,
    read_error,
    read_source,
    sql_ident,
    sql_string,
    stage_files,
)
from ingest.sessions import trading_sessions, validate_calendar
from ingest.store import MergeCounts, close_stale_runs, new_run_id, record_run
from ingest.tables import ensure_tables
from ingest.validate import EARLIEST_BAR, latest_bar

SPLIT, DIVIDEND = "split", "dividend"
ACTION_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker"),
    "ex_date": ("ex_date", "exdate", "ex_dividend_date", "date"),
    "split_ratio": ("split_ratio", "ratio"),
    "cash_dividend": ("cash_dividend", "dividend", "amount"),
}
ACTION_TYPES: dict[str, ColumnType] = {
    "symbol": TEXT,
    "ex_date": DATES,
    "split_ratio": NUMBERS,
    "cash_dividend": NUMBERS,
}
# beyond these a value is a typo or a unit mix-up (a reverse split of 1:10,000 is 0.0001)
MAX_SPLIT_RATIO = 10_000.0
MAX_CASH_DIVIDEND = 100_000.0

STAGED_ACTIONS = """
    origin varchar, row_no bigint, symbol varchar, ex_date date, kind varchar,
    split_ratio double, cash_dividend double
"""


# -- files ---------------------------------------------------------------------------------------------


class ActionStager:
    """Stages action files into one in-memory table, checking each row as it goes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, calendar: str, table: str = "staged_actions") -> None:
        self.con = con
        self.calendar = calendar
        self.staged = StagedFiles(table)
        self.latest = latest_bar().date()
        con.execute(f"create or replace temp table {table} ({STAGED_ACTIONS})")

    def add(self, path: Path) -> int:
        """Read and check one file; returns its rows."""
        path = Path(path)
        origin = str(path)
        if path.stat().st_size == 0:
            raise AlphaduckError(f"{path}: file is empty")
        kind, source = read_source(path)
        self.staged.kinds[origin] = kind
        try:
            described = self.con.execute(f"describe select * from {source}").fetchall()
        except duckdb.Error as exc:
            raise read_error(path, kind, exc) from exc
        types = {name: duck_type for name, duck_type, *_ in described}
        mapping = map_columns(path, list(types), ACTION_ALIASES, ("symbol", "ex_date"))
        if "split_ratio" not in mapping and "cash_dividend" not in mapping:
            raise AlphaduckError(
                f"{path}: no split_ratio or cash_dividend column; found columns: {', '.join(types)}"
            )
        check_types(path, mapping, types, ACTION_TYPES)
        try:
            self._parse(origin, source, mapping, types)
        except duckdb.Error as exc:
            raise read_error(path, kind, exc) from exc
        rows = fetch_one(self.con, "select count(*) from _actions_parsed")[0]
        if rows == 0:
            raise AlphaduckError(f"{path}: file has a header but no rows")
        self._check_parse(origin, source, mapping)
        self._check_sessions(origin, mapping)
        for action, value in ((SPLIT, "split_ratio"), (DIVIDEND, "cash_dividend")):
            self.con.execute(
                f"""
                insert into {self.staged.table}
                select origin, row_no, symbol, ex_date, '{action}',
                       {"split_ratio" if action == SPLIT else "null"}, {"cash_dividend" if action == DIVIDEND else "null"}
                from _actions_parsed where {value} is not null
                """
            )
        self.con.execute("drop view _actions_parsed")
        self.con.execute("drop table _actions_data")
        return rows

    def _parse(self, origin: str, source: str, mapping: dict[str, str], types: dict[str, str]) -> None:
        col = {c: sql_ident(name) for c, name in mapping.items()}
        ex_type = types[mapping["ex_date"]]
        if ex_type == "DATE":
            ex_date = col["ex_date"]
        elif ex_type.startswith("TIMESTAMP"):
            stamp = f"{col['ex_date']}::timestamp"
            ex_date = f"case when {stamp} = date_trunc('day', {stamp}) then {stamp}::date end"
        else:
            text = f"trim({col['ex_date']})"
            ex_date = f"coalesce(try_cast({text} as date), try_strptime({text}, '%Y%m%d')::date)"

        def number(c: str) -> tuple[str, str]:
            if c not in mapping:
                return "null::double", "true"
            return f"try_cast({col[c]} as double)", f"coalesce(trim({col[c]}::varchar), '') = ''"

        split, split_blank = number("split_ratio")
        dividend, dividend_blank = number("cash_dividend")
        earliest, latest = sql_string(EARLIEST_BAR.date().isoformat()), sql_string(self.latest.isoformat())
        self.con.execute(
            f"""
            create or replace temp table _actions_data as
            with parsed as (
                select
                    {sql_string(origin)} as origin,
                    upper(trim({col["symbol"]}::varchar)) as symbol,
                    {col["ex_date"]} is null as ex_date_missing,
                    {ex_date} as ex_date,
                    {split_blank} as split_blank,
                    {split} as split_ratio,
                    {dividend_blank} as dividend_blank,
                    {dividend} as cash_dividend
                from {source}
            )
            select origin, symbol, ex_date,
                   case when split_blank then null else split_ratio end as split_ratio,
                   case when dividend_blank then null else cash_dividend end as cash_dividend,
                   case
                       when coalesce(symbol, '') = '' then 'symbol'
                       when ex_date_missing or ex_date is null then 'ex_date'
                       when ex_date < {earliest}::date or ex_date > {latest}::date then 'ex_date:range'
                       when split_blank and dividend_blank then 'split_ratio:none'
                       when not split_blank and split_ratio is null then 'split_ratio'
                       when not split_blank and not (isfinite(split_ratio) and split_ratio > 0
                            and split_ratio <= {MAX_SPLIT_RATIO:g} and split_ratio <> 1) then 'split_ratio:value'
                       when not dividend_blank and cash_dividend is null then 'cash_dividend'
                       when not dividend_blank and not (isfinite(cash_dividend) and cash_dividend > 0
                            and cash_dividend <= {MAX_CASH_DIVIDEND:g}) then 'cash_dividend:value'
                   end as parse_error
            from parsed
            """
        )
        self.con.execute(
            "create or replace temp view _actions_parsed as select rowid + 1 as row_no, * from _actions_data"
        )

    def _check_parse(self, origin: str, source: str, mapping: dict[str, str]) -> None:
        bad = fetch_one(
            self.con,
            "select row_no, parse_error, count(*) over () from _actions_parsed where parse_error is not null "
            "order by row_no limit 1",
        )
        if not bad:
            return
        row_no, error, n_bad = bad
        column, _, what = error.partition(":")
        more = f" ({n_bad - 1} more bad rows)" if n_bad > 1 else ""
        if what == "none":
            given = " and ".join(c for c in ("split_ratio", "cash_dividend") if c in mapping)
            raise AlphaduckError(f"{self.staged.locate(origin, row_no)}: no value in {given}{more}")
        raw = fetch_one(
            self.con,
            f"select raw from (select row_number() over () as rn, {sql_ident(mapping[column])}::varchar as raw "
            f"from {source}) where rn = ?",
            [row_no],
        )[0]
        problems = {
            "range": f"{raw!r} is out of range: ex-dates lie between {EARLIEST_BAR:%Y-%m-%d} and now",
            "value": (
                f"{raw!r} is not a split ratio (new shares per old share: > 0, not 1, at most {MAX_SPLIT_RATIO:g})"
                if column == "split_ratio"
                else f"{raw!r} is not a cash dividend (cash per share: > 0, at most {MAX_CASH_DIVIDEND:g})"
            ),
        }
        if what in problems:
            problem = problems[what]
        elif raw is None or str(raw).strip() == "":
            problem = "missing value"
        else:
            noun = {"symbol": "symbol", "ex_date": "date"}.get(column, "number")
            problem = f"cannot parse {raw!r} as a {noun}"
        raise AlphaduckError(f"{self.staged.locate(origin, row_no)}, column {mapping[column]}: {problem}{more}")

    def _check_sessions(self, origin: str, mapping: dict[str, str]) -> None:
        """An ex-date is a trading session: a weekend or a holiday is a typo."""
        first, last = fetch_one(self.con, "select min(ex_date), max(ex_date) from _actions_parsed")
        self.con.register("_sessions", trading_sessions(self.calendar, first, last))
        try:
            missing = fetch_one(
                self.con,
                """
                select a.row_no, a.ex_date, count(*) over () from _actions_parsed as a
                anti join _sessions as s on s.session_date = a.ex_date
                order by a.row_no limit 1
                """,
            )
        finally:
            self.con.unregister("_sessions")
        if missing:
            row_no, day, n = missing
            more = f" ({n - 1} more such rows)" if n > 1 else ""
            raise AlphaduckError(
                f"{self.staged.locate(origin, row_no)}, column {mapping['ex_date']}: {day} is not a "
                f"{self.calendar} trading session{more}"
            )

    def check(self) -> str:
        """One row per (symbol, ex_date, kind): a repeat with other values is refused; returns the table."""
        table = self.staged.table
        clash = fetch_one(
            self.con,
            f"""
            select symbol, ex_date, kind, min(origin || chr(0) || lpad(row_no::varchar, 20, '0')),
                   max(origin || chr(0) || lpad(row_no::varchar, 20, '0'))
            from {table} group by all
            having count(distinct split_ratio) > 1 or count(distinct cash_dividend) > 1
            order by 4 limit 1
            """,
        )
        if clash:
            symbol, ex_date, kind, first_at, last_at = clash
            (o1, r1), (o2, r2) = (s.split(chr(0)) for s in (first_at, last_at))
            raise AlphaduckError(
                f"{self.staged.locate(o2, int(r2))}: {symbol} {kind} on {ex_date} already appears at "
                f"{self.staged.locate(o1, int(r1))} with a different value"
            )
        self.con.execute(
            f"""
            create or replace temp table _unique_actions as
            select distinct on (symbol, ex_date, kind) * from {table}
            order by symbol, ex_date, kind, origin, row_no
            """
        )
        return "_unique_actions"


# -- the warehouse -------------------------------------------------------------------------------------


def merge_actions(
    con: duckdb.DuckDBPyConnection, staged: str, *, source: str, ingested_at: datetime, catalog: str = CATALOG
) -> MergeCounts:
    """Upsert actions by (symbol, ex_date, kind); unchanged ones are not touched (re-ingest is a no-op)."""
    con.execute(
        f"""
        create or replace temp table _action_delta as
        select s.symbol, s.ex_date, s.kind, s.split_ratio, s.cash_dividend, a.symbol is null as is_new
        from {staged} as s
        left join {catalog}.raw.corporate_actions as a
            on a.symbol = s.symbol and a.ex_date = s.ex_date and a.kind = s.kind
        where a.symbol is null or s.split_ratio is distinct from a.split_ratio
           or s.cash_dividend is distinct from a.cash_dividend
        """
    )
    inserted, updated = fetch_one(
        con, "select count(*) filter (where is_new), count(*) filter (where not is_new) from _action_delta"
    )
    con.execute(
        f"""
        insert into {catalog}.raw.corporate_actions
        select symbol, ex_date, kind, split_ratio, cash_dividend, ?, ? from _action_delta
        on conflict (symbol, ex_date, kind) do update set
            split_ratio = excluded.split_ratio, cash_dividend = excluded.cash_dividend,
            source = excluded.source, ingested_at = excluded.ingested_at
        """,
        [source, ingested_at],
    )
    con.execute("drop table _action_delta")
    return MergeCounts(inserted, updated)


@dataclass
class ActionsResult:
    run_id: str
    rows_read: int
    counts: MergeCounts
    symbols: list[str] = field(default_factory=list)


def ingest_action_files(
    paths: Sequence[Path],
    *,
    calendar: str,
    db: str | Path | None = None,
    source: str | None = None,
    on_file: Callable[[Path, int], None] | None = None,
) -> ActionsResult:
    """Load action files as one all-or-nothing run (checked in memory first, like bar files)."""
    validate_calendar(calendar)
    con = scratch()
    try:
        stager = ActionStager(con, calendar)
        rows_read = stage_files(stager, paths, on_file)
        unique = stager.check()
        symbols = [s for (s,) in con.execute(f"select distinct symbol from {unique} order by 1").fetchall()]
        source = source or ("file:" + ",".join(Path(p).name for p in paths))[:200]
        started_at = datetime.now(UTC)
        run_id = new_run_id(source)
        parameters = {"paths": [str(p) for p in paths], "calendar": calendar, "table": "raw.corporate_actions"}
        attach(con, db)
        con.execute("begin")
        try:
            ensure_tables(con, CATALOG)
            close_stale_runs(con, found_by=run_id)
            counts = merge_actions(con, unique, source=source, ingested_at=datetime.now(UTC))
            record_run(
                con, run_id, source=source, parameters=parameters, started_at=started_at, status="ok",
                counts=counts,
            )  # fmt: skip
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return ActionsResult(run_id, rows_read, counts, symbols)
    finally:
        con.close()


# -- from IB's adjusted series -------------------------------------------------------------------------

# split ratios (new shares per old) seen in practice; a step of the adjusted/raw ratio within
# SPLIT_TOLERANCE of one of these is a split, not a dividend
SPLIT_RATIOS = (2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 25, 50, 3 / 2, 4 / 3, 5 / 4, 5 / 2,
                1 / 2, 2 / 3, 1 / 3, 1 / 4, 1 / 5, 1 / 8, 1 / 10, 1 / 15, 1 / 20, 1 / 25, 1 / 30, 1 / 40, 1 / 50,
                1 / 100)  # fmt: skip
SPLIT_TOLERANCE = 0.005
# a dividend takes less than half the price; a larger drop of the ratio is no dividend
MAX_DIVIDEND_STEP = 0.5
DIVIDEND_DECIMALS = 4


@dataclass
class DerivedActions:
    """What the ratio of two daily series says: actions, and steps that are neither (reported)."""

    actions: pd.DataFrame  # ex_date, kind, split_ratio, cash_dividend
    unexplained: list[tuple[date, float]] = field(default_factory=list)  # (session, ratio step)


def _tick(values: np.ndarray) -> float:
    """The price increment the series is rounded to (10^-decimals of its most precise value)."""
    for decimals in range(0, 11):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-decimals
    return 0.0


def _nearest_split(factor: float) -> float | None:
    best = min(SPLIT_RATIOS, key=lambda r: abs(math.log(factor / r)))
    return float(best) if abs(factor / best - 1) <= SPLIT_TOLERANCE else None


def derive_actions(raw_close: pd.Series, adjusted_close: pd.Series) -> DerivedActions:
    """Splits and cash dividends from how the adjusted/raw close ratio steps at ex-dates.

    Convention (CRSP's, Yahoo's, and IB's ADJUSTED_LAST): every price before an ex-date ``e``
    is multiplied by ``1 / s`` for a split of ``s`` new shares per old share, and by
    ``1 - D / C`` for a cash dividend ``D`` per share, ``C`` being the raw close of the session
    before ``e``; the factors of later actions compound back in time. So the ratio
    ``r_t = adjusted_t / raw_t`` is constant between ex-dates and steps at each by
    ``step = r_{e-1} / r_e``:

    - ``1 / step`` within ``SPLIT_TOLERANCE`` of a ratio in ``SPLIT_RATIOS``: a split of that
      ratio (what is left of the step, ``step * s``, is a same-day dividend if it is not 1);
    - ``0 < 1 - step < MAX_DIVIDEND_STEP``: a dividend ``D = (1 - step) * C`` (per share as
      traded the day before ``e``), rounded to ``DIVIDEND_DECIMALS`` decimals;
    - anything else is returned in ``unexplained``, never stored.

    A day-to-day change of the ratio smaller than the rounding of the adjusted prices can
    explain (three times the step rounding to the series' own tick can cause) is noise. The
    step at each ex-date is then measured between the least-squares ratios of the two
    constant stretches around it, which averages the rounding out of the amounts.

    Parameters
    ----------
    raw_close, adjusted_close : pandas.Series
        Daily closes indexed by session date; only the sessions both have are compared.

    Returns
    -------
    DerivedActions
        ``actions`` with columns ex_date, kind, split_ratio, cash_dividend; and ``unexplained``.
    """
    both = pd.concat({"raw": raw_close, "adjusted": adjusted_close}, axis=1, join="inner").dropna().sort_index()
    both = both[(both["raw"] > 0) & (both["adjusted"] > 0)]
    rows: list[tuple] = []
    unexplained: list[tuple[date, float]] = []
    if len(both) < 2:
        return DerivedActions(_actions_frame(rows), unexplained)
    raw, adjusted = both["raw"].to_numpy(), both["adjusted"].to_numpy()
    ratio = adjusted / raw
    half_tick = _tick(adjusted) / 2
    noise = 3 * (half_tick / adjusted[:-1] + half_tick / adjusted[1:]) + 1e-9
    steps = np.flatnonzero(np.abs(ratio[:-1] / ratio[1:] - 1) > noise) + 1  # positions of ex-dates
    # least-squares ratio of each constant stretch: sum(raw * adjusted) / sum(raw^2)
    bounds = [0, *steps.tolist(), len(raw)]
    stretch = [
        float(raw[a:b] @ adjusted[a:b] / (raw[a:b] @ raw[a:b])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    for k, position in enumerate(steps):
        ex_date, close = both.index[position], raw[position - 1]
        step = stretch[k] / stretch[k + 1]
        tolerance = noise[position - 1]
        split = _nearest_split(1 / step)
        if split is not None:
            rows.append((ex_date, SPLIT, split, None))
            rest = step * split  # a dividend on the same ex-date
            if 1 - rest > tolerance:
                rows.append((ex_date, DIVIDEND, None, round((1 - rest) * close, DIVIDEND_DECIMALS)))
        elif 0 < 1 - step < MAX_DIVIDEND_STEP:
            rows.append((ex_date, DIVIDEND, None, round((1 - step) * close, DIVIDEND_DECIMALS)))
        else:
            unexplained.append((ex_date, step))
    return DerivedActions(_actions_frame(rows), unexplained)


def _actions_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ex_date", "kind", "split_ratio", "cash_dividend"])
    return frame.astype({"split_ratio": "float64", "cash_dividend": "float64"})


def store_derived(
    con: duckdb.DuckDBPyConnection, symbol: str, derived: pd.DataFrame, *, source: str, catalog: str = CATALOG
) -> MergeCounts:
    """Merge one symbol's derived actions (inside the caller's transaction)."""
    if derived.empty:
        return MergeCounts()
    frame = derived.assign(symbol=symbol, origin=f"IB {symbol}", row_no=range(1, len(derived) + 1))
    con.register("_derived", frame)
    con.execute(
        "create or replace temp table _derived_actions as "
        "select origin, row_no, symbol, ex_date::date as ex_date, kind, split_ratio, cash_dividend from _derived"
    )
    con.unregister("_derived")
    counts = merge_actions(con, "_derived_actions", source=source, ingested_at=datetime.now(UTC), catalog=catalog)
    con.execute("drop table _derived_actions")
    return counts
