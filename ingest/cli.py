"""`alphaduck ingest ...`: load bars into raw.bars from IBKR, files or the bundled sample."""

from __future__ import annotations

from pathlib import Path

import click

from alphaduck import options
from alphaduck.settings import DEFAULT_TZ
from ingest.clock_changes import AMBIGUOUS_HELP, AMBIGUOUS_RULES
from ingest.load import SAMPLES
from ingest.pacing import DEFAULT_MAX_IN_FLIGHT, IB_MAX_OPEN
from ingest.series import ADJUSTED_KIND, RAW_KINDS


def _symbol(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("is blank: pass a symbol such as SPY", ctx=ctx, param=param)
    return value


def _symbols(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    if any(not s.strip() for s in value):
        raise click.BadParameter("a symbol is blank: pass symbols such as SPY AAPL", ctx=ctx, param=param)
    return value


def _time_zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(
            f"unknown time zone {value!r} (use an IANA name such as America/New_York)", ctx=ctx, param=param
        ) from exc
    return value


@click.group(name="ingest")
def ingest() -> None:
    """Load bars and corporate actions into the warehouse (raw.bars, raw.corporate_actions, ...)."""


def _report(result, db: str, *, quiet: bool, title: str) -> None:
    if quiet:
        return
    from alphaduck.warehouse import connect
    from ingest.summary import bars_summary, print_summary

    con = connect(db, read_only=True)
    try:
        rows = bars_summary(con, result.keys)
    finally:
        con.close()
    print_summary(
        rows,
        title=title,
        footer=(
            f"run {result.run_id}: {result.rows_read:,} rows read, {result.counts.inserted:,} inserted, "
            f"{result.counts.updated:,} updated, warehouse {db}"
        ),
    )


def _load(paths: list[Path], file_options, *, db: str, quiet: bool, source: str | None, title: str) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from ingest.load import ingest_files

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task("reading files", total=len(paths))

        def on_file(path: Path, rows: int) -> None:
            progress.update(task, advance=1, description=f"read {path.name} ({rows:,} rows)")

        result = ingest_files(paths, file_options, db=db, source=source, on_file=on_file)
    _report(result, db, quiet=quiet, title=title)


@ingest.command(
    name="file",
    epilog="""\b
Examples:
  alphaduck ingest file data/sample/us24_30min_rth_2025-05_2026-03.csv.gz
  alphaduck ingest file spy_daily.csv.gz --symbol SPY --bar-size 1d
  alphaduck ingest file aapl_5min.parquet --symbol AAPL --tz America/New_York
""",
)
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--symbol", callback=_symbol, help="Symbol for files without a symbol column.")
@options.bar_size(
    help="Bar size, e.g. '30 mins', 30min, 1d (default: from a bar_size column or the timestamps)."
)
@click.option(
    "--tz",
    default=DEFAULT_TZ,
    show_default=True,
    callback=_time_zone,
    help="Time zone of naive timestamps in the file.",
)
@click.option(
    "--ambiguous",
    type=click.Choice(AMBIGUOUS_RULES),
    default="raise",
    show_default=True,
    help=AMBIGUOUS_HELP,
)
@options.calendar
@options.db
@options.quiet
def file_command(
    paths: tuple[Path, ...], symbol: str | None, bar_size, tz: str, ambiguous: str, calendar: str, db: str,
    quiet: bool,
) -> None:  # fmt: skip
    """Load CSV (also .gz) or Parquet files of bars into raw.bars.

    Columns: ts, open, high, low, close, volume (required); symbol, bar_size, wap,
    bar_count (optional). Timestamps are bar starts: with a UTC offset, naive (read
    in --tz), or plain dates for daily bars (anchored at the session open). A naive
    time that daylight saving time repeats or skips is refused (see --ambiguous). All
    files are checked before anything is written; one bad row rejects the whole load.
    """
    from ingest.files import FileOptions

    file_options = FileOptions(symbol=symbol, bar_size=bar_size, tz=tz, calendar=calendar, ambiguous=ambiguous)
    _load(list(paths), file_options, db=db, quiet=quiet, source=None, title="Bars loaded")


def _report_actions(result, db: str, *, quiet: bool, title: str) -> None:
    if quiet:
        return
    from alphaduck.warehouse import connect
    from ingest.summary import actions_summary, print_actions_summary

    con = connect(db, read_only=True)
    try:
        rows = actions_summary(con, result.symbols)
    finally:
        con.close()
    print_actions_summary(
        rows,
        title=title,
        footer=(
            f"run {result.run_id}: {result.rows_read:,} rows read, {result.counts.inserted:,} actions inserted, "
            f"{result.counts.updated:,} updated, warehouse {db}"
        ),
    )


def _load_actions(paths: list[Path], *, calendar: str, db: str, quiet: bool, source: str | None, title: str) -> None:
    from ingest.actions import ingest_action_files

    result = ingest_action_files(paths, calendar=calendar, db=db, source=source)
    _report_actions(result, db, quiet=quiet, title=title)


@ingest.command(
    name="actions",
    epilog="""\b
Examples:
  alphaduck ingest actions data/sample/dow30_splits_1999-11_2023-03.csv
  alphaduck ingest actions dividends.parquet splits.csv
""",
)
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@options.calendar
@options.db
@options.quiet
def actions_command(paths: tuple[Path, ...], calendar: str, db: str, quiet: bool) -> None:
    """Load corporate actions (splits, cash dividends) from CSV or Parquet into raw.corporate_actions.

    Columns: symbol, ex_date (the first session without the dividend / at the new share
    count, a --calendar session), and split_ratio (new shares per old: 2 for 2:1, 1.5 for
    3:2, 0.1 for 1:10) and/or cash_dividend (cash per share); a row with both is a split
    and a dividend. Raw bars stay raw: dbt adjusts them with these rows. Loading the same
    file again changes nothing; one bad row rejects the whole load.
    """
    _load_actions(list(paths), calendar=calendar, db=db, quiet=quiet, source=None, title="Corporate actions loaded")


@ingest.command(
    name="sample",
    epilog="""\b
Examples:
  alphaduck ingest sample
  alphaduck ingest sample --dataset dow30-daily
  alphaduck ingest sample --dataset all --db /tmp/demo.duckdb
""",
)
@click.option(
    "--dataset",
    type=click.Choice([*SAMPLES, "all"]),
    default="us24-30min",
    show_default=True,
    help="; ".join(f"{name}: {sample.description}" for name, sample in SAMPLES.items()) + ".",
)
@options.calendar
@options.db
@options.quiet
def sample_command(dataset: str, calendar: str, db: str, quiet: bool) -> None:
    """Load the real bars (and corporate actions) bundled in data/sample/ (see data/sample/SOURCES.md)."""
    from ingest.load import ACTIONS, sample_path, sample_source, with_companions

    for name in with_companions(list(SAMPLES) if dataset == "all" else [dataset]):
        if SAMPLES[name].holds == ACTIONS:
            _load_actions([sample_path(name)], calendar=calendar, db=db, quiet=quiet, source=f"sample:{name}",
                          title=f"Sample {name} loaded")  # fmt: skip
        else:
            path, file_options, source = sample_source(name, calendar)
            _load([path], file_options, db=db, quiet=quiet, source=source, title=f"Sample {name} loaded")


def _when(ctx: click.Context, param: click.Parameter, value: str | None):
    """--start/--end: a date or an ISO datetime; naive ones are read in --tz."""
    if value is None:
        return None
    import pandas as pd

    from ingest.validate import EARLIEST_BAR, latest_bar

    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"cannot parse {value!r}: use 2025-06-01 or 2025-06-01T09:30", ctx=ctx, param=param
        ) from exc
    if stamp.tzinfo is None:
        tz = ctx.params.get("tz") or DEFAULT_TZ
        try:
            stamp = stamp.tz_localize(tz)
        except ValueError as exc:  # pandas' AmbiguousTimeError and NonExistentTimeError
            folded = "ambiguous" in str(exc).lower() or "infer" in str(exc)
            happens = "happens twice (clocks go back)" if folded else "does not exist (clocks go forward)"
            raise click.BadParameter(
                f"{value} {happens} in {tz} at a daylight saving time change: give it a UTC offset, "
                "e.g. 2025-11-02T01:30-04:00",
                ctx=ctx,
                param=param,
            ) from exc
    stamp = stamp.tz_convert("UTC").to_pydatetime()
    if not EARLIEST_BAR <= stamp <= latest_bar():
        raise click.BadParameter(
            f"{value} is out of range: bars start between {EARLIEST_BAR:%Y-%m-%d} and now", ctx=ctx, param=param
        )
    return stamp


class _RichReporter:
    def __init__(self, progress, *, quiet: bool) -> None:
        self.progress = progress
        self.quiet = quiet
        self.task = progress.add_task("connecting", total=None, bars=0)
        self.bars = 0

    def planned(self, total: int) -> None:
        self.progress.update(self.task, total=total, description="fetching" if total else "up to date")

    def chunk_done(self, chunk, bars: int) -> None:
        self.bars += bars
        self.progress.update(
            self.task, advance=1, bars=self.bars, description=f"{chunk.symbol} to {chunk.end:%Y-%m-%d %H:%M}"
        )

    def note(self, text: str) -> None:
        if not self.quiet:
            self.progress.console.print(f"[dim]{text}[/dim]")


@ingest.command(
    name="ibkr",
    epilog="""\b
Examples:
  alphaduck ingest ibkr SPY QQQ --bar-size '30 mins' --start 2025-01-01
  alphaduck ingest ibkr SPY QQQ IWM --bar-size '1 min' --start 2025-06-01 --max-in-flight 16
  alphaduck ingest ibkr AAPL --bar-size 1d --start 2015-01-01 --port 4002 --actions
  alphaduck ingest ibkr EUR --sec-type CASH --exchange IDEALPRO --what-to-show MIDPOINT --all-hours
""",
)
@click.argument("symbols", nargs=-1, required=True, callback=_symbols)
@click.option(
    "--tz",
    default=DEFAULT_TZ,
    show_default=True,
    is_eager=True,
    callback=_time_zone,
    help="Time zone of naive --start/--end.",
)
@options.bar_size(default="30 mins")
@click.option(
    "--start",
    callback=_when,
    help="First bar wanted [default: resume after the last stored bar, else 30 days (5 years for daily bars) back].",
)
@click.option("--end", callback=_when, help="Bars starting before this [default: now].")
@click.option(
    "--what-to-show",
    type=click.Choice([*RAW_KINDS, ADJUSTED_KIND], case_sensitive=False),
    default="TRADES",
    show_default=True,
    help="What the bars are. A series holds one kind: another kind is refused (see --replace).",
)
@click.option(
    "--rth/--all-hours", default=True, show_default=True, help="Regular trading hours only, or all hours."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65_535),
    default=7497,
    show_default=True,
    help="TWS 7497 paper / 7496 live; Gateway 4002 / 4001.",
)
@click.option(
    "--client-id",
    type=click.IntRange(0, 2**31 - 1),
    default=17,
    show_default=True,
    help="API client id; each connection to TWS / Gateway needs its own.",
)
@click.option(
    "--sec-type", default="STK", show_default=True, help="STK (stocks and ETFs), IND, CASH, FUT, ..."
)
@click.option("--exchange", default="SMART", show_default=True)
@click.option("--primary-exchange", default="", help="Disambiguates symbols listed on several exchanges.")
@click.option("--currency", default="USD", show_default=True)
@click.option(
    "--full", is_flag=True, help="Fetch the whole span again, ignoring what was fetched before."
)
@click.option(
    "--retry-empty",
    is_flag=True,
    help="Ask again now for spans IB answered with no data (otherwise after 1 h, 8 h, 64 h, ...).",
)
@click.option(
    "--actions",
    is_flag=True,
    help="Also derive splits and dividends (raw.corporate_actions) from IB's adjusted daily series (--bar-size 1d).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Delete each symbol's stored bars of this bar size first (to switch --what-to-show or hours).",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1, IB_MAX_OPEN),
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    help="Most requests open at once for bars of 1 minute and more (the window adapts below it; "
    "IB allows 50). Bars under a minute go one at a time under IB's pacing rules.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to wait for one request.",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the API handshake.",
)
@options.calendar
@options.db
@options.quiet
def ibkr_command(symbols, tz, bar_size, start, end, what_to_show, rth, host, port, client_id, sec_type, exchange,
                 primary_exchange, currency, full, retry_empty, actions, replace, max_in_flight, timeout,
                 connect_timeout, calendar, db, quiet) -> None:  # fmt: skip
    """Fetch historical bars from TWS / IB Gateway (read-only API) into raw.bars.

    Requests are cut to IB's longest duration for the bar size. Bars under a minute go
    one at a time under IB's pacing rules (60 per 10 minutes, none identical within 15 s,
    5 per contract within 2 s); bigger bars keep several requests in flight, across
    symbols, in a window that backs off when IB slows down, refuses (error 162) or drops
    the connection, then grows again (--max-in-flight caps it). Each answer is stored with the span it covers (raw.ingest_coverage) in its own
    transaction: stop it at any time and run the same command again to fetch exactly
    what is still missing. A symbol's bars of one size are one kind (TRADES, MIDPOINT,
    ...; regular or all hours): a fetch of another kind is refused, not overwritten.
    """
    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from alphaduck.errors import AlphaduckError
    from ingest.ibkr import IbkrOptions, ingest_ibkr

    if start and end and start >= end:
        raise click.BadParameter(
            f"--start {start:%Y-%m-%d %H:%M} UTC is not before --end {end:%Y-%m-%d %H:%M} UTC"
        )
    if what_to_show.upper() == ADJUSTED_KIND:
        raise click.BadParameter(
            "adjusted prices are never stored as raw bars: pass --actions to turn IB's ADJUSTED_LAST series "
            "into raw.corporate_actions",
            param_hint="'--what-to-show'",
        )
    ib_options = IbkrOptions(
        symbols=list(symbols), bar_size=bar_size, start=start, end=end, what_to_show=what_to_show.upper(),
        use_rth=rth, host=host, port=port, client_id=client_id, sec_type=sec_type.upper(), exchange=exchange.upper(),
        primary_exchange=primary_exchange.upper(), currency=currency.upper(), full=full, retry_empty=retry_empty,
        actions=actions, replace=replace, max_in_flight=max_in_flight, calendar=calendar, timeout=timeout, connect_timeout=connect_timeout,
    )  # fmt: skip
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[bars]:,} bars"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        transient=True, disable=quiet,
    ) as progress:  # fmt: skip
        reporter = _RichReporter(progress, quiet=quiet)
        try:
            result, stats = asyncio.run(ingest_ibkr(ib_options, db=db, reporter=reporter))
        except KeyboardInterrupt:
            raise AlphaduckError(
                "interrupted: bars fetched so far are stored; run the same command to resume"
            ) from None
    if not quiet:
        click.echo(
            f"{stats.requests} requests ({stats.no_data} without data, up to {stats.max_in_flight} at once), "
            f"{stats.pacing_retries} pacing retries, {stats.window_cuts} window cuts, {stats.reconnects} reconnects"
        )
        if actions:
            click.echo(
                f"corporate actions from IB's adjusted series: {result.actions.inserted:,} new, "
                f"{result.actions.updated:,} changed (raw.corporate_actions)"
            )
        if result.rechecks_waiting:
            click.echo(
                f"{result.rechecks_waiting} spans IB answered with no data although the exchange was open: "
                "they are asked again after 1 h (then 8 h, 64 h, ...), or now with --retry-empty"
            )
    _report(result, db, quiet=quiet, title="Bars from IBKR")
