"""Historical bars from Interactive Brokers (TWS or IB Gateway) into raw.bars.

Read-only connection (``readonly=True``): this module can never place an order.

An ingest is four steps over small dataclasses:

1. **plan** (``plan_requests``): for each symbol, the gaps of [start, end) that no earlier
   answer covers (raw.ingest_coverage, see ingest/coverage.py), cut into requests of IB's
   longest duration for the bar size;
2. **fetch** (``fetch_chunk``): one request through the session's gate (IB's exact pacing,
   one at a time, for bars under a minute; an adaptive window of several in flight for the
   rest, see ingest/pacing.py), retried through pacing violations, timeouts and dropped
   connections;
3. **validate** (``validate_batch``): the row rules every bar passes;
4. **store** (``store_batch``): the bars merged and the spans recorded as covered, whole
   answers in one transaction, so a kill loses at most the answers not yet stored and a
   re-run asks for exactly what is missing.

``fetch_and_store`` runs steps 2-4 for every request: fetchers keep the gate full, one
writer stores the answers as they come.

A series holds one kind of bars (raw.bar_series): a fetch of another kind (MIDPOINT over
TRADES, all-hours daily bars over regular-hours ones) is refused before anything is written.

Works with ib_async and, when that is what is installed, ib_insync (same API).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from alphaduck.bar_sizes import BarSize
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import attach, fetch_one, scratch
from ingest.actions import derive_actions, store_derived
from ingest.coverage import (
    CoverageKey,
    covered_spans,
    exchange_open_during,
    finished_before,
    gaps,
    record_spans,
    spans_to_recheck,
)
from ingest.coverage import forget_series as forget_coverage
from ingest.load import IngestResult
from ingest.pacing import (
    DEFAULT_MAX_IN_FLIGHT,
    IB_MAX_OPEN,
    Clock,
    Gate,
    PacedRequest,
    PacingLimiter,
    SystemClock,
    Ticket,
    gate_for,
)
from ingest.series import ADJUSTED_KIND, RAW_KINDS, SeriesKind, conflicts, merged, record_series, stored_kind
from ingest.sessions import trading_sessions, validate_calendar
from ingest.store import (
    MergeCounts,
    close_stale_runs,
    forget_bars,
    merge_bars,
    new_run_id,
    record_run,
    refresh_sessions,
)
from ingest.tables import ensure_tables
from ingest.validate import check_rows, check_time_bounds, unique_bars

# error codes that only inform (farm status, HMDS messages) or speak of a request we dropped
_INFORMATIONAL = {165, 366, 2103, 2104, 2105, 2106, 2107, 2108, 2119, 2158}
CLIENT_ID_IN_USE = 326
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
    """Cut [start, end) into requests of IB's longest duration, oldest first."""
    duration = max_duration(bar)
    step = _duration_offset(duration)
    chunks: list[Chunk] = []
    cursor = pd.Timestamp(end)
    while cursor > start:
        lo = max(pd.Timestamp(start), cursor - step)
        chunks.append(Chunk(symbol, lo.to_pydatetime(), cursor.to_pydatetime(), duration))
        cursor = lo
    return chunks[::-1]


def default_start(end: datetime, bar: BarSize) -> datetime:
    """How far back to go when nothing is stored and no --start is given."""
    if bar.seconds < 60:
        return end - timedelta(days=1)
    if bar.is_intraday:
        return end - timedelta(days=30)
    return end - timedelta(days=5 * 365)


# -- options -----------------------------------------------------------------------------------------


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
    retry_empty: bool = False
    replace: bool = False
    actions: bool = False
    calendar: str = "XNYS"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # the adaptive window's ceiling (bars of 1 minute and more)
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
            "retry_empty": self.retry_empty,
            "replace": self.replace,
            "actions": self.actions,
            "max_in_flight": self.max_in_flight,
            "calendar": self.calendar,
        }

    @property
    def kind(self) -> SeriesKind:
        return SeriesKind(self.what_to_show, self.use_rth)

    def unique_symbols(self) -> list[str]:
        return list(dict.fromkeys(s.strip().upper() for s in self.symbols))


