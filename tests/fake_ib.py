"""A fake IB gateway that speaks the real TWS API wire protocol on 127.0.0.1.

The real client library (ib_async or ib_insync) connects to it exactly as to TWS: the
``API\\0`` handshake, startApi, nextValidId, managedAccounts, then contract details,
head timestamps and historical bars served from a DataFrame of real sample bars.

Every message is a 4-byte big-endian length and NUL-terminated fields. Server version
176 is inside ib_async's range (157..178); the field orders below follow its decoder
at that version.

Series: the frame may carry ``what_to_show`` (TRADES when absent; ADJUSTED_LAST rows are
served only to requests with an empty end date, as IB requires) and ``rth`` (whether a bar
lies in regular trading hours; True when absent). A request with ``useRTH=1`` gets only the
``rth`` bars. MIDPOINT, BID, ASK and BID_ASK requests for which the frame has no rows are
answered from the TRADES bars with volume, wap and count -1, as IB sends them.

Load for tests and the benchmark: a latency per historical answer, IB's limit of 50 open
requests, and a soft throttle (``Throttle``) for bars of 1 minute and more.

Faults for tests: pacing enforcement (IB's three rules for bars under a minute, on a shared
clock) answered with error 162, injected 162 pacing errors, spurious "HMDS query returned no data" answers,
dropped connections, a stall after N answers, unknown symbols (error 200), durations too
long for the bar size (error 321), a client id already in use (error 326, then hang up).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from alphaduck.bar_sizes import parse_bar_size

SERVER_VERSION = 176
ACCOUNT = "DU1234567"

# IB's step-size table: the longest duration each bar size allows, in seconds of calendar time
_UNIT_SECONDS = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 31 * 86_400, "Y": 366 * 86_400}


def _max_duration_seconds(bar_seconds: int) -> int:
    if bar_seconds < 5:
        return 1_800
    if bar_seconds < 10:
        return 3_600
    if bar_seconds < 30:
        return 14_400
    if bar_seconds < 60:
        return 28_800
    if bar_seconds < 180:
        return 86_400
    if bar_seconds < 1_800:
        return 7 * 86_400
    if bar_seconds < 86_400:
        return 31 * 86_400
    return 366 * 86_400


def _window_start(end: datetime, duration: str) -> datetime:
    n, unit = duration.split()
    n = int(n)
    ts = pd.Timestamp(end)
    offsets = {
        "S": pd.Timedelta(seconds=n),
        "D": pd.Timedelta(days=n),
        "W": pd.Timedelta(weeks=n),
        "M": pd.DateOffset(months=n),
        "Y": pd.DateOffset(years=n),
    }
    return (ts - offsets[unit]).to_pydatetime()


def _encode(*fields: object) -> bytes:
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


@dataclass
class Request:
    kind: str  # "historical" | "head" | "details"
    symbol: str
    end: str = ""
    duration: str = ""
    bar_size: str = ""
    what_to_show: str = ""
    use_rth: bool = True
    at: float = 0.0
    answer: str = ""  # "bars" | "no data" | "pacing" | "invalid" | "dropped" | "stalled" | ...
    answered_at: float | None = None
    open_at_arrival: int = 0


@dataclass
class Faults:
    pacing_errors_at: set[int] = field(default_factory=set)  # historical request ordinals (1-based)
    no_data_at: set[int] = field(default_factory=set)  # answered "no data" although there are bars
    drop_at: set[int] = field(default_factory=set)
    client_ids_in_use: set[int] = field(default_factory=set)  # startApi with one of these: error 326
    stall_after: int | None = None  # answer this many historical requests, then go silent
    refuse_handshake: bool = False


class _Clock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class Throttle:
    """A soft throttle like IB's for bars of 1 minute and more: beyond ``rate`` requests a second
    (after a ``burst``) requests wait their turn, so answers slow down; one that would wait more
    than ``patience`` seconds is answered with a pacing violation (error 162) instead."""

    rate: float = 8.0
    burst: int = 16
    patience: float = 6.0


class FakeGateway:
    """Serve ``bars`` (symbol, bar_size code, ts UTC bar start, open..volume) over the TWS protocol."""

    def __init__(
        self,
        bars: pd.DataFrame,
        *,
        clock=None,
        enforce_pacing: bool = True,
        faults: Faults | None = None,
        latency: tuple[float, float] | None = None,
        throttle: Throttle | None = None,
        max_open: int = 50,
        seed: int = 0,
    ):
        bars = bars.assign(
            what_to_show=bars["what_to_show"].fillna("TRADES") if "what_to_show" in bars else "TRADES",
            rth=bars["rth"].fillna(True).astype(bool) if "rth" in bars else True,
        )
        self.bars = {
            key: frame.sort_values("ts").reset_index(drop=True)
            for key, frame in bars.groupby(["symbol", "bar_size", "what_to_show"])
        }
        self.symbols = sorted({s for s, _, _ in self.bars})
        self.clock = clock or _Clock()
        self.enforce_pacing = enforce_pacing
        self.faults = faults or Faults()
        self.requests: list[Request] = []
        self.violations: list[Request] = []
        self.broken_rules: list[str] = []  # which of IB's rules each violation broke
        self.connections = 0
        self.latency = latency  # (low, high) seconds of the clock per historical answer, uniform
        self.throttle = throttle
        self.max_open = max_open  # IB answers a request beyond 50 open with error 162
        self.rng = random.Random(seed)
        self.open = 0
        self.max_open_seen = 0
        self.throttled = 0  # requests refused by the soft throttle
        self._tokens = float(throttle.burst) if throttle else 0.0
        self._bucket_at = self.clock.now()
        self.port = 0
        self._historical_count = 0
        self._paced: deque[tuple[float, tuple]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.stalled = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeGateway:
        self._thread = threading.Thread(target=self._run, name="fake-ib-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake IB gateway did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if not self._loop:
            return

        async def shutdown() -> None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def historical(self) -> list[Request]:
        return [r for r in self.requests if r.kind == "historical"]

    # -- protocol ---------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            await reader.readexactly(size)  # "v157..178": we answer with one version in range
            if self.faults.refuse_handshake:
                return
            writer.write(_encode_raw(f"{SERVER_VERSION}\0{datetime.now(UTC):%Y%m%d %H:%M:%S} UTC\0"))
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                fields = (await reader.readexactly(size)).decode().split("\0")[:-1]
                if not await self._handle(fields, writer):
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, f: list[str], w: asyncio.StreamWriter) -> bool:
        msg = int(f[0])
        if msg == 71:  # startApi: 71, 2, clientId, optionalCapabilities
            if int(f[2]) in self.faults.client_ids_in_use:
                self._error(w, -1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
                return False  # and TWS hangs up
            w.write(_encode(9, 1, 1) + _encode(15, 1, ACCOUNT))
        elif msg == 61:  # reqPositions
            w.write(_encode(62, 1))
        elif msg == 6:  # reqAccountUpdates
            w.write(_encode(54, 1, ACCOUNT))
        elif msg == 76:  # reqAccountUpdatesMulti
            w.write(_encode(74, 1, f[2]))
        elif msg == 7:  # reqExecutions
            w.write(_encode(55, 1, f[2]))
        elif msg == 5:  # reqOpenOrders
            w.write(_encode(53, 1))
        elif msg == 99:  # reqCompletedOrders
            w.write(_encode(102))
        elif msg == 49:  # reqCurrentTime
            w.write(_encode(49, 1, int(time.time())))
        elif msg == 9:  # reqContractDetails: 9, 8, reqId, conId, symbol, secType, ...
            self._contract_details(f, w)
        elif (
            msg == 87
        ):  # reqHeadTimeStamp: 87, reqId, contract(12), includeExpired, useRTH, whatToShow, formatDate
            self._head_timestamp(f, w)
        elif msg == 20:  # reqHistoricalData
            return self._historical(f, w)
        # 25 cancelHistoricalData, 90 cancelHeadTimeStamp and the rest need no answer
        return True

    def _error(self, w: asyncio.StreamWriter, req_id: object, code: int, text: str) -> None:
        w.write(_encode(4, 2, req_id, code, text, ""))

    def _contract_details(self, f: list[str], w: asyncio.StreamWriter) -> None:
        req_id, symbol, sec_type, currency = f[2], f[4], f[5] or "STK", f[12] or "USD"
        self.requests.append(Request("details", symbol, at=self.clock.now()))
        if symbol not in self.symbols:
            self._error(w, req_id, 200, "No security definition has been found for the request")
            return
        con_id = 100_000 + self.symbols.index(symbol)
        w.write(
            _encode(
                10,
                req_id,
                symbol,
                sec_type,
                "",
                0,
                "",
                "SMART",
                currency,
                symbol,
                "NMS",
                symbol,
                con_id,
                0.01,
                "",
                "ACTIVETIM,LMT,MKT",
                "SMART,ARCA,NYSE,NASDAQ",
                1,
                0,
                f"{symbol} (fake)",
                "ARCA",
                "",
                "",
                "",
                "",
                "US/Eastern",
                "",
                "",
                "",
                "",
                0,
                1,
                "",
                "",
                "26,26",
                "",
                "ETF",
                1,
                1,
                100,
            )  # fmt: skip
            + _encode(52, 1, req_id)
        )

    def _series(self, symbol: str, bar_size: str, what: str, use_rth: bool) -> pd.DataFrame | None:
        code = parse_bar_size(bar_size).code
        series = self.bars.get((symbol, code, what))
        if series is None and what in ("MIDPOINT", "BID", "ASK", "BID_ASK"):
            trades = self.bars.get((symbol, code, "TRADES"))
            series = None if trades is None else trades.assign(volume=-1, wap=-1.0, bar_count=-1)
        if series is not None and use_rth:
            series = series[series["rth"]]
        return series

    def _head_timestamp(self, f: list[str], w: asyncio.StreamWriter) -> None:
        req_id, symbol = f[1], f[3]
        self.requests.append(Request("head", symbol, what_to_show=f[16], at=self.clock.now()))
        firsts = [frame["ts"].iloc[0] for (s, _, _), frame in self.bars.items() if s == symbol]
        if not firsts:
            self._error(w, req_id, 162, "Historical Market Data Service error message:No head time stamp")
            return
        w.write(_encode(88, req_id, int(min(firsts).timestamp())))

    def _pacing_violated(self, key: tuple, family: tuple, weight: int, now: float) -> bool:
        while self._paced and self._paced[0][0] <= now - 600:
            self._paced.popleft()
        recent = list(self._paced)
        in_window = sum(wt for _, _, wt in recent) + weight
        identical = any(k == key and now - t < 15 for t, k, _ in recent)
        same_family = sum(wt for t, k, wt in recent if k[:3] == family and t > now - 2) + weight
        self._paced.append((now, key, weight))
        rules = [
            name
            for name, broken in (
                ("60 in 10 minutes", in_window > 60),
                ("identical within 15 s", identical),
                ("6 per contract in 2 s", same_family >= 6),
            )
            if broken
        ]
        self.broken_rules.extend(rules)
        return bool(rules)

    def _historical(self, f: list[str], w: asyncio.StreamWriter) -> bool:
        # 20, reqId, contract(12 fields), includeExpired, end, barSize, duration, useRTH, whatToShow, formatDate, ...
        req_id, con_id, symbol, exchange = f[1], f[2], f[3], f[9]
        end_text, bar_size, duration, use_rth, what, fmt = f[15], f[16], f[17], f[18] == "1", f[19], f[20]
        now = self.clock.now()
        req = Request("historical", symbol, end_text, duration, bar_size, what, use_rth, at=now)
        self.requests.append(req)
        self._historical_count += 1
        n = self._historical_count
        stall = self.faults.stall_after
        if stall is not None and n > stall:
            req.answer = "stalled"
            self.stalled.set()
            return True
        if n in self.faults.drop_at:
            req.answer = "dropped"
            return False
        bar = parse_bar_size(bar_size)
        req.open_at_arrival = self.open
        if self.open >= self.max_open:
            self.violations.append(req)
            self.broken_rules.append(f"{self.max_open} open")
            req.answer = "pacing"
            self._error(w, req_id, 162, f"Historical Market Data Service error message:Pacing violation: more than {self.max_open} open requests")
            return True
        # IB's three pacing rules bind bars under a minute; above, its soft throttle does
        key = (con_id, exchange, what, end_text, duration, bar_size, use_rth)
        violated = self.enforce_pacing and bar.seconds < 60 and self._pacing_violated(
            key, (con_id, exchange, what), 2 if what == "BID_ASK" else 1, now
        )
        if violated or n in self.faults.pacing_errors_at:
            if violated:
                self.violations.append(req)
            req.answer = "pacing"
            self._error(w, req_id, 162, "Historical Market Data Service error message:Pacing violation")
            return True
        delay = self.rng.uniform(*self.latency) if self.latency else 0.0
        if self.throttle is not None and bar.seconds >= 60:
            queued = self._queue_delay(now)
            if queued > self.throttle.patience:
                req.answer = "pacing"
                self.throttled += 1
                self._later(w, delay, req, (4, 2, req_id, 162, "Historical Market Data Service error message:Pacing violation", ""))
                return True
            delay += queued
        answer, fields = self._historical_answer(req_id, symbol, end_text, bar, bar_size, duration, use_rth, what, fmt)
        req.answer = answer
        self._later(w, delay, req, fields)
        return True

    def _queue_delay(self, now: float) -> float:
        """The soft throttle as a token bucket: how long this request waits for its turn."""
        t = self.throttle
        self._tokens = min(t.burst, self._tokens + (now - self._bucket_at) * t.rate)
        self._bucket_at = now
        self._tokens -= 1
        return max(0.0, -self._tokens / t.rate)

    def _later(self, w: asyncio.StreamWriter, delay: float, req: Request, fields: tuple) -> None:
        """Answer after ``delay`` seconds of the gateway's clock (at once without latency)."""
        self.open += 1
        self.max_open_seen = max(self.max_open_seen, self.open)

        def send() -> None:
            self.open -= 1
            req.answered_at = self.clock.now()
            if not w.is_closing():
                w.write(_encode(*fields))

        if delay <= 0:
            send()
            return

        async def wait_then_send() -> None:
            await self.clock.sleep(delay)
            send()
            with contextlib.suppress(ConnectionError):
                await w.drain()

        asyncio.ensure_future(wait_then_send())

    def _historical_answer(self, req_id, symbol, end_text, bar, bar_size, duration, use_rth, what, fmt) -> tuple[str, tuple]:
        """(what the answer is, its message fields)."""
        count, unit = duration.split()
        if what == "ADJUSTED_LAST" and end_text:
            text = "Error validating request.-'bW' : cause - End date not supported with adjusted last"
            return "invalid", (4, 2, req_id, 321, text, "")
        # daily bars and longer may ask for several years at once
        years_of_days = unit == "Y" and not bar.is_intraday
        if not years_of_days and int(count) * _UNIT_SECONDS[unit] > _max_duration_seconds(bar.seconds):
            text = (
                "Error validating request.-'bP' : cause - Historical data request for duration "
                f"{duration} is not supported for bar size {bar_size}"
            )
            return "invalid", (4, 2, req_id, 321, text, "")
        series = self._series(symbol, bar_size, what, use_rth)
        end = _parse_end(end_text) if end_text else datetime.now(UTC)
        start = _window_start(end, duration)
        rows = (
            series[(series["ts"] >= start) & (series["ts"] < end)] if series is not None else pd.DataFrame()
        )
        if rows.empty or self._historical_count in self.faults.no_data_at:
            text = f"Historical Market Data Service error message:HMDS query returned no data: {symbol}@SMART Trades"
            return "no data", (4, 2, req_id, 162, text, "")
        fields: list[object] = [17, req_id, f"{start:%Y%m%d %H:%M:%S}", f"{end:%Y%m%d %H:%M:%S}", len(rows)]
        daily = not bar.is_intraday
        for r in rows.itertuples(index=False):
            stamp = (
                r.session_date.strftime("%Y%m%d")
                if daily
                else (
                    str(int(r.ts.timestamp()))
                    if fmt == "2"
                    else f"{r.ts.tz_convert('US/Eastern'):%Y%m%d %H:%M:%S} US/Eastern"
                )
            )
            fields += [stamp, r.open, r.high, r.low, r.close, int(r.volume), r.wap, r.bar_count]
        return "bars", tuple(fields)


