"""Historical bars from Interactive Brokers (TWS or IB Gateway) into raw.bars.

Read-only connection (``readonly=True``): this module can never place an order.
Requests are cut to IB's longest duration for the bar size, paced by ``PacingLimiter``
and written one chunk per transaction, so a kill loses nothing already fetched and a
re-run resumes from the last stored bar.

Works with ib_async and, when that is what is installed, ib_insync (same API).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from alphaduck.bar_sizes import BarSize
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import attach, fetch_one, scratch
from ingest.load import IngestResult
from ingest.pacing import Clock, PacedRequest, PacingLimiter, SystemClock
from ingest.sessions import trading_sessions, validate_calendar
from ingest.store import MergeCounts, merge_bars, new_run_id, record_run, refresh_sessions
from ingest.tables import ensure_tables
from ingest.validate import check_rows, unique_bars

# error codes that only inform (farm status, HMDS messages) or speak of a request we dropped
_INFORMATIONAL = {165, 366, 2103, 2104, 2105, 2106, 2107, 2108, 2119, 2158}
_API_HELP = (
    "start TWS or IB Gateway, enable the API (Configure > Settings > API > Enable ActiveX and Socket "
    "Clients) and check the port (TWS 7497 paper / 7496 live, Gateway 4002 paper / 4001 live)"
)


IB_LIBRARIES = ("ib_async", "ib_insync")
IB_LIBRARY_ENV_VAR = "ALPHADUCK_IB_LIBRARY"


def ib_library():
    """ib_async if installed, else ib_insync (the same API); $ALPHADUCK_IB_LIBRARY picks one."""
    import importlib
    import os

    wanted = os.environ.get(IB_LIBRARY_ENV_VAR)
    if wanted and wanted not in IB_LIBRARIES:
        raise AlphaduckError(f"${IB_LIBRARY_ENV_VAR}={wanted!r}: expected one of {', '.join(IB_LIBRARIES)}")
    for name in [wanted] if wanted else IB_LIBRARIES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise AlphaduckError(f"{wanted or 'neither ib_async nor ib_insync'} is not installed: pip install {wanted or 'ib_async'}")


# -- request planning --------------------------------------------------------------------------------


def max_duration(bar: BarSize) -> str:
    """IB's longest duration for one request of this bar size (its step-size table)."""
    s = bar.seconds
    if s < 5:
        return "1800 S"
    if s < 10:
        return "3600 S"
    if s < 30:
        return "14400 S"
    if s < 60:
        return "28800 S"
    if s < 180:
        return "1 D"
    if s < 1_800:
        return "1 W"
    if s < 86_400:
        return "1 M"
    return "1 Y"


def _duration_offset(duration: str) -> pd.DateOffset | pd.Timedelta:
    n, unit = duration.split()
    n = int(n)
    return {
        "S": pd.Timedelta(seconds=n),
        "D": pd.Timedelta(days=n),
        "W": pd.Timedelta(weeks=n),
        "M": pd.DateOffset(months=n),
        "Y": pd.DateOffset(years=n),
    }[unit]


@dataclass(frozen=True)
class Chunk:
    """One request: bars starting in [start, end), asked for as ``duration`` ending at ``end``."""

    symbol: str
    start: datetime
    end: datetime
    duration: str


def plan_chunks(symbol: str, start: datetime, end: datetime, bar: BarSize) -> list[Chunk]:
    """Cut [start, end) into requests of IB's longest duration, oldest first.

    Oldest first: the last stored bar then marks how far a killed run got.
    """
    duration = max_duration(bar)
    step = _duration_offset(duration)
    chunks: list[Chunk] = []
    cursor = pd.Timestamp(end)
    while cursor > start:
        lo = max(pd.Timestamp(start), cursor - step)
        chunks.append(Chunk(symbol, lo.to_pydatetime(), cursor.to_pydatetime(), duration))
        cursor = lo
    return chunks[::-1]


