"""The pacing limiter, on a fake clock, against an independent reading of IB's three rules."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.pacing import FakeClock, PacedRequest, PacingLimiter

MARGIN = PacingLimiter.DEFAULT_MARGIN


def violations(sent: list[tuple[float, PacedRequest]]) -> list[str]:
    """IB's rules checked the slow, obvious way over a finished schedule."""
    found = []
    for i, (t, req) in enumerate(sent):
        before = sent[: i + 1]
        in_ten_minutes = sum(r.weight for s, r in before if s > t - 600)
        if in_ten_minutes > 60:
            found.append(f"{in_ten_minutes} requests in 10 min at t={t}")
        if any(r == req and t - s < 15 for s, r in sent[:i]):
            found.append(f"identical request within 15 s at t={t}")
        same_family = sum(r.weight for s, r in before if r.family == req.family and s > t - 2)
        if same_family >= 6:
            found.append(f"{same_family} requests for one contract in 2 s at t={t}")
    return found


def run(requests: list[PacedRequest], clock: FakeClock | None = None) -> list[tuple[float, PacedRequest]]:
    clock = clock or FakeClock()
    limiter = PacingLimiter(clock)
    sent = []

    async def go():
        for req in requests:
            await limiter.wait(req)
            sent.append((clock.now(), req))

    asyncio.run(go())
    return sent


def req(contract="1", end="e", what="TRADES") -> PacedRequest:
    return PacedRequest(contract, "SMART", what, end, "1 M", "30 mins")


def test_sixty_one_requests_wait_for_the_ten_minute_window():
    sent = run([req(str(i % 20), end=str(i)) for i in range(61)])
    assert sent[59][0] < 10  # the first 60 go almost at once (20 contracts, 3 requests each)
    assert 600 < sent[60][0] - sent[0][0] <= 600 + MARGIN + 1e-9
    assert violations(sent) == []


def test_identical_request_waits_fifteen_seconds():
    sent = run([req(), req()])
    assert 15 < sent[1][0] - sent[0][0] <= 15 + MARGIN + 1e-9
    assert violations(sent) == []


def test_sixth_request_for_one_contract_waits_two_seconds():
    sent = run([req(end=str(i)) for i in range(6)])
    assert sent[4][0] == 0
    assert 2 < sent[5][0] <= 2 + MARGIN + 1e-9
    assert violations(sent) == []


def test_bid_ask_counts_double():
    sent = run([req(str(i), end=str(i), what="BID_ASK") for i in range(31)])
    assert sent[29][0] < 1 and sent[30][0] >= 600
    assert violations(sent) == []


def test_different_contracts_do_not_slow_each_other():
    sent = run([req(str(i), end="same") for i in range(40)])
    assert sent[-1][0] == 0


requests = st.builds(
    req,
    contract=st.sampled_from(["1", "2", "3"]),
    end=st.sampled_from(["a", "b", "c", "d"]),
    what=st.sampled_from(["TRADES", "MIDPOINT", "BID_ASK"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(requests, min_size=1, max_size=150))
def test_no_schedule_the_limiter_makes_breaks_a_rule(batch):
    assert violations(run(batch)) == []


@settings(max_examples=30, deadline=None)
@given(st.lists(requests, min_size=70, max_size=130))
def test_limiter_keeps_the_full_rate_when_only_the_window_binds(batch):
    # distinct contracts and ends so only the 60-per-10-minutes rule can bind
    batch = [req(str(i), end=str(i)) for i in range(len(batch))]
    sent = run(batch)
    weight = len(batch)
    windows_needed = (weight - 1) // 60
    assert sent[-1][0] <= windows_needed * (600 + MARGIN) + 1e-6


def test_a_request_counts_from_when_its_answer_came():
    # IB stamps a request on arrival: if the send was late (a GC pause after wait()), the
    # window must start from the answer, or the 61st request lands inside IB's 10 minutes
    clock = FakeClock()
    limiter = PacingLimiter(clock)
    first = PacedRequest("1", "SMART", "TRADES", end="e0")

    async def go() -> float:
        await limiter.wait(first)
        clock.t += 7.0  # the answer comes 7 s later
        limiter.answered(first)
        for k in range(1, 60):
            await limiter.wait(PacedRequest(str(k % 7 + 2), "SMART", "TRADES", end=f"e{k}"))
            clock.t += 3.0
        await limiter.wait(PacedRequest("99", "SMART", "TRADES", end="last"))
        return clock.now()

    assert asyncio.run(go()) >= 7.0 + 600 + MARGIN
