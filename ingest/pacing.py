"""IB historical-data pacing, obeyed exactly, with a clock that tests can replace.

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