def check_options(options: IbkrOptions, now: datetime | None = None) -> None:
    """Everything wrong with the options, found before connecting (one line each)."""
    if not options.symbols or any(not s.strip() for s in options.symbols):
        raise AlphaduckError("a symbol is blank: pass symbols such as SPY AAPL")
    what = options.what_to_show.upper()
    if what == ADJUSTED_KIND:
        raise AlphaduckError(
            "--what-to-show ADJUSTED_LAST: adjusted prices are never stored as raw bars (raw.bars holds raw "
            "prices, adjustment is a dbt model); pass --actions to turn IB's adjusted series into "
            "raw.corporate_actions"
        )
    if what not in RAW_KINDS:
        raise AlphaduckError(f"--what-to-show {options.what_to_show!r}: expected one of {', '.join(RAW_KINDS)}")
    for name, value in (("--timeout", options.timeout), ("--connect-timeout", options.connect_timeout)):
        if not value > 0:
            raise AlphaduckError(f"{name} {value:g}: must be more than 0 seconds")
    if options.actions and (options.bar_size.code != "1d" or what != "TRADES"):
        raise AlphaduckError(
            "--actions derives splits and dividends from IB's daily adjusted series beside the daily TRADES: "
            f"pass --bar-size 1d and --what-to-show TRADES (got {options.bar_size.code}, {what})"
        )
    if not 1 <= options.max_in_flight <= IB_MAX_OPEN:
        raise AlphaduckError(f"--max-in-flight {options.max_in_flight}: expected 1..{IB_MAX_OPEN} (IB's limit)")
    if not 0 < options.port < 65_536:
        raise AlphaduckError(f"--port {options.port}: expected 1..65535")
    for name, value in (("--start", options.start), ("--end", options.end)):
        if value is not None:
            check_time_bounds(value, name, now)
    if options.start and options.end and options.start >= options.end:
        raise AlphaduckError(
            f"--start {options.start:%Y-%m-%d %H:%M} UTC is not before --end {options.end:%Y-%m-%d %H:%M} UTC"
        )
    validate_calendar(options.calendar)


# -- the session with the gateway --------------------------------------------------------------------


@dataclass
class SessionStats:
    requests: int = 0
    pacing_retries: int = 0
    no_data: int = 0
    timeouts: int = 0
    reconnects: int = 0
    waited: float = 0.0
    max_in_flight: int = 0
    window_cuts: int = 0


@dataclass
class _Open:
    """One historical request in flight: its IB request id and the errors IB sent for it."""

    req_id: int | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)
    seen: asyncio.Event = field(default_factory=asyncio.Event)


# the request being created in this task: the library's request-id call files it under its id
_CREATING: contextvars.ContextVar[_Open | None] = contextvars.ContextVar("alphaduck_ib_request", default=None)
# errors about the connection itself (no request id): every open request hears them
_CONNECTION_ERRORS = {504, 1100, 1300}


