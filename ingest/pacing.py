"""IB historical-data pacing, with a clock that tests can replace.

Bars under 1 minute: IB's pacing rules, obeyed exactly (``PacingLimiter`` behind a
``PacedGate``, one request at a time). Bars of 1 minute and more: IB lifts those rules but
keeps a soft throttle and at most 50 open requests, so an ``AdaptiveGate`` keeps several
requests in flight and adapts their number (AIMD). ``gate_for`` picks one.

IB counts a pacing violation when any of these happens (BID_ASK requests count double):

- more than 60 historical requests in any 10 minutes;
- an identical request within 15 seconds;
- 6 or more requests for the same contract, exchange and tick type within 2 seconds.

``PacingLimiter.wait`` sleeps on the clock until a request can go without breaking any
rule, then records it. It stays a hair (``margin``) inside each limit so that clock
jitter between us and the gateway never turns a legal request into a violation.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock seconds (monotonic)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when someone sleeps on it: pacing tests run instantly."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.t += seconds
        self.slept += seconds
        await asyncio.sleep(0)


class ScaledClock:
    """Real time run ``speed`` times faster: ten minutes of pacing pass in 600/speed seconds.

    Share one instance between the client and a fake gateway so both agree on time.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@dataclass(frozen=True)
class PacedRequest:
    """What IB's pacing rules look at in a historical-data request."""

    contract: str  # conId, or a description before qualification
    exchange: str
    what_to_show: str
    end: str = ""
    duration: str = ""
    bar_size: str = ""
    use_rth: bool = True

    @property
    def family(self) -> tuple[str, str, str]:
        return (self.contract, self.exchange, self.what_to_show)

    @property
    def weight(self) -> int:
        return 2 if self.what_to_show.upper() == "BID_ASK" else 1


@dataclass(frozen=True)
class PacingRules:
    max_requests: int = 60
    window: float = 600.0
    identical_gap: float = 15.0
    max_per_family: int = 5  # "6 or more within 2 s" is the violation
    family_window: float = 2.0


class PacingLimiter:
    """Decides when the next historical request may go out."""

    # IB times requests at its servers: a second of slack absorbs network and event-loop
    # jitter for 0.17% of the 10-minute rate.
    DEFAULT_MARGIN = 1.0

    def __init__(
        self, clock: Clock | None = None, rules: PacingRules = PacingRules(), margin: float = DEFAULT_MARGIN
    ) -> None:
        self.clock = clock or SystemClock()
        self.rules = rules
        self.margin = margin
        self._sent: deque[list] = deque()  # [time, weight], oldest first  # (time, weight)
        self._last_identical: dict[PacedRequest, float] = {}
        self._entries: dict[PacedRequest, list] = {}  # the latest [time, weight] of each request
        self._by_family: dict[tuple[str, str, str], deque[list]] = {}
        self.waited = 0.0

    def delay(self, request: PacedRequest, now: float | None = None) -> float:
        """Seconds to wait before ``request`` may be sent (0 when it may go now)."""
        now = self.clock.now() if now is None else now
        r = self.rules
        waits = [0.0]
        waits.append(self._window_wait(self._sent, request.weight, r.max_requests, r.window, now))
        family = self._by_family.get(request.family, deque())
        waits.append(self._window_wait(family, request.weight, r.max_per_family, r.family_window, now))
        last = self._last_identical.get(request)
        if last is not None:
            waits.append(last + r.identical_gap + self.margin - now)
        return max(waits)

    def _window_wait(
        self, sent: deque[list], weight: int, limit: int, window: float, now: float
    ) -> float:
        # requests still inside the window ending now
        live = sorted((t, w) for t, w in sent if t > now - window)
        used = sum(w for _, w in live)
        if used + weight <= limit:
            return 0.0
        # wait until enough of the oldest have left the window
        excess = used + weight - limit
        for t, w in live:
            excess -= w
            if excess <= 0:
                return t + window + self.margin - now
        return window + self.margin  # a single request heavier than the limit: wait a window

    def record(self, request: PacedRequest, now: float | None = None) -> None:
        now = self.clock.now() if now is None else now
        horizon = now - self.rules.window
        entry = [now, request.weight]  # mutable: answered() moves it to the answer's time
        self._sent.append(entry)
        while self._sent and self._sent[0][0] <= horizon:
            self._sent.popleft()
        family = self._by_family.setdefault(request.family, deque())
        family.append(entry)
        while family and family[0][0] <= now - self.rules.family_window:
            family.popleft()
        self._last_identical[request] = now
        self._entries[request] = entry
        stale = [k for k, t in self._last_identical.items() if t <= now - self.rules.identical_gap]
        for k in stale:
            del self._last_identical[k]
            self._entries.pop(k, None)

    def answered(self, request: PacedRequest, now: float | None = None) -> None:
        """Count ``request`` as sent when its answer came, not when it was allowed to go.

        IB times a request when it arrives; anything that delays the send after wait()
        (a garbage-collection pause, a busy event loop) would otherwise make the gap to a
        later request look longer to us than to IB. The answer's time is a safe upper bound.
        """
        entry = self._entries.get(request)
        if entry is None:
            return
        now = self.clock.now() if now is None else now
        entry[0] = max(entry[0], now)
        self._last_identical[request] = entry[0]

    async def wait(self, request: PacedRequest) -> float:
        """Sleep until ``request`` may go, record it as sent; returns the seconds waited."""
        waited = 0.0
        while (d := self.delay(request)) > 0:
            await self.clock.sleep(d)
            waited += d
        self.record(request)
        self.waited += waited
        return waited