def missing_spans(
    start: datetime, end: datetime, stored: tuple[datetime, datetime] | None, *, full: bool
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) not yet stored; the last stored bar is fetched again
    because it may have been a bar still forming when it was stored."""
    if full or stored is None:
        return [(start, end)] if start < end else []
    first, last = stored
    spans = []
    if start < first:
        spans.append((start, min(first, end)))
    if end > last:
        spans.append((max(last, start), end))
    return [(a, b) for a, b in spans if a < b]


def default_start(end: datetime, bar: BarSize) -> datetime:
    """How far back to go when nothing is stored and no --start is given."""
    if bar.seconds < 60:
        return end - timedelta(days=1)
    if bar.is_intraday:
        return end - timedelta(days=30)
    return end - timedelta(days=5 * 365)


# -- the session with the gateway --------------------------------------------------------------------


class PacingViolation(Exception):
    pass


class RequestTimedOut(Exception):
    pass


@dataclass
class IbkrOptions:
    symbols: list[str]
    bar_size: BarSize
    start: datetime | None = None
    end: datetime | None = None
    what_to_show: str = "TRADES"
    use_rth: bool = True
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 17
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    full: bool = False
    calendar: str = "XNYS"
    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_reconnects: int = 3
    max_retries: int = 5
    pacing_backoff: float = 15.0

    def parameters(self) -> dict:
        return {
            "symbols": self.symbols,
            "bar_size": self.bar_size.code,
            "start": self.start,
            "end": self.end,
            "what_to_show": self.what_to_show,
            "use_rth": self.use_rth,
            "host": self.host,
            "port": self.port,
            "client_id": self.client_id,
            "sec_type": self.sec_type,
            "exchange": self.exchange,
            "primary_exchange": self.primary_exchange,
            "currency": self.currency,
            "full": self.full,
            "calendar": self.calendar,
        }


@dataclass
class SessionStats:
    requests: int = 0
    pacing_retries: int = 0
    no_data: int = 0
    timeouts: int = 0
    reconnects: int = 0
    waited: float = 0.0


class IbSession:
    """One read-only API connection, with pacing, retries and reconnects."""

    def __init__(
        self, options: IbkrOptions, clock: Clock | None = None, limiter: PacingLimiter | None = None
    ):
        self.options = options
        self.clock = clock or SystemClock()
        self.limiter = limiter or PacingLimiter(self.clock)
        self.lib = ib_library()
        self.ib = None
        self.stats = SessionStats()
        self._errors: list[tuple[int, int, str]] = []
        self._error_seen = asyncio.Event()

    @property
    def address(self) -> str:
        return f"{self.options.host}:{self.options.port}"

    def _on_error(self, req_id: int, code: int, text: str, *_: object) -> None:
        if req_id is None or req_id < 0 or code in _INFORMATIONAL or 2100 <= code < 2200:
            return
        if code == 162 and "cancel" in text.lower():
            return  # IB confirming a cancel we sent after a timeout
        self._errors.append((req_id, code, text))
        self._error_seen.set()

    async def connect(self) -> None:
        if not logging.getLogger().isEnabledFor(logging.INFO):
            # the library logs every request error itself; we report them our own way
            logging.getLogger(self.lib.__name__).setLevel(logging.CRITICAL)
        ib = self.lib.IB()
        ib.RaiseRequestErrors = True
        ib.errorEvent += self._on_error
        o = self.options
        kwargs = {
            "host": o.host,
            "port": o.port,
            "clientId": o.client_id,
            "timeout": o.connect_timeout,
            "readonly": True,
        }
        if "fetchFields" in inspect.signature(ib.connectAsync).parameters:
            kwargs["fetchFields"] = self.lib.ib.StartupFetchNONE  # no orders, no account sync
        try:
            await ib.connectAsync(**kwargs)
        except ConnectionRefusedError as exc:
            raise AlphaduckError(
                f"cannot reach IB gateway at {self.address} (connection refused): {_API_HELP}"
            ) from exc
        except (TimeoutError, ConnectionError) as exc:
            # the port answered (or hung up) but the TWS API handshake never completed
            raise AlphaduckError(
                f"IB gateway at {self.address} did not finish the API handshake within {o.connect_timeout:g} s: "
                f"is that an IB API port, and is client id {o.client_id} free? ({_API_HELP})"
            ) from exc
        except OSError as exc:
            raise AlphaduckError(
                f"cannot reach IB gateway at {self.address} ({exc.strerror or exc}): {_API_HELP}"
            ) from exc
        self.ib = ib

    def disconnect(self) -> None:
        if self.ib is not None:
            self.ib.errorEvent -= self._on_error
            self.ib.disconnect()
            self.ib = None

    async def reconnect(self) -> None:
        self.disconnect()
        for attempt in range(1, self.options.max_reconnects + 1):
            await self.clock.sleep(min(2.0**attempt, 30.0))
            try:
                await self.connect()
                self.stats.reconnects += 1
                return
            except AlphaduckError:
                continue
        raise AlphaduckError(
            f"lost the connection to IB gateway at {self.address} and could not reconnect "
            f"({self.options.max_reconnects} tries); re-run to resume from the last stored bar"
        )

    async def qualify(self, symbol: str):
        """The one contract IB knows for ``symbol`` (raises on unknown or ambiguous symbols)."""
        o = self.options
        contract = self.lib.Contract(
            secType=o.sec_type,
            symbol=symbol,
            exchange=o.exchange,
            primaryExchange=o.primary_exchange,
            currency=o.currency,
        )
        what = f"{symbol} ({o.sec_type} on {o.exchange}, {o.currency})"
        try:
            details = await asyncio.wait_for(self.ib.reqContractDetailsAsync(contract), o.timeout)
        except self.lib.RequestError as exc:
            if exc.code == 200:
                raise AlphaduckError(
                    f"IB at {self.address} knows no contract {what}: error 200 {exc.message}"
                ) from exc
            raise AlphaduckError(
                f"IB at {self.address} rejected the contract {what}: error {exc.code} {exc.message}"
            ) from exc
        except TimeoutError as exc:
            raise AlphaduckError(
                f"IB at {self.address} did not answer the contract lookup for {what}"
            ) from exc
        if not details:
            raise AlphaduckError(f"IB at {self.address} knows no contract {what}")
        if len(details) > 1:
            places = ", ".join(sorted({d.contract.primaryExchange for d in details}))
            raise AlphaduckError(
                f"{what} is ambiguous at IB (primary exchanges: {places}): pass --primary-exchange"
            )
        found = details[0].contract
        found.exchange = o.exchange
        return found

    def _paced(self, contract, what: str, end: str = "", duration: str = "") -> PacedRequest:
        return PacedRequest(
            str(contract.conId or contract.symbol), contract.exchange, what, end, duration,
            self.options.bar_size.ib_setting, self.options.use_rth,
        )  # fmt: skip

    async def head_timestamp(self, contract) -> datetime | None:
        """The earliest bar IB has, or None when it will not say."""
        paced = self._paced(contract, "HEAD_" + self.options.what_to_show)
        await self._wait(paced)
        try:
            head = await asyncio.wait_for(
                self.ib.reqHeadTimeStampAsync(contract, self.options.what_to_show, self.options.use_rth, 2),
                self.options.timeout,
            )
        except (TimeoutError, self.lib.RequestError, ValueError):
            return None
        finally:
            self.limiter.answered(paced)
        if isinstance(head, datetime):
            return head if head.tzinfo else head.replace(tzinfo=UTC)
        if isinstance(head, date):
            return datetime(head.year, head.month, head.day, tzinfo=UTC)
        return None

    async def _wait(self, request: PacedRequest) -> None:
        self.stats.waited += await self.limiter.wait(request)
        self.stats.requests += 1

    async def historical(self, contract, chunk: Chunk) -> list:
        """Bars for one chunk; retries pacing violations, timeouts and dropped connections."""
        o = self.options
        end_text = f"{chunk.end.astimezone(UTC):%Y%m%d %H:%M:%S} UTC"
        where = f"{chunk.symbol} {o.bar_size.ib_setting} {o.what_to_show} ending {end_text}"
        failures = 0
        while True:
            paced = self._paced(contract, o.what_to_show, end_text, chunk.duration)
            await self._wait(paced)
            try:
                return await self._request(contract, chunk, end_text, where, paced)
            except PacingViolation:
                self.stats.pacing_retries += 1
                failures += 1
                await self.clock.sleep(o.pacing_backoff * min(failures, 4))
            except RequestTimedOut:
                self.stats.timeouts += 1
                failures += 1
            except ConnectionError:
                await self.reconnect()
                failures += 1
            if failures > o.max_retries:
                raise AlphaduckError(
                    f"IB at {self.address} kept failing the request for {where} ({failures} tries: "
                    f"{self.stats.pacing_retries} pacing violations, {self.stats.timeouts} timeouts); "
                    "re-run later to resume"
                )

    async def _request(self, contract, chunk: Chunk, end_text: str, where: str, paced: PacedRequest) -> list:
        o = self.options
        if self.ib is None or not self.ib.isConnected():
            raise ConnectionError("not connected")
        self._errors.clear()
        self._error_seen.clear()
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.ensure_future(
            self.ib.reqHistoricalDataAsync(
                contract, endDateTime=chunk.end.astimezone(UTC), durationStr=chunk.duration,
                barSizeSetting=o.bar_size.ib_setting, whatToShow=o.what_to_show, useRTH=o.use_rth,
                formatDate=2, timeout=o.timeout,
            )
        )  # fmt: skip
        error_seen = asyncio.ensure_future(self._error_seen.wait())
        try:
            await asyncio.wait({task, error_seen}, return_when=asyncio.FIRST_COMPLETED)
            # an error callback and the request's own failure arrive together: give the task a beat
            if not task.done():
                await asyncio.wait({task}, timeout=0.05)
        finally:
            error_seen.cancel()
            self.limiter.answered(paced)
        for _req_id, code, text in list(self._errors):
            lowered = text.lower()
            if code == 162 and "pacing" in lowered:
                self._drop(task)
                raise PacingViolation(text)
            if code == 162 and "no data" in lowered:
                self._drop(task)
                self.stats.no_data += 1
                return []
            if code in (504, 1100, 1300):
                self._drop(task)
                raise ConnectionError(text)
            self._drop(task)
            if code == 321:
                raise AlphaduckError(
                    f"IB at {self.address} refused the request for {where}: error 321 {text}"
                )
            raise AlphaduckError(f"IB at {self.address} failed the request for {where}: error {code} {text}")
        if not task.done():
            self._drop(task)
            raise RequestTimedOut(where)
        try:
            bars = task.result()
        except self.lib.RequestError as exc:  # an error that reached the request but not our listener
            raise AlphaduckError(
                f"IB at {self.address} failed the request for {where}: error {exc.code} {exc.message}"
            ) from exc
        if not bars and loop.time() - started >= o.timeout * 0.99:
            raise RequestTimedOut(where)
        return list(bars)

    @staticmethod
    def _drop(task: asyncio.Future) -> None:
        """Abandon a request whose outcome we already know, without asyncio's 'never retrieved' noise."""
        if not task.done():
            task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