class IbSession:
    """One read-only API connection: requests through a gate (IB's pacing for bars under a
    minute, an adaptive window above), several in flight, each with its own errors, retries
    and, when the connection drops, one reconnect shared by all."""

    def __init__(
        self,
        options: IbkrOptions,
        clock: Clock | None = None,
        limiter: PacingLimiter | None = None,
        gate: Gate | None = None,
    ):
        self.options = options
        self.clock = clock or SystemClock()
        self.gate = gate or gate_for(
            options.bar_size.seconds, clock=self.clock, limiter=limiter, max_in_flight=options.max_in_flight,
            backoff=options.pacing_backoff,
        )  # fmt: skip
        self.lib = ib_library()
        self.ib = None
        self.stats = SessionStats()
        self._open: dict[int, _Open] = {}
        self._refused: str | None = None  # IB's text when it refused our client id (326)
        self._refused_seen = asyncio.Event()
        self._generation = 0  # connections made so far; a reconnect starts the next one
        self._reconnecting = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"{self.options.host}:{self.options.port}"

    def _on_error(self, req_id: int, code: int, text: str, *_: object) -> None:
        if code == CLIENT_ID_IN_USE:
            self._refused = text
            self._refused_seen.set()
            return
        if code in _CONNECTION_ERRORS:
            targets = list(self._open.values())
        elif req_id is None or req_id < 0 or code in _INFORMATIONAL or 2100 <= code < 2200:
            return
        elif code == 162 and "cancel" in text.lower():
            return  # IB confirming a cancel we sent after a timeout
        else:
            targets = [self._open[req_id]] if req_id in self._open else []
        for request in targets:
            request.errors.append((code, text))
            request.seen.set()

    def _file_request_id(self, get_req_id: Callable[[], int]) -> Callable[[], int]:
        def filed() -> int:
            req_id = get_req_id()
            request = _CREATING.get()
            if request is not None and request.req_id is None:
                request.req_id = req_id
                self._open[req_id] = request
            return req_id

        return filed

    async def connect(self) -> None:
        if not logging.getLogger().isEnabledFor(logging.INFO):
            # the library logs every request error itself; we report them our own way
            logging.getLogger(self.lib.__name__).setLevel(logging.CRITICAL)
        ib = self.lib.IB()
        ib.RaiseRequestErrors = True
        ib.errorEvent += self._on_error
        ib.client.getReqId = self._file_request_id(ib.client.getReqId)
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
        self._refused = None
        self._refused_seen.clear()
        connecting = asyncio.ensure_future(ib.connectAsync(**kwargs))
        refused = asyncio.ensure_future(self._refused_seen.wait())
        try:
            # IB answers a client id in use with error 326 and hangs up; the library would
            # only notice at the handshake timeout
            await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
        if self._refused is not None:
            self._drop(connecting)
            ib.errorEvent -= self._on_error
            ib.client.disconnect()  # IB.disconnect() wants a finished handshake
            raise AlphaduckError(
                f"IB gateway at {self.address} refused client id {o.client_id}: error {CLIENT_ID_IN_USE} "
                f"{self._refused.rstrip('.')}: another API client is connected with it; pass another --client-id"
            )
        try:
            connecting.result()
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
        self._generation += 1

    def disconnect(self) -> None:
        if self.ib is not None:
            self.ib.errorEvent -= self._on_error
            self.ib.disconnect()
            self.ib = None

    async def reconnect(self, generation: int) -> None:
        """Reconnect once for every request that saw connection ``generation`` drop."""
        async with self._reconnecting:
            if self._generation != generation and self.ib is not None and self.ib.isConnected():
                return  # another request has reconnected already
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
            f"({self.options.max_reconnects} tries); re-run to resume: only what is missing is fetched"
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

    async def _through_gate(self, request: PacedRequest) -> Ticket:
        ticket, waited = await self.gate.acquire(request)
        self.stats.waited += waited
        self.stats.requests += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.gate.max_open)
        return ticket

    def _leave_gate(self, ticket: Ticket, outcome: str) -> None:
        self.gate.release(ticket, outcome)
        self.stats.window_cuts = getattr(self.gate, "cuts", 0)

    async def head_timestamp(self, contract) -> datetime | None:
        """The earliest bar IB has, or None when it will not say."""
        ticket = await self._through_gate(self._paced(contract, "HEAD_" + self.options.what_to_show))
        outcome = "other"  # answered at another speed than bars: no lesson for the window
        try:
            head = await asyncio.wait_for(
                self.ib.reqHeadTimeStampAsync(contract, self.options.what_to_show, self.options.use_rth, 2),
                self.options.timeout,
            )
        except (TimeoutError, self.lib.RequestError, ValueError):
            return None
        finally:
            self._leave_gate(ticket, outcome)
        if isinstance(head, datetime):
            return head if head.tzinfo else head.replace(tzinfo=UTC)
        if isinstance(head, date):
            return datetime(head.year, head.month, head.day, tzinfo=UTC)
        return None

    async def historical(
        self, contract, chunk: Chunk, *, what_to_show: str | None = None, open_end: bool = False
    ) -> list:
        """Bars for one chunk ([] when IB has none); retries pacing violations, timeouts and
        dropped connections. ``open_end`` asks for the ``duration`` up to now with an empty end
        date, which IB requires of ADJUSTED_LAST."""
        o = self.options
        what = what_to_show or o.what_to_show
        end_text = "" if open_end else f"{chunk.end.astimezone(UTC):%Y%m%d %H:%M:%S} UTC"
        where = f"{chunk.symbol} {o.bar_size.ib_setting} {what} " + (
            f"ending {end_text}" if end_text else f"{chunk.duration} to now"
        )
        failures = 0
        while True:
            ticket = await self._through_gate(self._paced(contract, what, end_text, chunk.duration))
            generation = self._generation
            outcome = "failed"
            try:
                bars = await self._request(contract, chunk, what, end_text, where)
                outcome = "ok" if bars else "no data"
                return bars
            except PacingViolation:
                outcome = "pacing"
                self.stats.pacing_retries += 1
                failures += 1
            except RequestTimedOut:
                outcome = "timeout"
                self.stats.timeouts += 1
                failures += 1
            except ConnectionError:
                outcome = "disconnect"
                failures += 1
            finally:
                self._leave_gate(ticket, outcome)
            if failures > o.max_retries:
                raise AlphaduckError(
                    f"IB at {self.address} kept failing the request for {where} ({failures} tries: "
                    f"{self.stats.pacing_retries} pacing violations, {self.stats.timeouts} timeouts); "
                    "re-run later to resume"
                )
            if outcome == "pacing":
                await self.gate.after_violation(failures)
            elif outcome == "disconnect":
                await self.reconnect(generation)

    async def _request(self, contract, chunk: Chunk, what: str, end_text: str, where: str) -> list:
        o = self.options
        if self.ib is None or not self.ib.isConnected():
            raise ConnectionError("not connected")
        request = _Open()
        loop = asyncio.get_running_loop()
        started = loop.time()
        creating = _CREATING.set(request)  # the task copies this context: its request id is filed
        try:
            task = asyncio.ensure_future(
                self.ib.reqHistoricalDataAsync(
                    contract, endDateTime=chunk.end.astimezone(UTC) if end_text else "", durationStr=chunk.duration,
                    barSizeSetting=o.bar_size.ib_setting, whatToShow=what, useRTH=o.use_rth,
                    formatDate=2, timeout=o.timeout,
                )
            )  # fmt: skip
        finally:
            _CREATING.reset(creating)
        error_seen = asyncio.ensure_future(request.seen.wait())
        try:
            await asyncio.wait({task, error_seen}, return_when=asyncio.FIRST_COMPLETED)
            # an error callback and the request's own failure arrive together: give the task a beat
            if not task.done():
                await asyncio.wait({task}, timeout=0.05)
        finally:
            error_seen.cancel()
            self._open.pop(request.req_id, None)
        for code, text in request.errors:
            lowered = text.lower()
            self._drop(task)
            if code == 162 and "pacing" in lowered:
                raise PacingViolation(text)
            if code == 162 and "no data" in lowered:
                self.stats.no_data += 1
                return []
            if code in _CONNECTION_ERRORS:
                raise ConnectionError(text)
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