# -- how many requests may be open: the two gates ---------------------------------------------------

IB_MAX_OPEN = 50  # IB's limit on historical requests open at once
DEFAULT_MAX_IN_FLIGHT = 24  # the adaptive window's ceiling unless --max-in-flight says otherwise
STRICT_PACING_BELOW_S = 60  # IB's pacing rules bind bars under 1 minute; above, a soft throttle


@dataclass
class Ticket:
    """One request let through a gate: when it went, and the window's decrease count then."""

    request: PacedRequest
    sent_at: float
    epoch: int = 0


class PacedGate:
    """Bars under 1 minute: one request at a time, under IB's three pacing rules (PacingLimiter)."""

    def __init__(self, limiter: PacingLimiter, backoff: float = 15.0) -> None:
        self.limiter = limiter
        self.clock = limiter.clock
        self.backoff = backoff
        self._free = asyncio.Event()
        self._free.set()
        self.open = 0
        self.max_open = 0

    async def acquire(self, request: PacedRequest) -> tuple[Ticket, float]:
        """Wait for the one slot and for the pacing rules; returns the ticket and the seconds waited."""
        waited = 0.0
        while self.open:
            started = self.clock.now()
            self._free.clear()
            await self._free.wait()
            waited += self.clock.now() - started
        self.open, self.max_open = 1, 1
        waited += await self.limiter.wait(request)
        return Ticket(request, self.clock.now()), waited

    def release(self, ticket: Ticket, outcome: str) -> None:
        self.limiter.answered(ticket.request)
        self.open = 0
        self._free.set()

    async def after_violation(self, failures: int) -> None:
        """A pacing violation despite the rules (another client on the account): wait, longer each time."""
        await self.clock.sleep(self.backoff * min(failures, 4))