def _encode_raw(text: str) -> bytes:
    body = text.encode()
    return struct.pack(">I", len(body)) + body


def _parse_end(text: str) -> datetime:
    parts = text.split()
    stamp = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
    tz = parts[2] if len(parts) > 2 else "UTC"
    return pd.Timestamp(stamp, tz=tz).tz_convert("UTC").to_pydatetime()


def sample_frame(
    path, *, symbol: str | None = None, bar_size: str | None = None, calendar: str = "XNYS"
) -> pd.DataFrame:
    """Bars of a sample file as the gateway serves them (wap and bar_count made up from OHLC);
    ``rth`` marks the bars inside their session's regular hours."""
    frame = pd.read_csv(path)
    if symbol:
        frame["symbol"] = symbol
    daily = len(str(frame["ts"].iloc[0])) == 10
    if daily:
        frame["session_date"] = pd.to_datetime(frame["ts"]).dt.date
        from ingest.sessions import trading_sessions

        sessions = trading_sessions(calendar, frame["session_date"].min(), frame["session_date"].max())
        opens = dict(zip(sessions["session_date"], sessions["open_utc"], strict=True))
        frame["ts"] = pd.to_datetime(frame["session_date"].map(opens), utc=True)
    else:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        from ingest.sessions import trading_sessions

        local_days = frame["ts"].dt.tz_convert("America/New_York").dt.date
        sessions = trading_sessions(calendar, local_days.min(), local_days.max()).set_index("session_date")
        opens = pd.to_datetime(local_days.map(sessions["open_utc"]), utc=True)
        closes = pd.to_datetime(local_days.map(sessions["close_utc"]), utc=True)
        frame["rth"] = ((frame["ts"] >= opens) & (frame["ts"] < closes)).fillna(False).astype(bool)
    frame["bar_size"] = bar_size or ("1d" if daily else "30min")
    frame["wap"] = ((frame["high"] + frame["low"] + frame["close"]) / 3).round(4)
    frame["bar_count"] = (frame["volume"] // 100).astype("int64") + 1
    return frame


def adjusted_frame(trades: pd.DataFrame, splits: pd.DataFrame, dividends: pd.DataFrame, *, decimals: int = 4) -> pd.DataFrame:
    """IB's ADJUSTED_LAST daily series for ``trades`` (one symbol or many), by the CRSP / Yahoo rule.

    Every price before an ex-date is multiplied by 1/ratio for a split (new shares per old) and
    by (1 - dividend / previous raw close) for a cash dividend; factors compound back in time.
    ``splits``: symbol, ex_date, split_ratio; ``dividends``: symbol, ex_date, cash_dividend.
    Prices are rounded to ``decimals``, as a vendor's series is.
    """
    out = []
    for symbol, bars in trades.groupby("symbol"):
        bars = bars.sort_values("session_date").reset_index(drop=True)
        days = pd.to_datetime(bars["session_date"])
        factor = pd.Series(1.0, index=bars.index)
        for row in splits[splits["symbol"] == symbol].itertuples():
            factor[days < pd.Timestamp(row.ex_date)] /= row.split_ratio
        for row in dividends[dividends["symbol"] == symbol].itertuples():
            before = days < pd.Timestamp(row.ex_date)
            previous_close = bars.loc[before, "close"].iloc[-1]
            factor[before] *= 1 - row.cash_dividend / previous_close
        adjusted = bars.copy()
        for column in ("open", "high", "low", "close"):
            adjusted[column] = (bars[column] * factor).round(decimals)
        adjusted["wap"] = adjusted["close"]
        out.append(adjusted.assign(what_to_show="ADJUSTED_LAST"))
    return pd.concat(out, ignore_index=True)


def finer_bars(frame: pd.DataFrame, parts: int, bar_size: str) -> pd.DataFrame:
    """Each bar of ``frame`` cut into ``parts`` bars of ``bar_size``, for request-scheduling tests and
    the benchmark (the sample has no bars that fine): prices walk from the bar's open to its close,
    the first part reaches its high and the last its low, volume is shared out."""
    step = parse_bar_size(bar_size).seconds
    out = frame.loc[frame.index.repeat(parts)].reset_index(drop=True)
    k = pd.Series(list(range(parts)) * len(frame))
    move = out["close"] - out["open"]
    opens = (out["open"] + move * k / parts).round(4)
    closes = (out["open"] + move * (k + 1) / parts).round(4)
    out["high"] = pd.concat([opens, closes], axis=1).max(axis=1).where(k != 0, out["high"])
    out["low"] = pd.concat([opens, closes], axis=1).min(axis=1).where(k != parts - 1, out["low"])
    out["open"], out["close"] = opens, closes
    out["volume"] = (out["volume"] // parts).astype("int64")
    out["ts"] = out["ts"] + pd.to_timedelta(k * step, unit="s")
    out["bar_size"] = parse_bar_size(bar_size).code
    out["wap"] = ((out["high"] + out["low"] + out["close"]) / 3).round(4)
    out["bar_count"] = (out["volume"] // 100).astype("int64") + 1
    return out