def bar_rows(bars: list, chunk: Chunk, options: IbkrOptions) -> dict[str, list]:
    """IB BarData -> columns of rows for raw.bars: bar starts in UTC, inside [chunk.start, chunk.end).

    Intraday bars arrive as UTC datetimes (formatDate=2); daily bars as session dates,
    anchored here at the session's open from the exchange calendar.
    """
    if not bars:
        return {}
    trades = options.what_to_show.upper() == "TRADES"
    stamps = [b.date for b in bars]
    if not options.bar_size.is_intraday:
        days = _session_dates(stamps)
        sessions = trading_sessions(options.calendar, min(days), max(days))
        opens = dict(zip(sessions["session_date"], sessions["open_utc"], strict=True))
        missing = [d for d in days if d not in opens]
        if missing:
            raise AlphaduckError(
                f"IB sent a {chunk.symbol} daily bar for {missing[0]}, which is not a {options.calendar} "
                "session: pass the instrument's --calendar"
            )
        ts = [opens[d].to_pydatetime() for d in days]
    else:
        ts = [d if d.tzinfo else d.replace(tzinfo=UTC) for d in stamps]
    inside = [i for i, t in enumerate(ts) if chunk.start <= t < chunk.end]
    kept = [bars[i] for i in inside]
    return {
        "origin": [f"IB {chunk.symbol} {options.bar_size.code}"] * len(kept),
        "row_no": list(range(1, len(kept) + 1)),
        "symbol": [chunk.symbol] * len(kept),
        "bar_size": [options.bar_size.code] * len(kept),
        "ts": [ts[i] for i in inside],
        "open": [b.open for b in kept],
        "high": [b.high for b in kept],
        "low": [b.low for b in kept],
        "close": [b.close for b in kept],
        # IB sends -1 where a field does not apply (volume of MIDPOINT bars, for one)
        "volume": [float(b.volume) if trades and b.volume >= 0 else None for b in kept],
        "wap": [b.average if b.average > 0 else None for b in kept],
        "bar_count": [b.barCount if b.barCount >= 0 else None for b in kept],
    }