# -- bars to rows ------------------------------------------------------------------------------------


def bars_frame(bars: list, chunk: Chunk, options: IbkrOptions) -> pd.DataFrame:
    """IB BarData -> rows for raw.bars: bar starts in UTC, inside [chunk.start, chunk.end).

    Intraday bars arrive as UTC datetimes (formatDate=2); daily bars as session dates,
    anchored here at the session's open from the exchange calendar.
    """
    if not bars:
        return pd.DataFrame()
    trades = options.what_to_show.upper() == "TRADES"
    stamps = [b.date for b in bars]
    if not options.bar_size.is_intraday:
        days = [d if not isinstance(d, datetime) else d.date() for d in stamps]
        sessions = trading_sessions(options.calendar, min(days), max(days))
        opens = dict(zip(sessions["session_date"], sessions["open_utc"], strict=True))
        missing = [d for d in days if d not in opens]
        if missing:
            raise AlphaduckError(
                f"IB sent a {chunk.symbol} daily bar for {missing[0]}, which is not a {options.calendar} "
                "session: pass the instrument's --calendar"
            )
        ts = [opens[d] for d in days]
    else:
        ts = [d if d.tzinfo else d.replace(tzinfo=UTC) for d in stamps]
    frame = pd.DataFrame(
        {
            "origin": f"IB {chunk.symbol} {options.bar_size.code}",
            "row_no": range(1, len(bars) + 1),
            "symbol": chunk.symbol,
            "bar_size": options.bar_size.code,
            "ts": pd.to_datetime(ts, utc=True),
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            # IB sends -1 where a field does not apply (volume of MIDPOINT bars, for one)
            "volume": [float(b.volume) if trades and b.volume >= 0 else None for b in bars],
            "wap": [b.average if b.average > 0 else None for b in bars],
            "bar_count": [b.barCount if b.barCount >= 0 else None for b in bars],
        }
    )
    inside = (frame["ts"] >= pd.Timestamp(chunk.start)) & (frame["ts"] < pd.Timestamp(chunk.end))
    return frame[inside].reset_index(drop=True)