class AdaptiveGate:
    """Bars of 1 minute and more: several requests in flight, adapted to IB's soft throttle.

    IB lifts its pacing rules for these bars but still slows down or refuses (error 162) a
    client that asks too much too fast, and never takes more than 50 open requests. The
    window of requests in flight grows and shrinks like TCP's congestion window (AIMD):

    - it starts at ``start`` and doubles per round trip (+1 per answer) until the first
      sign of congestion, then grows by about one per round trip (+1/window per answer);
    - a pacing violation, a dropped connection, a timeout, or an answer ``slow_factor``
      times slower than the usual ones halves it (``backoff``), at most once per round
      trip (answers to requests sent before the last cut do not cut again); a pacing
      violation also pauses new requests for ``pause`` seconds;
    - it never exceeds ``ceiling`` (itself at most IB's 50) nor falls below ``floor``.

    Parameters
    ----------
    clock : Clock
        Time for latencies and pauses.
    ceiling : int, default=DEFAULT_MAX_IN_FLIGHT
        Most requests open at once; capped at IB_MAX_OPEN.
    start : int, default=4
    floor : int, default=1
    backoff : float, default=0.5
    slow_factor : float, default=2.5
        An answer this many times slower than the usual latency is a slowdown. The usual latency
        follows faster answers quickly and slower ones slowly, so it sits near the fast end of
        the spread (about 1.4 s for answers taking 1 to 3 s).
    pause : float, default=5.0
    """

    def __init__(
        self,
        clock: Clock,
        *,
        ceiling: int = DEFAULT_MAX_IN_FLIGHT,
        start: int = 4,
        floor: int = 1,
        backoff: float = 0.5,
        slow_factor: float = 2.5,
        pause: float = 5.0,
    ) -> None:
        if not 1 <= ceiling:
            raise ValueError(f"got ceiling={ceiling}: at least one request must be allowed")
        self.clock = clock
        self.ceiling = min(ceiling, IB_MAX_OPEN)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = float(max(self.floor, min(start, self.ceiling)))
        self.threshold = float(self.ceiling)  # slow start below it
        self.backoff = backoff
        self.slow_factor = slow_factor
        self.pause = pause
        self.open = 0
        self.max_open = 0
        self.cuts = 0  # decreases so far: a ticket's epoch
        self.usual_latency: float | None = None
        self._paused_until = float("-inf")
        self._changed = asyncio.Event()

    async def acquire(self, request: PacedRequest) -> tuple[Ticket, float]:
        waited = 0.0
        while True:
            now = self.clock.now()
            if now < self._paused_until:
                await self.clock.sleep(self._paused_until - now)
                waited += self._paused_until - now
                continue
            if self.open < int(self.limit):
                break
            self._changed.clear()
            await self._changed.wait()
            waited += self.clock.now() - now
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        return Ticket(request, self.clock.now(), self.cuts), waited

    def release(self, ticket: Ticket, outcome: str) -> None:
        """``outcome``: ok, no data, pacing, disconnect, timeout, failed, or other (a request of
        another kind, such as a head timestamp: it only frees its place)."""
        self.open -= 1
        latency = self.clock.now() - ticket.sent_at
        if outcome in ("ok", "no data"):
            usual = self.usual_latency
            if usual is not None and latency > self.slow_factor * usual:
                self._cut(ticket)
            else:
                # quick to fall, slow to rise: a queue building up at IB raises latencies a little
                # at a time, and a usual latency that followed them would never see it
                weight = 0.3 if usual is None or latency < usual else 0.02
                self.usual_latency = latency if usual is None else usual + weight * (latency - usual)
                self.limit = min(self.ceiling, self.limit + (1 if self.limit < self.threshold else 1 / self.limit))
        elif outcome in ("pacing", "disconnect", "timeout"):
            self._cut(ticket)
            if outcome == "pacing":
                self._paused_until = max(self._paused_until, self.clock.now() + self.pause)
        self._changed.set()

    def _cut(self, ticket: Ticket) -> None:
        if ticket.epoch < self.cuts:
            return  # sent before the last cut: that cut answered it already
        self.threshold = max(self.floor, self.limit * self.backoff)
        self.limit = self.threshold
        self.cuts += 1

    async def after_violation(self, failures: int) -> None:
        """The pause after a violation is the gate's (release), shared by every request."""


Gate = PacedGate | AdaptiveGate


def gate_for(bar_seconds: int, *, clock: Clock, limiter: PacingLimiter | None = None,
             max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, backoff: float = 15.0) -> Gate:  # fmt: skip
    """IB's exact pacing for bars under a minute; the adaptive window for the rest."""
    if bar_seconds < STRICT_PACING_BELOW_S:
        return PacedGate(limiter or PacingLimiter(clock), backoff)
    return AdaptiveGate(clock, ceiling=max_in_flight)
