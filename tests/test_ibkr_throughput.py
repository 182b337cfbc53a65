"""Several IB requests in flight for bars of 1 minute and more: the adaptive window (AIMD) and the
real client against a fake gateway with latency, a soft throttle and IB's 50-open limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from alphaduck.bar_sizes import parse_bar_size
from ingest.ibkr import IB_LIBRARIES, IB_LIBRARY_ENV_VAR, IbkrOptions, ingest_ibkr
from ingest.pacing import IB_MAX_OPEN, AdaptiveGate, FakeClock, PacedGate, PacedRequest, ScaledClock, gate_for
from tests.conftest import SAMPLE_30MIN, run_cli
from tests.fake_ib import FakeGateway, Throttle, sample_frame

BAR_30 = parse_bar_size("30 mins")
MAY, MAR = datetime(2025, 5, 12, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
SYMBOLS = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META"]


def request(n: int = 0) -> PacedRequest:
    return PacedRequest(str(n), "SMART", "TRADES", f"e{n}", "1 M", "30 mins")


def run(coroutine):
    return asyncio.run(coroutine)


# -- the window on its own -------------------------------------------------------------------------------


def test_the_window_doubles_per_round_trip_until_a_violation_halves_it():
    clock = FakeClock()
    gate = AdaptiveGate(clock, start=4, ceiling=40)

    async def round_trip() -> None:
        tickets = [(await gate.acquire(request(i)))[0] for i in range(int(gate.limit))]
        clock.t += 1.0
        for ticket in tickets:
            gate.release(ticket, "ok")

    async def go() -> list[float]:
        seen = []
        for _ in range(3):
            await round_trip()
            seen.append(gate.limit)
        return seen

    assert run(go()) == [8, 16, 32]  # slow start: +1 per answer

    async def violation() -> tuple:
        first, _ = await gate.acquire(request(1))
        second, _ = await gate.acquire(request(2))
        gate.release(first, "pacing")
        gate.release(second, "pacing")  # sent before the cut: the cut answered it already
        return gate.limit, gate.cuts

    assert run(violation()) == (16, 1)

    async def after_the_pause() -> float:
        started = clock.now()
        await gate.acquire(request(3))
        return clock.now() - started

    assert run(after_the_pause()) == pytest.approx(gate.pause)


def test_the_window_grows_by_one_per_round_trip_after_a_cut_and_never_past_the_ceiling():
    clock = FakeClock()
    gate = AdaptiveGate(clock, start=10, ceiling=12)

    async def go() -> list[float]:
        ticket, _ = await gate.acquire(request())
        gate.release(ticket, "timeout")  # 10 -> 5, and slow start is over
        limits = []
        for _ in range(30):
            tickets = [(await gate.acquire(request(i)))[0] for i in range(int(gate.limit))]
            clock.t += 1.0
            for t in tickets:
                gate.release(t, "ok")
            limits.append(gate.limit)
        return limits

    limits = run(go())
    steps = [b - a for a, b in zip([5.0, *limits], limits[:5], strict=False)]
    assert all(0.6 < step <= 1.0 for step in steps), steps  # about one more per round trip
    assert max(limits) == 12
    assert AdaptiveGate(clock, ceiling=80).ceiling == IB_MAX_OPEN


def test_a_slow_answer_cuts_the_window():
    clock = FakeClock()
    gate = AdaptiveGate(clock, start=8, slow_factor=2.5)

    async def go() -> tuple:
        for _ in range(5):  # the usual latency: 2 s
            ticket, _ = await gate.acquire(request())
            clock.t += 2.0
            gate.release(ticket, "ok")
        before = gate.limit
        ticket, _ = await gate.acquire(request())
        clock.t += 6.0  # three times slower: IB's throttle is queueing us
        gate.release(ticket, "ok")
        return before, gate.limit

    before, after = run(go())
    assert after == before / 2


def test_the_window_holds_requests_beyond_it_until_one_is_answered():
    clock = FakeClock()
    gate = AdaptiveGate(clock, start=2, ceiling=2)

    async def go() -> list[str]:
        events = []
        first, _ = await gate.acquire(request(1))
        await gate.acquire(request(2))

        async def third() -> None:
            await gate.acquire(request(3))
            events.append("third in")

        waiting = asyncio.ensure_future(third())
        await asyncio.sleep(0)
        events.append("released")
        gate.release(first, "ok")
        await waiting
        return events

    assert run(go()) == ["released", "third in"]
    assert gate.max_open == 2


def test_bars_under_a_minute_get_ibs_pacing_and_bigger_ones_the_window():
    clock = FakeClock()
    assert isinstance(gate_for(30, clock=clock), PacedGate)
    assert isinstance(gate_for(60, clock=clock), AdaptiveGate)
    assert gate_for(1800, clock=clock, max_in_flight=7).ceiling == 7


# -- against the gateway ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bars_30min() -> pd.DataFrame:
    return sample_frame(SAMPLE_30MIN)


@pytest.fixture(params=IB_LIBRARIES)
def library(request, monkeypatch) -> str:
    monkeypatch.setenv(IB_LIBRARY_ENV_VAR, request.param)
    return request.param


def fetch(bars, db, *, max_in_flight: int, throttle: Throttle | None = None, speed: float = 10.0, symbols=SYMBOLS):
    """Eight symbols, ten months of 30-minute bars from a gateway answering in 1-3 s (on a clock
    ``speed`` times faster than real time): (result, stats, gateway, simulated seconds)."""
    clock = ScaledClock(speed)
    with FakeGateway(bars, clock=clock, latency=(1.0, 3.0), throttle=throttle) as gw:
        options = IbkrOptions(symbols=symbols, bar_size=BAR_30, start=MAY, end=MAR, port=gw.port,
                              max_in_flight=max_in_flight, timeout=120)  # fmt: skip
        started = clock.now()
        result, stats = asyncio.run(ingest_ibkr(options, db=db, clock=clock))
        return result, stats, gw, clock.now() - started


def stored(db) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select symbol, ts, close, volume from raw.bars order by symbol, ts").df()
    finally:
        con.close()


def expected(bars: pd.DataFrame) -> pd.DataFrame:
    rows = bars[bars["symbol"].isin(SYMBOLS) & (bars["ts"] >= MAY) & (bars["ts"] < MAR)]
    return rows.sort_values(["symbol", "ts"]).reset_index(drop=True)


def test_requests_in_flight_overlap_their_latencies_and_fetch_the_same_bars(tmp_path, bars_30min, library):
    result, stats, gw, _ = fetch(bars_30min, tmp_path / "w.duckdb", max_in_flight=24)
    historical = [r for r in gw.historical if r.answered_at is not None]
    assert len(historical) == 80 and gw.violations == []
    assert 8 <= gw.max_open_seen <= stats.max_in_flight <= 24
    # one at a time, fetching would take at least the sum of the gateway's answer times
    waiting = sum(r.answered_at - r.at for r in historical)
    fetching = max(r.answered_at for r in historical) - min(r.at for r in historical)
    assert waiting / fetching > 4, (waiting, fetching)
    got, want = stored(tmp_path / "w.duckdb"), expected(bars_30min)
    assert len(got) == len(want) == result.counts.inserted and not got.duplicated(["symbol", "ts"]).any()
    assert got["close"].tolist() == want["close"].tolist()


def test_one_in_flight_is_sequential(tmp_path, bars_30min):
    _, stats, gw, _ = fetch(bars_30min, tmp_path / "w.duckdb", max_in_flight=1, speed=40, symbols=["SPY"])
    historical = [r for r in gw.historical if r.answered_at is not None]
    assert gw.max_open_seen == 1 and stats.max_in_flight == 1
    assert all(a.answered_at <= b.at for a, b in zip(historical, historical[1:], strict=False))


def test_the_window_backs_off_the_soft_throttle_and_loses_nothing(tmp_path, bars_30min):
    # a gateway that takes one request a second after a burst of 2, and refuses what would wait 2 s
    throttle = Throttle(rate=1.0, burst=2, patience=2.0)
    result, stats, gw, _ = fetch(bars_30min, tmp_path / "w.duckdb", max_in_flight=24, throttle=throttle)
    assert gw.throttled > 0 and stats.pacing_retries == gw.throttled  # refused, and asked again
    assert stats.window_cuts >= 2  # the window was cut, and cut again after growing back
    assert gw.max_open_seen <= 24
    got, want = stored(tmp_path / "w.duckdb"), expected(bars_30min)
    assert len(got) == len(want) and got["close"].tolist() == want["close"].tolist()


def test_max_in_flight_is_checked_against_ibs_limit(tmp_path):
    result = run_cli("ingest", "ibkr", "SPY", "--max-in-flight", "51", "--port", "9", "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2 and "'--max-in-flight': 51 is not in the range 1<=x<=50" in result.output
