"""Loading files (and the bundled sample) into the warehouse: stage, check, merge, record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alphaduck.errors import AlphaduckError
from alphaduck.settings import DEFAULT_CALENDAR, DEFAULT_TZ, SAMPLE_DIR
from alphaduck.warehouse import CATALOG, attach, scratch
from ingest.files import FileOptions, FileStager, stage_files
from ingest.series import file_conflict, record_file_series
from ingest.sessions import validate_calendar, warm_calendar
from ingest.store import MergeCounts, close_stale_runs, merge_bars, new_run_id, record_run, refresh_sessions
from ingest.tables import ensure_tables

BARS, ACTIONS, MEMBERS = "bars", "actions", "members"


@dataclass(frozen=True)
class Sample:
    """A bundled file under data/sample (see its SOURCES.md).

    Parameters
    ----------
    filename : str
        The file under data/sample.
    holds : {"bars", "actions", "members"}
        Bars for raw.bars, corporate actions for raw.corporate_actions, or index
        membership for raw.universe.
    description : str
        One line for ``--help``.
    symbol : str or None, default=None
        The symbol of a bar file without a symbol column.
    companions : tuple of str, default=()
        Samples loaded together with this one (a bar file's corporate actions).
    universe : str or None, default=None
        The universe name a membership file is loaded under.
    """

    filename: str
    holds: str
    description: str
    symbol: str | None = None
    companions: tuple[str, ...] = ()
    universe: str | None = None


SAMPLES: dict[str, Sample] = {
    "us24-30min": Sample(
        "us24_30min_rth_2025-05_2026-03.csv.gz", BARS, "24 US symbols, 30-minute RTH bars 2025-05..2026-03"
    ),
    "spy-daily": Sample("spy_daily_1999-11_2023-03.csv.gz", BARS, "SPY daily bars 1999..2023", symbol="SPY"),
    "dow30-daily": Sample(
        "dow30_spy_daily_raw_1999-11_2023-03.csv.gz",
        BARS,
        "the Dow 30 and SPY, raw daily bars 1999..2023, with their splits (dow30-splits) and DJIA membership "
        "(dow30-members)",
        companions=("dow30-splits", "dow30-members"),
    ),
    "dow30-splits": Sample(
        "dow30_splits_1999-11_2023-03.csv", ACTIONS, "the 25 stock splits in dow30-daily (raw.corporate_actions)"
    ),
    "dow30-members": Sample(
        "dow30_membership_1999-11_2023-03.csv", MEMBERS,
        "when each dow30-daily symbol was a DJIA member (raw.universe dow30)", universe="dow30",
    ),
}


def sample_path(name: str) -> Path:
    path = SAMPLE_DIR / SAMPLES[name].filename
    if not path.exists():
        raise AlphaduckError(f"sample file {path} is missing: is this a complete checkout?")
    return path


def with_companions(names: Sequence[str]) -> list[str]:
    """The samples to load for ``names``: each followed by its companions, each once."""
    return list(dict.fromkeys(n for name in names for n in (name, *SAMPLES[name].companions)))


def sample_source(name: str, calendar: str = DEFAULT_CALENDAR) -> tuple[Path, FileOptions, str]:
    """A bundled bar sample's file, how to read it, and the source name its bars are stored under."""
    sample = SAMPLES[name]
    return (
        sample_path(name),
        FileOptions(symbol=sample.symbol, tz=DEFAULT_TZ, calendar=calendar),
        f"sample:{name}",
    )


@dataclass
class IngestResult:
    run_id: str
    rows_read: int
    counts: MergeCounts
    keys: list[tuple[str, str]] = field(default_factory=list)  # (symbol, bar_size) touched


def ingest_files(
    paths: Sequence[Path],
    options: FileOptions,
    *,
    db: str | Path | None = None,
    source: str | None = None,
    on_file: Callable[[Path, int], None] | None = None,
) -> IngestResult:
    """Load bar files into raw.bars as one all-or-nothing run.

    Every file is read and checked in memory first; the warehouse is opened only when
    all of them passed, and written in one transaction.
    """
    validate_calendar(options.calendar)
    warm_calendar(options.calendar)
    con = scratch()
    try:
        stager = FileStager(con, options)
        rows_read = stage_files(stager, paths, on_file)
        unique = stager.check()
        # each series' span too: merge_bars reads it to see whether anything stored overlaps
        con.execute(
            f"create or replace temp table _keys as select symbol, bar_size, min(ts) as lo, max(ts) as hi "
            f"from {unique} group by all"
        )
        keys = con.execute("select symbol, bar_size from _keys order by 1, 2").fetchall()

        source = source or ("file:" + ",".join(Path(p).name for p in paths))[:200]
        started_at = datetime.now(UTC)
        run_id = new_run_id(source)
        parameters = {
            "paths": [str(p) for p in paths],
            "symbol": options.symbol,
            "bar_size": options.bar_size.code if options.bar_size else None,
            "tz": options.tz,
            "calendar": options.calendar,
        }
        attach(con, db)
        con.execute("begin")
        try:
            ensure_tables(con, CATALOG)
            close_stale_runs(con, found_by=run_id)
            _refuse_other_kinds(con, paths)
            ingested_at = datetime.now(UTC)
            counts = merge_bars(con, unique, source=source, ingested_at=ingested_at, spans="_keys")
            record_file_series(con, "_keys", source=source, at=ingested_at)
            refresh_sessions(con, options.calendar)
            record_run(
                con,
                run_id,
                source=source,
                parameters=parameters,
                started_at=started_at,
                status="ok",
                counts=counts,
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return IngestResult(run_id, rows_read, counts, [tuple(k) for k in keys])
    finally:
        con.close()


def _refuse_other_kinds(con, paths: Sequence[Path]) -> None:
    """Files hold trade bars: refuse to overwrite a series of other bars (MIDPOINT from IB, say)."""
    clash = file_conflict(con, "_keys")
    if clash:
        symbol, bar_size, stored = clash
        names = ", ".join(str(p) for p in paths)
        raise AlphaduckError(
            f"{names}: raw.bars holds {symbol} {bar_size} {stored.describe()} and a file holds trade bars, which "
            "would overwrite them: load the file into another warehouse (--db)"
        )


def ingest_sample(name: str = "us24-30min", *, db: str | Path | None = None, calendar: str = DEFAULT_CALENDAR) -> IngestResult:
    """Load one bundled bar sample (data/sample/, see its SOURCES.md) and its companions."""
    from ingest.actions import ingest_action_files
    from ingest.universe import ingest_universe_files

    result = None
    for each in with_companions([name]):
        if SAMPLES[each].holds == ACTIONS:
            ingest_action_files([sample_path(each)], calendar=calendar, db=db, source=f"sample:{each}")
        elif SAMPLES[each].holds == MEMBERS:
            ingest_universe_files([sample_path(each)], name=SAMPLES[each].universe, db=db)
        else:
            path, options, source = sample_source(each, calendar)
            loaded = ingest_files([path], options, db=db, source=source)
            result = result or loaded
    if result is None:
        raise AlphaduckError(f"sample {name!r} holds no bars")
    return result
