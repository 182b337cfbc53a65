"""`alphaduck ingest ibkr`: the real ib_async (and ib_insync) client against a fake gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from alphaduck.bar_sizes import parse_bar_size
from alphaduck.errors import AlphaduckError
from ingest.ibkr import (
    IB_LIBRARIES,
    IB_LIBRARY_ENV_VAR,
    Chunk,
    IbkrOptions,
    IbSession,
    ib_library,
    ingest_ibkr,
    plan_chunks,
)
from ingest.pacing import AdaptiveGate, FakeClock, ScaledClock
from tests.conftest import PYTHON, ROOT, SAMPLE_30MIN, SAMPLE_DAILY, run_cli, snapshot
from tests.fake_ib import FakeGateway, Faults, finer_bars, sample_frame

BAR_30 = parse_bar_size("30 mins")
MAY, SEP = datetime(2025, 5, 12, tzinfo=UTC), datetime(2025, 9, 12, tzinfo=UTC)


@pytest.fixture(params=IB_LIBRARIES)
def library(request, monkeypatch) -> str:
    """Both client libraries the ingester supports, each against the same fake gateway."""
    monkeypatch.setenv(IB_LIBRARY_ENV_VAR, request.param)
    assert ib_library().__name__ == request.param
    return request.param


@pytest.fixture(scope="module")
def bars_30min() -> pd.DataFrame:
    return sample_frame(SAMPLE_30MIN)


@pytest.fixture(scope="module")
def bars_daily() -> pd.DataFrame:
    return sample_frame(SAMPLE_DAILY, symbol="SPY")


def expected_bars(frame: pd.DataFrame, symbols, start, end) -> pd.DataFrame:
    rows = frame[frame["symbol"].isin(symbols) & (frame["ts"] >= start) & (frame["ts"] < end)]
    return rows.sort_values(["symbol", "ts"]).reset_index(drop=True)


def stored(db) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select symbol, bar_size, ts, open, high, low, close, volume, wap, bar_count from raw.bars order by symbol, ts"
        ).df()
    finally:
        con.close()


def ingest(gateway: FakeGateway, db, clock=None, **kwargs):
    options = IbkrOptions(port=gateway.port, **{"bar_size": BAR_30, **kwargs})
    return asyncio.run(ingest_ibkr(options, db=db, clock=clock or FakeClock(1e6)))


def test_chunks_cover_the_span_with_ibs_longest_duration():
    chunks = plan_chunks("SPY", MAY, SEP, BAR_30)
    assert [c.duration for c in chunks] == ["1 M"] * 4
    assert chunks[0].start == MAY and chunks[-1].end == SEP
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert [c.duration for c in plan_chunks("SPY", MAY, SEP, parse_bar_size("5 mins"))][:1] == ["1 W"]
    assert plan_chunks("SPY", MAY, SEP, parse_bar_size("1 min"))[0].duration == "1 D"
    assert plan_chunks("SPY", MAY, SEP, parse_bar_size("1 day"))[0].duration == "1 Y"


def test_fetches_chunked_bars_equal_to_the_source(tmp_path, bars_30min, library):
    clock = FakeClock(1e6)
    with FakeGateway(bars_30min, clock=clock) as gw:
        result, stats = ingest(gw, tmp_path / "w.duckdb", clock, symbols=["SPY", "AAPL"], start=MAY, end=SEP)
    historical = gw.historical
    # each symbol's months oldest first, the symbols taking turns
    assert [(r.symbol, r.end, r.duration) for r in historical][:3] == [
        ("SPY", "20250612 00:00:00 UTC", "1 M"),
        ("AAPL", "20250612 00:00:00 UTC", "1 M"),
        ("SPY", "20250712 00:00:00 UTC", "1 M"),
    ]
    assert len(historical) == 8 and all(r.answer == "bars" for r in historical)
    assert gw.violations == []
    want = expected_bars(bars_30min, ["SPY", "AAPL"], MAY, SEP)
    got = stored(tmp_path / "w.duckdb")
    assert len(got) == len(want) == result.counts.inserted
    assert (got["ts"].to_numpy() == want.sort_values(["symbol", "ts"])["ts"].to_numpy()).all()
    assert got["close"].tolist() == want["close"].tolist()
    assert got["wap"].tolist() == want["wap"].tolist()


def test_rerun_resumes_from_the_last_stored_bar(tmp_path, bars_30min):
    db = tmp_path / "w.duckdb"
    clock = FakeClock(1e6)
    with FakeGateway(bars_30min, clock=clock) as gw:
        ingest(gw, db, clock, symbols=["SPY"], start=MAY, end=datetime(2025, 7, 1, tzinfo=UTC))
        clock.t += 60  # a minute later: nothing identical within 15 s
        result, _ = ingest(gw, db, clock, symbols=["SPY"], start=MAY, end=SEP)
    second = gw.historical[3:]
    # resumes at the last stored bar (2025-06-30 19:30 UTC), not at --start
    assert [r.end for r in second] == [
        "20250712 00:00:00 UTC",
        "20250812 00:00:00 UTC",
        "20250912 00:00:00 UTC",
    ][-len(second) :]
    assert result.counts.updated == 0
    assert len(stored(db)) == len(expected_bars(bars_30min, ["SPY"], MAY, SEP))


def test_daily_bars_land_at_the_session_open_like_the_file_loader(tmp_path, bars_daily):
    db = tmp_path / "ib.duckdb"
    with FakeGateway(bars_daily) as gw:
        ingest(gw, db, symbols=["SPY"], bar_size=parse_bar_size("1 day"),
               start=datetime(2021, 1, 1, tzinfo=UTC), end=datetime(2023, 4, 1, tzinfo=UTC))  # fmt: skip
        assert [r.duration for r in gw.historical] == ["1 Y", "1 Y", "1 Y"]
    from_file = tmp_path / "file.duckdb"
    assert run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", from_file, "-q").exit_code == 0
    ib = stored(db)
    file = stored(from_file)
    file = file[file["ts"] >= pd.Timestamp("2021-01-01", tz="UTC")].reset_index(drop=True)
    assert len(ib) == len(file) > 500
    pd.testing.assert_frame_equal(
        ib[["symbol", "bar_size", "ts", "open", "high", "low", "close", "volume"]],
        file[["symbol", "bar_size", "ts", "open", "high", "low", "close", "volume"]],
    )


@pytest.fixture(scope="module")
def bars_30s(bars_30min) -> pd.DataFrame:
    """30-second bars for pacing tests: four days of eight symbols, each real 30-minute bar cut in 60."""
    days = bars_30min[(bars_30min["ts"] >= "2025-05-12") & (bars_30min["ts"] < "2025-05-16")]
    return finer_bars(days, 60, "30 secs")


def test_small_bars_keep_ibs_exact_pacing_past_sixty_requests(tmp_path, bars_30s):
    clock = FakeClock(1e6)
    symbols = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META"]
    start, end = datetime(2025, 5, 12, tzinfo=UTC), datetime(2025, 5, 16, tzinfo=UTC)
    with FakeGateway(bars_30s, clock=clock) as gw:
        result, stats = ingest(gw, tmp_path / "w.duckdb", clock, symbols=symbols, start=start, end=end,
                               bar_size=parse_bar_size("30 secs"))  # fmt: skip
    historical = gw.historical
    assert len(historical) == 8 * 11  # 8-hour requests from the first bar (Monday 13:30 UTC) to Friday
    assert gw.violations == [] and stats.pacing_retries == 0
    times = [r.at for r in gw.requests if r.kind in ("historical", "head")]
    assert max(sum(1 for s in times if t - 600 < s <= t) for t in times) == 60
    assert stats.waited > 600  # it had to wait for the ten-minute window
    assert stats.max_in_flight == 1  # one at a time, as IB's rules for small bars assume
    assert result.counts.inserted == len(expected_bars(bars_30s, symbols, start, end)) == 8 * 4 * 13 * 60


def test_pacing_violation_backs_off_and_retries(tmp_path, bars_30min, library):
    clock = ScaledClock(200)
    with FakeGateway(bars_30min, clock=clock, faults=Faults(pacing_errors_at={2, 3})) as gw:
        options = IbkrOptions(symbols=["SPY"], bar_size=BAR_30, start=MAY, end=SEP, port=gw.port)
        # slowness is another test's business: here only the violations may cut the window
        session_gate = AdaptiveGate(clock, start=4, pause=5.0, slow_factor=float("inf"))
        started = clock.now()
        result, stats = asyncio.run(ingest_ibkr(options, db=tmp_path / "w.duckdb", clock=clock, gate=session_gate))
        took = clock.now() - started
    answers = [r.answer for r in gw.historical]
    assert answers.count("pacing") == 2 and answers.count("bars") == 4
    assert stats.pacing_retries == 2
    assert session_gate.cuts == 1  # the second violation came from a request sent before the first cut
    assert took >= 5  # new requests waited out the pause
    assert result.counts.inserted == len(expected_bars(bars_30min, ["SPY"], MAY, SEP))


def test_spans_without_data_are_not_errors(tmp_path, bars_30min, library):
    # a month with no bars at all (as over a long holiday or a halt)
    gap = (bars_30min["ts"] >= "2025-06-12") & (bars_30min["ts"] < "2025-07-12")
    with FakeGateway(bars_30min[~gap]) as gw:
        result, stats = ingest(gw, tmp_path / "w.duckdb", symbols=["SPY"], start=MAY, end=SEP)
    assert [r.answer for r in gw.historical].count("no data") == 1
    assert stats.no_data == 1
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert con.execute("select status from raw.ingest_runs").fetchall() == [("ok",)]


def test_dropped_connection_reconnects_and_continues(tmp_path, bars_30min, library):
    with FakeGateway(bars_30min, faults=Faults(drop_at={3})) as gw:
        result, stats = ingest(gw, tmp_path / "w.duckdb", symbols=["SPY"], start=MAY, end=SEP)
    assert stats.reconnects == 1 and gw.connections == 2
    assert [r.answer for r in gw.historical] == ["bars", "bars", "dropped", "bars", "bars"]
    assert result.counts.inserted == len(expected_bars(bars_30min, ["SPY"], MAY, SEP))


def test_unknown_symbol_is_named_and_nothing_is_written(tmp_path, warehouse, bars_30min, library):
    before = snapshot(warehouse)
    with FakeGateway(bars_30min) as gw:
        result = run_cli(
            "ingest", "ibkr", "SPY", "XYZZY", "--port", gw.port, "--start", "2025-06-01", "--db", warehouse
        )
        assert gw.historical == []
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message and f"127.0.0.1:{gw.port}" in message
    assert "XYZZY" in message and "error 200" in message
    assert snapshot(warehouse) == before


def test_unreachable_gateway_names_host_port_and_the_api_setting(warehouse):
    before = snapshot(warehouse)
    result = run_cli("ingest", "ibkr", "SPY", "--port", "9", "--db", warehouse)
    assert result.exit_code == 2
    assert "cannot reach IB gateway at 127.0.0.1:9" in result.output
    assert "enable the API" in result.output and "\n" not in result.output.strip()
    assert snapshot(warehouse) == before


def test_gateway_that_never_answers_the_handshake(tmp_path, bars_30min):
    with FakeGateway(bars_30min, faults=Faults(refuse_handshake=True)) as gw:
        result = run_cli(
            "ingest",
            "ibkr",
            "SPY",
            "--port",
            gw.port,
            "--connect-timeout",
            "1",
            "--db",
            tmp_path / "w.duckdb",
        )
    assert result.exit_code == 2
    assert f"IB gateway at 127.0.0.1:{gw.port} did not finish the API handshake within 1 s" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def _session(gw, **kwargs) -> IbSession:
    return IbSession(IbkrOptions(symbols=["SPY"], bar_size=BAR_30, port=gw.port, **kwargs), FakeClock())


def test_invalid_request_321_fails_fast_with_the_reason(bars_30min, library):
    async def go(gw):
        session = _session(gw)
        await session.connect()
        try:
            contract = await session.qualify("SPY")
            # a year of 30-minute bars in one request is more than IB allows
            await session.historical(contract, Chunk("SPY", MAY, SEP, "1 Y"))
        finally:
            session.disconnect()

    with FakeGateway(bars_30min) as gw:
        started = time.monotonic()
        with pytest.raises(AlphaduckError, match="error 321 Error validating request"):
            asyncio.run(go(gw))
    assert time.monotonic() - started < 5  # not a 60-second timeout


def test_request_timeouts_are_retried_then_reported(bars_30min, library):
    async def go(gw):
        session = _session(gw, timeout=0.3, max_retries=1)
        await session.connect()
        try:
            contract = await session.qualify("SPY")
            await session.historical(contract, Chunk("SPY", MAY, datetime(2025, 6, 12, tzinfo=UTC), "1 M"))
        finally:
            session.disconnect()

    with FakeGateway(bars_30min, faults=Faults(stall_after=0)) as gw:
        with pytest.raises(AlphaduckError, match=r"kept failing .* 2 timeouts"):
            asyncio.run(go(gw))
        assert len(gw.historical) == 2


def test_killed_mid_run_loses_nothing_and_a_rerun_completes(tmp_path, bars_30min):
    db = tmp_path / "w.duckdb"
    args = [PYTHON, "-m", "alphaduck", "ingest", "ibkr", "SPY", "AAPL", "--start", "2025-05-12",
            "--end", "2025-09-12", "--db", str(db), "-q"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FakeGateway(bars_30min, faults=Faults(stall_after=3)) as gw:
        proc = subprocess.Popen([*args, "--port", str(gw.port)], env=env, cwd=ROOT)
        try:
            assert gw.stalled.wait(60), "the ingest never reached the fourth request"
            time.sleep(3)  # the three answers are stored; the rest of the window waits on the gateway
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        answered = [(r.symbol, r.end) for r in gw.historical if r.answer == "bars"]
    assert len(answered) == 3
    # the three answered requests were committed whole, nothing else
    partial = stored(db)
    months = {
        (symbol, pd.Timestamp(end[:8], tz="UTC")) for symbol, end in answered
    }
    want_partial = pd.concat(
        [expected_bars(bars_30min, [symbol], max(end - pd.DateOffset(months=1), pd.Timestamp(MAY)), end)
         for symbol, end in months]  # fmt: skip
    )
    assert len(partial) == len(want_partial)
    assert sorted(partial["close"].tolist()) == sorted(want_partial["close"].tolist())
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select status, rows_inserted from raw.ingest_runs").fetchall() == [
        ("running", len(partial))
    ]
    killed_run = con.execute("select run_id from raw.ingest_runs").fetchall()[0][0]
    con.close()

    with FakeGateway(bars_30min) as gw:
        done = subprocess.run(
            [*args, "--port", str(gw.port)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        again = {(r.symbol, r.end) for r in gw.historical}
    # only what was missing: the five requests not answered before the kill
    assert len(again) == 5 and not again & set(answered)
    final = stored(db)
    want = expected_bars(bars_30min, ["SPY", "AAPL"], MAY, SEP)
    assert len(final) == len(want)
    assert not final.duplicated(["symbol", "bar_size", "ts"]).any()
    assert sorted(final["close"].tolist()) == sorted(want["close"].tolist())
    # the killed run does not stay "running" forever: the next run marks it
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("select run_id, status, error from raw.ingest_runs order by started_at").fetchall()
    con.close()
    assert [(r[0], r[1]) for r in runs] == [(killed_run, "interrupted"), (runs[1][0], "ok")]
    assert "killed?" in runs[0][2] and runs[1][0] in runs[0][2]


def test_unknown_client_library_is_refused(monkeypatch):
    monkeypatch.setenv(IB_LIBRARY_ENV_VAR, "ibapi")
    with pytest.raises(AlphaduckError, match=r"ALPHADUCK_IB_LIBRARY='ibapi': expected one of ib_async, ib_insync"):
        ib_library()