def _locate_ib(origin: str, row_no: int, symbol: str | None = None, ts: object = None) -> str:
    return f"{origin} bar at {ts:%Y-%m-%d %H:%M} UTC" if ts is not None else f"{origin} bar {row_no}"


# -- the whole ingest --------------------------------------------------------------------------------


class Reporter:
    """What a long ingest tells the person watching; the CLI draws it with rich."""

    def planned(self, total: int) -> None: ...

    def chunk_done(self, chunk: Chunk, bars: int) -> None: ...

    def note(self, text: str) -> None: ...


async def ingest_ibkr(
    options: IbkrOptions,
    *,
    db: str | Path | None = None,
    clock: Clock | None = None,
    limiter: PacingLimiter | None = None,
    reporter: Reporter | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[IngestResult, SessionStats]:
    """Fetch and store bars for every symbol; see the module docstring for the guarantees."""
    reporter = reporter or Reporter()
    validate_calendar(options.calendar)
    session = IbSession(options, clock, limiter)
    await session.connect()
    con = None
    run_id = None
    counts = MergeCounts()
    rows_read = 0
    started_at = now()
    try:
        # everything that can be wrong with the input is found before the warehouse is touched
        contracts = {}
        for symbol in dict.fromkeys(s.upper() for s in options.symbols):
            contracts[symbol] = await session.qualify(symbol)
        con = scratch()
        attach(con, db)
        con.execute("begin")
        ensure_tables(con, "wh")
        con.execute("commit")

        end = options.end or started_at
        chunks: list[Chunk] = []
        for symbol, contract in contracts.items():
            stored = fetch_one(
                con,
                "select min(ts), max(ts) from wh.raw.bars where symbol = ? and bar_size = ?",
                [symbol, options.bar_size.code],
            )
            stored = stored if stored and stored[0] is not None else None
            start = options.start or (stored[0] if stored else default_start(end, options.bar_size))
            if options.full or stored is None or start < stored[0]:
                head = await session.head_timestamp(contract)
                if head is not None and head > start:
                    reporter.note(f"{symbol}: IB has bars from {head:%Y-%m-%d %H:%M} UTC on")
                    start = head
            for lo, hi in missing_spans(start, end, stored, full=options.full):
                chunks += plan_chunks(symbol, lo, hi, options.bar_size)
        reporter.planned(len(chunks))

        source = f"ibkr:{options.what_to_show}"
        run_id = new_run_id(source)
        params = options.parameters()
        con.execute("begin")
        record_run(con, run_id, source=source, parameters=params, started_at=started_at, status="running")
        con.execute("commit")

        for chunk in chunks:
            bars = await session.historical(contracts[chunk.symbol], chunk)
            frame = bars_frame(bars, chunk, options)
            rows_read += len(frame)
            if not frame.empty:
                con.register("_chunk", frame)
                con.execute("create or replace temp table _chunk_bars as select * from _chunk")
                con.unregister("_chunk")
                check_rows(con, "_chunk_bars", _locate_ib)
                unique = unique_bars(con, "_chunk_bars", _locate_ib)
                con.execute("begin")
                counts += merge_bars(con, unique, source=source, ingested_at=datetime.now(UTC))
                record_run(
                    con,
                    run_id,
                    source=source,
                    parameters=params,
                    started_at=started_at,
                    status="running",
                    counts=counts,
                )
                con.execute("commit")
            reporter.chunk_done(chunk, len(frame))

        con.execute("begin")
        refresh_sessions(con, options.calendar)
        record_run(
            con, run_id, source=source, parameters=params, started_at=started_at, status="ok", counts=counts
        )
        con.execute("commit")
        keys = [(s, options.bar_size.code) for s in contracts]
        return IngestResult(run_id, rows_read, counts, keys), session.stats
    except BaseException as exc:
        if con is not None and run_id is not None:
            interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
            with contextlib.suppress(duckdb.Error):  # no transaction open is fine
                con.execute("rollback")
            record_run(
                con, run_id, source=f"ibkr:{options.what_to_show}", parameters=options.parameters(),
                started_at=started_at, status="interrupted" if interrupted else "failed", counts=counts,
                error=None if interrupted else str(getattr(exc, "message", exc)),
            )  # fmt: skip
        raise
    finally:
        session.disconnect()
        if con is not None:
            con.close()