def rows_frame(columns: dict[str, list]) -> pd.DataFrame:
    frame = pd.DataFrame(columns, columns=BAR_ROW_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.astype({"volume": "float64", "wap": "float64", "bar_count": "Int64"})


BAR_ROW_COLUMNS = ["origin", "row_no", "symbol", "bar_size", "ts", "open", "high", "low", "close", "volume", "wap",
                   "bar_count"]  # fmt: skip


def _locate_ib(origin: str, row_no: int, symbol: str | None = None, ts: object = None) -> str:
    return f"{origin} bar at {ts:%Y-%m-%d %H:%M} UTC" if ts is not None else f"{origin} bar {row_no}"


# -- the steps of one ingest -------------------------------------------------------------------------


class Reporter:
    """What a long ingest tells the person watching; the CLI draws it with rich."""

    def planned(self, total: int) -> None: ...

    def chunk_done(self, chunk: Chunk, bars: int) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class SeriesPlan:
    """What one symbol needs: its coverage key, its contract, and the requests for its gaps."""

    key: CoverageKey
    contract: object
    chunks: list[Chunk]
    kind: SeriesKind  # what the series is once these bars are stored
    kind_recorded: bool = False  # raw.bar_series says ``kind`` (written with the first bars)


@dataclass
class Fetched:
    """IB's answer to one request (``rows``: its bars inside the chunk, once validated)."""

    plan: SeriesPlan
    chunk: Chunk
    bars: list
    answered_at: datetime
    rows: int = 0


@dataclass
class Run:
    """The raw.ingest_runs row of this ingest, kept up to date as chunks are stored."""

    run_id: str
    source: str
    parameters: dict
    started_at: datetime
    counts: MergeCounts = field(default_factory=MergeCounts)
    rows_read: int = 0
    no_data_spans: int = 0

    def record(self, con: duckdb.DuckDBPyConnection, status: str, error: str | None = None) -> None:
        record_run(
            con, self.run_id, source=self.source, parameters=self.parameters, started_at=self.started_at,
            status=status, counts=self.counts, error=error,
        )  # fmt: skip


async def qualify_all(session: IbSession, options: IbkrOptions) -> dict[str, object]:
    """symbol -> contract, looked up together; an unknown or ambiguous symbol (the first, in the
    order given) stops the ingest before anything is written."""
    symbols = options.unique_symbols()
    found = await asyncio.gather(*(session.qualify(s) for s in symbols), return_exceptions=True)
    for answer in found:
        if isinstance(answer, BaseException):
            raise answer
    return dict(zip(symbols, found, strict=True))


def open_warehouse(db: str | Path | None) -> duckdb.DuckDBPyConnection:
    con = scratch()
    try:
        attach(con, db)
    except BaseException:
        con.close()
        raise
    return con


def _series_start(
    con: duckdb.DuckDBPyConnection, key: CoverageKey, covered: list, options: IbkrOptions, end: datetime
) -> datetime:
    """Where to begin without --start: the first span ever fetched (so holes after it are filled),
    else after the last stored bar (bars from a file: only newer ones are asked for), else
    ``default_start``."""
    if options.start:
        return options.start
    if covered:
        return covered[0][0]
    last = fetch_one(
        con, "select max(ts) from wh.raw.bars where symbol = ? and bar_size = ?", [key.symbol, key.bar_size.code]
    )[0]
    return last if last is not None else default_start(end, options.bar_size)


def _refuse_other_kind(symbol: str, options: IbkrOptions, stored: SeriesKind) -> AlphaduckError:
    bar = options.bar_size.code
    return AlphaduckError(
        f"raw.bars holds {symbol} {bar} {stored.describe()}; {options.kind.describe()} would overwrite them "
        f"(a bar's key is symbol, bar_size, ts): fetch them into another warehouse (--db), or pass --replace "
        f"to delete the stored {symbol} {bar} bars first"
    )


async def plan_requests(
    con: duckdb.DuckDBPyConnection,
    session: IbSession,
    contracts: dict[str, object],
    options: IbkrOptions,
    *,
    end: datetime,
    now: datetime,
    reporter: Reporter,
) -> list[SeriesPlan]:
    """Step 1: the requests each symbol needs, from the gaps in its coverage.

    Refuses a fetch of another kind of bars into an existing series (unless --replace, which
    deletes that series first).
    """
    wanted = []  # (key, contract, kind after, covered spans, start)
    for symbol, contract in contracts.items():
        key = CoverageKey(symbol, options.bar_size, options.what_to_show, options.use_rth)
        stored = stored_kind(con, symbol, options.bar_size.code)
        if conflicts(stored, options.kind, options.bar_size):
            if not options.replace:
                raise _refuse_other_kind(symbol, options, stored)
        if options.replace and stored is not None:
            deleted = forget_bars(con, symbol, options.bar_size.code)
            forget_coverage(con, symbol, options.bar_size.code)
            reporter.note(f"{symbol}: deleted {deleted:,} stored {options.bar_size.code} bars (--replace)")
            stored = None
        covered = [] if options.full else covered_spans(con, key, now=now, retry_empty=options.retry_empty)
        start = _series_start(con, key, covered, options, end)
        wanted.append((key, contract, merged(stored, options.kind), covered, start))
    # IB's first bar, where the span reaches before anything fetched: asked for together
    asks = [options.full or not covered or start < covered[0][0] for _, _, _, covered, start in wanted]
    heads = await asyncio.gather(
        *(session.head_timestamp(contract) for (_, contract, *_), ask in zip(wanted, asks, strict=True) if ask)
    )
    heads_of = iter(heads)
    plans = []
    for (key, contract, kind, covered, start), ask in zip(wanted, asks, strict=True):
        head = next(heads_of) if ask else None
        if head is not None and head > start:
            reporter.note(f"{key.symbol}: IB has bars from {head:%Y-%m-%d %H:%M} UTC on")
            start = head
        chunks = [
            c for lo, hi in gaps(start, end, covered) for c in plan_chunks(key.symbol, lo, hi, options.bar_size)
        ]
        plans.append(SeriesPlan(key, contract, chunks, kind))
    return plans


def new_run(options: IbkrOptions, started_at: datetime) -> Run:
    source = f"ibkr:{options.what_to_show}"
    return Run(new_run_id(source), source, options.parameters(), started_at)


async def fetch_chunk(
    session: IbSession, plan: SeriesPlan, chunk: Chunk, now: Callable[[], datetime]
) -> Fetched:
    """Step 2: one request, with its retries."""
    bars = await session.historical(plan.contract, chunk)
    return Fetched(plan, chunk, bars, now())


def validate_batch(con: duckdb.DuckDBPyConnection, batch: list[Fetched], options: IbkrOptions) -> str | None:
    """Step 3: the answers as checked rows for raw.bars; returns the staged table (None if no bars)."""
    columns: dict[str, list] = {name: [] for name in BAR_ROW_COLUMNS}
    for fetched in batch:
        rows = bar_rows(fetched.bars, fetched.chunk, options)
        fetched.rows = len(rows.get("ts", ()))
        for name, values in rows.items():
            columns[name] += values
    if not columns["ts"]:
        return None
    con.register("_answers", rows_frame(columns))
    con.execute("create or replace temp table _answer_bars as select * from _answers")
    con.unregister("_answers")
    check_rows(con, "_answer_bars", _locate_ib)
    return unique_bars(con, "_answer_bars", _locate_ib)


def _span_status(fetched: Fetched, options: IbkrOptions) -> str:
    if fetched.bars:
        return "bars"
    span = (fetched.chunk.start, fetched.chunk.end)
    return "no_data" if exchange_open_during(options.calendar, span, use_rth=options.use_rth) else "closed"


def store_batch(
    con: duckdb.DuckDBPyConnection, run: Run, batch: list[Fetched], staged: str | None, options: IbkrOptions
) -> None:
    """Step 4: merge the answers' bars and record their spans as covered, in one transaction."""
    spans = []
    for fetched in batch:
        status = _span_status(fetched, options)
        end = finished_before(fetched.chunk.end, fetched.answered_at, options.bar_size)
        spans.append((fetched.plan.key, fetched.chunk.start, end, fetched.rows, status, fetched.answered_at))
        run.rows_read += fetched.rows
        run.no_data_spans += status == "no_data"
    con.execute("begin")
    if staged:
        ingested_at = datetime.now(UTC)
        run.counts += merge_bars(con, staged, source=run.source, ingested_at=ingested_at)
        for plan in {id(f.plan): f.plan for f in batch if f.rows and not f.plan.kind_recorded}.values():
            record_series(
                con, plan.key.symbol, options.bar_size.code, plan.kind, source=run.source, at=ingested_at
            )
            plan.kind_recorded = True
    record_spans(con, spans, run_id=run.run_id)
    run.record(con, "running")
    con.execute("commit")


def _session_dates(stamps: list) -> list[date]:
    """Session dates of IB's daily bars (dates, or midnights from some library versions)."""
    return [d.date() if isinstance(d, datetime) else d for d in stamps]


def raw_daily_closes(con: duckdb.DuckDBPyConnection, symbol: str, calendar: str) -> pd.Series:
    """The stored raw daily closes of ``symbol``, indexed by session date."""
    rows = con.execute(
        "select ts, close from wh.raw.bars where symbol = ? and bar_size = '1d' order by ts", [symbol]
    ).df()
    if rows.empty:
        return pd.Series(dtype="float64")
    first, last = rows["ts"].min(), rows["ts"].max()
    sessions = trading_sessions(calendar, (first - pd.Timedelta(days=1)).date(), (last + pd.Timedelta(days=1)).date())
    day_of = dict(zip(pd.to_datetime(sessions["open_utc"], utc=True), sessions["session_date"], strict=True))
    return pd.Series(rows["close"].to_numpy(), index=[day_of[pd.Timestamp(t)] for t in rows["ts"]])


async def derive_and_store_actions(
    con: duckdb.DuckDBPyConnection,
    session: IbSession,
    run: Run,
    plan: SeriesPlan,
    options: IbkrOptions,
    *,
    now: datetime,
    reporter: Reporter,
) -> MergeCounts:
    """--actions: IB's adjusted daily series beside the stored raw one -> raw.corporate_actions.

    The adjusted bars are only compared, never stored (raw.bars holds raw prices). IB takes
    ADJUSTED_LAST only up to now (an empty end date), so one request spans the whole history.
    """
    symbol = plan.key.symbol
    raw = raw_daily_closes(con, symbol, options.calendar)
    if raw.empty:
        return MergeCounts()
    first = datetime.combine(raw.index.min(), datetime.min.time(), UTC)
    years = max(1, math.ceil((now - first).days / 365.25))
    chunk = Chunk(symbol, first, now, f"{years} Y")
    bars = await session.historical(plan.contract, chunk, what_to_show=ADJUSTED_KIND, open_end=True)
    adjusted = pd.Series([b.close for b in bars], index=_session_dates([b.date for b in bars]))
    derived = derive_actions(raw, adjusted)
    for day, step in derived.unexplained:
        reporter.note(
            f"{symbol} {day}: the adjusted/raw close ratio steps by {step:.4f}, neither a split ratio nor a "
            "dividend: not stored"
        )
    con.execute("begin")
    counts = store_derived(con, symbol, derived.actions, source="ibkr")
    run.record(con, "running")
    con.execute("commit")
    return counts


def interleaved(plans: list[SeriesPlan]) -> list[tuple[SeriesPlan, Chunk]]:
    """Every request: each symbol's oldest first, the symbols taking turns (requests in flight
    spread over contracts, and a kill leaves each series' oldest part stored)."""
    longest = max((len(p.chunks) for p in plans), default=0)
    return [(p, p.chunks[i]) for i in range(longest) for p in plans if i < len(p.chunks)]


async def fetch_and_store(
    con: duckdb.DuckDBPyConnection,
    session: IbSession,
    run: Run,
    plans: list[SeriesPlan],
    options: IbkrOptions,
    *,
    reporter: Reporter,
    now: Callable[[], datetime],
) -> None:
    """Steps 2-4 for every request: as many in flight as the session's gate lets through (one,
    paced, for bars under a minute). One writer validates and stores the answers as they come,
    every answer waiting at that moment in one transaction (at a high rate of answers the cost
    of a transaction is shared; at a low one, each answer is stored at once). The writer works
    in a thread (DuckDB lets go of the GIL), so answers keep arriving while it writes and their
    latency is IB's, not ours; it is the only user of the connection until every answer is in."""
    queue = deque(interleaved(plans))
    answers: asyncio.Queue[Fetched | None] = asyncio.Queue()
    writing: list[asyncio.Future] = []  # the writer's thread at work, if it is

    async def fetcher() -> None:
        while queue:
            plan, chunk = queue.popleft()
            answers.put_nowait(await fetch_chunk(session, plan, chunk, now))

    async def writer() -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await answers.get()]
            while not answers.empty():
                batch.append(answers.get_nowait())
            done = None in batch
            batch = [f for f in batch if f is not None]
            if batch:
                writing[:] = [loop.run_in_executor(None, _validate_and_store, con, run, batch, options)]
                await asyncio.shield(writing[0])
                for fetched in batch:
                    reporter.chunk_done(fetched.chunk, fetched.rows)
            if done:
                return

    width = getattr(session.gate, "ceiling", 1)
    fetchers = [asyncio.ensure_future(fetcher()) for _ in range(min(width, len(queue)))]
    storing = asyncio.ensure_future(writer())
    tasks = [*fetchers, storing]
    try:
        fetching = set(fetchers)
        while fetching:
            done, _ = await asyncio.wait(fetching | {storing}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
            fetching -= done
        answers.put_nowait(None)  # every request answered: the writer stores the rest and stops
        await storing
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # a transaction under way in the writer's thread ends before anyone else uses the connection
        await asyncio.gather(*writing, return_exceptions=True)


def _validate_and_store(con: duckdb.DuckDBPyConnection, run: Run, batch: list[Fetched], options: IbkrOptions) -> None:
    store_batch(con, run, batch, validate_batch(con, batch, options), options)


def finish_run(con: duckdb.DuckDBPyConnection, run: Run, options: IbkrOptions) -> None:
    con.execute("begin")
    refresh_sessions(con, options.calendar)
    run.record(con, "ok")
    con.execute("commit")


def fail_run(con: duckdb.DuckDBPyConnection, run: Run, exc: BaseException) -> None:
    interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
    with contextlib.suppress(duckdb.Error):  # no transaction open is fine
        con.execute("rollback")
    run.record(con, "interrupted" if interrupted else "failed", None if interrupted else str(getattr(exc, "message", exc)))


# -- the whole ingest --------------------------------------------------------------------------------


@dataclass
class IbkrResult(IngestResult):
    """An ingest's outcome, plus the spans IB answered "no data" for in session hours and the
    corporate actions derived (--actions)."""

    no_data_spans: int = 0
    rechecks_waiting: int = 0
    actions: MergeCounts = field(default_factory=MergeCounts)


async def ingest_ibkr(
    options: IbkrOptions,
    *,
    db: str | Path | None = None,
    clock: Clock | None = None,
    limiter: PacingLimiter | None = None,
    gate: Gate | None = None,
    reporter: Reporter | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[IbkrResult, SessionStats]:
    """Fetch and store bars for every symbol: plan -> fetch -> validate -> store (module docstring)."""
    reporter = reporter or Reporter()
    started_at = now()
    check_options(options, started_at)
    session = IbSession(options, clock, limiter, gate)
    await session.connect()
    con = None
    run = new_run(options, started_at)
    recorded = False
    try:
        contracts = await qualify_all(session, options)
        con = open_warehouse(db)
        end = min(options.end or started_at, started_at)
        # planning reads and writes (tables, stale runs, --replace) in one transaction with the
        # run's first row: a refused plan leaves the warehouse as it was
        con.execute("begin")
        ensure_tables(con, "wh")
        close_stale_runs(con, found_by=run.run_id)
        plans = await plan_requests(con, session, contracts, options, end=end, now=started_at, reporter=reporter)
        run.record(con, "running")
        con.execute("commit")
        recorded = True
        reporter.planned(sum(len(p.chunks) for p in plans))

        await fetch_and_store(con, session, run, plans, options, reporter=reporter, now=now)

        actions = MergeCounts()
        if options.actions:
            for plan in plans:
                actions += await derive_and_store_actions(
                    con, session, run, plan, options, now=now(), reporter=reporter
                )

        finish_run(con, run, options)
        waiting = sum(spans_to_recheck(con, p.key, now=now()) for p in plans)
        keys = [(s, options.bar_size.code) for s in contracts]
        result = IbkrResult(run.run_id, run.rows_read, run.counts, keys, run.no_data_spans, waiting, actions)
        return result, session.stats
    except BaseException as exc:
        if con is not None:
            if recorded:
                fail_run(con, run, exc)
            else:
                with contextlib.suppress(duckdb.Error):
                    con.execute("rollback")
        raise
    finally:
        session.disconnect()
        if con is not None:
            con.close()
