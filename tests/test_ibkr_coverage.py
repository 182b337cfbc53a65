"""`alphaduck ingest ibkr` reliability: resume from fetched spans, series identity, IB errors named at once.

The real ib_async (and ib_insync) client against the fake gateway (tests/fake_ib.py), on real bars.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from alphaduck.bar_sizes import parse_bar_size
from alphaduck.errors import AlphaduckError
from ingest.coverage import exchange_open_during, finished_before, gaps, recheck_due, union
from ingest.ibkr import IB_LIBRARIES, IB_LIBRARY_ENV_VAR, IbkrOptions, ingest_ibkr
from ingest.pacing import FakeClock
from tests.conftest import SAMPLE_30MIN, SAMPLE_DAILY, SAMPLE_ETH, query, query_frame, run_cli, snapshot
from tests.fake_ib import FakeGateway, Faults, sample_frame

BAR_30 = parse_bar_size("30 mins")
MAY, JUN, JUL, AUG, SEP = (datetime(2025, m, 12, tzinfo=UTC) for m in (5, 6, 7, 8, 9))


@pytest.fixture(params=IB_LIBRARIES)
def library(request, monkeypatch) -> str:
    monkeypatch.setenv(IB_LIBRARY_ENV_VAR, request.param)
    return request.param


@pytest.fixture(scope="module")
def bars_30min() -> pd.DataFrame:
    return sample_frame(SAMPLE_30MIN)


@pytest.fixture(scope="module")
def bars_eth() -> pd.DataFrame:
    """SPY 15-minute bars, 04:00-20:00 New York, with the regular-hours ones marked."""
    return sample_frame(SAMPLE_ETH, symbol="SPY", bar_size="15min")


def gateway(frame: pd.DataFrame, **kwargs) -> FakeGateway:
    """A gateway whose pacing clock is the client's (in-process ingests; the CLI uses real time)."""
    return FakeGateway(frame, clock=FakeClock(1e6), **kwargs)


def ingest(gw: FakeGateway, db, *, now=None, **kwargs):
    options = IbkrOptions(port=gw.port, **{"bar_size": BAR_30, "symbols": ["SPY"], **kwargs})
    extra = {"now": now} if now else {}
    return asyncio.run(ingest_ibkr(options, db=db, clock=gw.clock, **extra))


def stored(db, symbol: str = "SPY") -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select ts, open, high, low, close, volume from raw.bars where symbol = ? order by ts", [symbol]
        ).df()
    finally:
        con.close()


def served(frame: pd.DataFrame, start, end, *, rth: bool | None = None) -> pd.DataFrame:
    rows = frame[(frame["symbol"] == "SPY") & (frame["ts"] >= start) & (frame["ts"] < end)]
    if rth:
        rows = rows[rows["rth"]]
    return rows.sort_values("ts").reset_index(drop=True)


def assert_same_bars(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want)
    assert (got["ts"].to_numpy() == want["ts"].to_numpy()).all()
    assert got["close"].tolist() == want["close"].tolist()
    assert got["volume"].tolist() == want["volume"].astype(float).tolist()


# -- span arithmetic -----------------------------------------------------------------------------------


def test_gaps_are_the_span_minus_what_was_fetched():
    spans = [(JUN, JUL), (AUG, SEP), (JUL, JUL + timedelta(days=3))]
    assert union(spans) == [(JUN, JUL + timedelta(days=3)), (AUG, SEP)]
    assert gaps(MAY, SEP, spans) == [(MAY, JUN), (JUL + timedelta(days=3), AUG)]
    assert gaps(MAY, SEP, []) == [(MAY, SEP)]
    assert gaps(JUN, JUL, spans) == []


def test_a_bar_still_forming_when_ib_answered_is_not_covered():
    answered = datetime(2025, 6, 12, 14, 10, tzinfo=UTC)
    # the 14:00 30-minute bar was forming at 14:10: coverage stops before it could have started
    assert finished_before(JUL, answered, BAR_30) == datetime(2025, 6, 12, 13, 40, tzinfo=UTC)
    assert finished_before(JUN, answered, BAR_30) == JUN


def test_no_data_answers_are_asked_again_with_back_off():
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    assert not recheck_due("no_data", 1, t0, t0 + timedelta(minutes=59))
    assert recheck_due("no_data", 1, t0, t0 + timedelta(hours=1))
    assert not recheck_due("no_data", 2, t0, t0 + timedelta(hours=7))
    assert recheck_due("no_data", 2, t0, t0 + timedelta(hours=8))
    assert recheck_due("no_data", 3, t0, t0 + timedelta(hours=64))
    assert not recheck_due("closed", 1, t0, t0 + timedelta(days=999))


def test_a_span_without_sessions_is_closed_on_the_exchange_calendar():
    weekend = (datetime(2025, 6, 14, tzinfo=UTC), datetime(2025, 6, 16, tzinfo=UTC))
    christmas = (datetime(2025, 12, 25, 5, tzinfo=UTC), datetime(2025, 12, 26, 5, tzinfo=UTC))
    tuesday_evening = (datetime(2025, 6, 17, 21, tzinfo=UTC), datetime(2025, 6, 17, 23, tzinfo=UTC))
    assert not exchange_open_during("XNYS", weekend, use_rth=True)
    assert not exchange_open_during("XNYS", christmas, use_rth=False)
    assert exchange_open_during("XNYS", (JUN, JUN + timedelta(days=1)), use_rth=True)
    # 17:00-19:00 New York: after the close, inside extended hours
    assert not exchange_open_during("XNYS", tuesday_evening, use_rth=True)
    assert exchange_open_during("XNYS", tuesday_evening, use_rth=False)


# -- resume never leaves a hole ------------------------------------------------------------------------


def test_an_interrupted_backfill_leaves_no_hole(tmp_path, bars_30min, library):
    db = tmp_path / "w.duckdb"
    with gateway(bars_30min) as gw:
        ingest(gw, db, start=AUG, end=SEP)
    # a back-fill to May fails after its first month (the gateway stops answering)
    with gateway(bars_30min, faults=Faults(stall_after=1)) as gw:
        with pytest.raises(AlphaduckError, match="kept failing"):
            ingest(gw, db, start=MAY, end=SEP, timeout=0.3, max_retries=0)
    assert query(db, "select status from raw.ingest_runs order by started_at") == [("ok",), ("failed",)]
    # the re-run asks for the two missing months, nothing else
    with FakeGateway(bars_30min) as gw:
        result = run_cli("ingest", "ibkr", "SPY", "--start", "2025-05-12T00:00Z", "--end", "2025-09-12T00:00Z",
                         "--port", gw.port, "--db", db, "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert [(r.end, r.duration) for r in gw.historical] == [
            ("20250712 00:00:00 UTC", "1 M"),
            ("20250812 00:00:00 UTC", "1 M"),
        ]
    assert_same_bars(stored(db), served(bars_30min, MAY, SEP))


def test_a_spurious_no_data_answer_is_asked_again(tmp_path, bars_30min, library):
    db = tmp_path / "w.duckdb"
    with gateway(bars_30min, faults=Faults(no_data_at={2})) as gw:
        result, stats = ingest(gw, db, start=MAY, end=SEP)
        assert [r.answer for r in gw.historical] == ["bars", "no data", "bars", "bars"]
    assert stats.no_data == 1 and result.no_data_spans == 1 and result.rechecks_waiting == 1
    assert len(stored(db)) < len(served(bars_30min, MAY, SEP))
    # at once: believed for now (the CLI says when it is asked again)
    with FakeGateway(bars_30min) as gw:
        result = run_cli("ingest", "ibkr", "SPY", "--start", "2025-05-12T00:00Z", "--end", "2025-09-12T00:00Z",
                         "--port", gw.port, "--db", db)  # fmt: skip
        assert result.exit_code == 0 and gw.historical == []
        assert "1 spans IB answered with no data" in result.output and "--retry-empty" in result.output
    # an hour later it is asked again, and the hole is filled
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    with gateway(bars_30min) as gw:
        result, _ = ingest(gw, db, start=MAY, end=SEP, now=lambda: later)
        assert [r.end for r in gw.historical] == ["20250712 00:00:00 UTC"]
    assert result.rechecks_waiting == 0
    assert_same_bars(stored(db), served(bars_30min, MAY, SEP))


def test_retry_empty_asks_again_at_once(tmp_path, bars_30min):
    db = tmp_path / "w.duckdb"
    with gateway(bars_30min, faults=Faults(no_data_at={3})) as gw:
        ingest(gw, db, start=MAY, end=SEP)
    with gateway(bars_30min) as gw:
        ingest(gw, db, start=MAY, end=SEP, retry_empty=True)
        assert [r.end for r in gw.historical] == ["20250812 00:00:00 UTC"]
    assert_same_bars(stored(db), served(bars_30min, MAY, SEP))


def test_regular_hours_then_all_hours_fetches_every_bar(tmp_path, bars_eth, library):
    db = tmp_path / "w.duckdb"
    start, end = datetime(2022, 10, 3, tzinfo=UTC), datetime(2022, 12, 1, tzinfo=UTC)
    bar = parse_bar_size("15 mins")
    with gateway(bars_eth) as gw:
        ingest(gw, db, bar_size=bar, start=start, end=end, use_rth=True)
    regular = served(bars_eth, start, end, rth=True)
    assert_same_bars(stored(db), regular)
    with gateway(bars_eth) as gw:
        ingest(gw, db, bar_size=bar, start=start, end=end, use_rth=False)
        assert {r.use_rth for r in gw.historical} == {False}
    every = served(bars_eth, start, end)
    assert len(every) > 2 * len(regular)  # extended hours are most of the day's bars
    assert_same_bars(stored(db), every)
    assert query(db, "select what_to_show, use_rth from raw.bar_series") == [("TRADES", False)]
    # regular hours are inside what all hours fetched: nothing to ask
    with gateway(bars_eth) as gw:
        ingest(gw, db, bar_size=bar, start=start, end=end, use_rth=True)
        assert gw.historical == []


def test_all_hours_daily_bars_are_refused_over_regular_hours_ones(tmp_path, warehouse):
    bars = sample_frame(SAMPLE_DAILY, symbol="SPY")
    db = tmp_path / "w.duckdb"
    day = parse_bar_size("1 day")
    span = {"start": datetime(2022, 1, 1, tzinfo=UTC), "end": datetime(2023, 1, 1, tzinfo=UTC)}
    with gateway(bars) as gw:
        ingest(gw, db, bar_size=day, **span)
    before = snapshot(db)
    with gateway(bars) as gw:
        with pytest.raises(AlphaduckError) as err:
            ingest(gw, db, bar_size=day, use_rth=False, **span)
        assert gw.historical == []
    assert "raw.bars holds SPY 1d TRADES bars (regular hours); TRADES bars (all hours) would overwrite" in (
        err.value.message
    )
    assert snapshot(db) == before


def test_midpoint_bars_never_overwrite_trades(tmp_path, bars_30min, library):
    db = tmp_path / "w.duckdb"
    span = ["--start", "2025-06-01", "--end", "2025-07-01", "--db", db, "-q"]
    with FakeGateway(bars_30min) as gw:
        assert run_cli("ingest", "ibkr", "SPY", "--port", gw.port, *span).exit_code == 0
    trades = stored(db)
    assert trades["volume"].notna().all() and len(trades) > 200
    before = snapshot(db)
    with FakeGateway(bars_30min) as gw:
        result = run_cli("ingest", "ibkr", "SPY", "--what-to-show", "MIDPOINT", "--port", gw.port, *span)
        assert gw.historical == []
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message, message
    assert "raw.bars holds SPY 30min TRADES bars (regular hours); MIDPOINT bars (regular hours)" in message
    assert "--db" in message and "--replace" in message
    assert snapshot(db) == before
    # asked for explicitly, the series is replaced as a whole
    with FakeGateway(bars_30min) as gw:
        result = run_cli("ingest", "ibkr", "SPY", "--what-to-show", "MIDPOINT", "--replace", "--port", gw.port, *span)
        assert result.exit_code == 0, result.output
    midpoint = stored(db)
    assert len(midpoint) == len(trades) and midpoint["volume"].isna().all()
    assert query(db, "select what_to_show from raw.bar_series") == [("MIDPOINT",)]
    # and a file of trade bars does not overwrite the midpoints either
    path = tmp_path / "spy.csv"
    rows = bars_30min[bars_30min["symbol"] == "SPY"].head(20)
    rows.assign(ts=rows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[
        ["ts", "symbol", "open", "high", "low", "close", "volume"]
    ].to_csv(path, index=False)
    before = snapshot(db)
    result = run_cli("ingest", "file", path, "--db", db)
    assert result.exit_code == 2
    assert "raw.bars holds SPY 30min MIDPOINT bars (regular hours) and a file holds trade bars" in result.output
    assert snapshot(db) == before


def test_a_replaced_series_leaves_no_features_of_its_vanished_bars(tmp_path, bars_30min):
    """`ingest ibkr --replace` deletes a series' bars before fetching it again: a shorter
    series leaves bars behind in the built tables. The next (incremental) build, here
    `alphaduck run`'s, rebuilds the feature tables that hold them in full and says so, so they
    equal a full rebuild and the gate passes."""
    db = tmp_path / "w.duckdb"
    with FakeGateway(bars_30min) as gw:
        fetched = run_cli("ingest", "ibkr", "SPY", "XOM", "--start", "2025-06-01", "--end", "2025-09-01",
                          "--port", gw.port, "--db", db, "-q")  # fmt: skip
        assert fetched.exit_code == 0, fetched.output
    assert run_cli("build", "--db", db, "-q").exit_code == 0
    with FakeGateway(bars_30min) as gw:
        replaced = run_cli("ingest", "ibkr", "SPY", "--what-to-show", "MIDPOINT", "--replace", "--start", "2025-06-01",
                           "--end", "2025-07-01", "--port", gw.port, "--db", db, "-q")  # fmt: skip
        assert replaced.exit_code == 0, replaced.output
    raw = dict(query(db, "select symbol, count(*) from raw.bars group by 1"))
    assert raw["SPY"] < raw["XOM"] / 2
    # the pipeline's build step (the others left out), which says what the build did
    skipped = [arg for step in ("gate", "train", "predict", "analyze", "backtest") for arg in ("--skip", step)]
    built = run_cli("run", "--db", db, *skipped)
    assert built.exit_code == 0, built.output
    keys = "select symbol, bar_size, ts from {} except select symbol, bar_size, ts from raw.bars"
    for table in ("intermediate.int_smoothing", "marts.fct_features"):
        assert query(db, keys.format(table)) == [], table
        assert dict(query(db, f"select symbol, count(*) from {table} group by 1")) == raw, table
    assert "bars raw.bars no longer has (a replaced series): rebuilding it in full" in " ".join(built.output.split())
    fresh = tmp_path / "fresh.duckdb"
    shutil.copy(db, fresh)
    assert run_cli("build", "--db", fresh, "--full-refresh", "-q").exit_code == 0
    features = "select * exclude (ingested_at) from marts.fct_features order by symbol, bar_size, ts"
    pd.testing.assert_frame_equal(query_frame(db, features), query_frame(fresh, features), check_exact=False, rtol=1e-12)
    assert run_cli("check", "--db", db, "--suite", "features", "-q").exit_code == 0


# -- IB errors and options named at once ---------------------------------------------------------------


def test_client_id_in_use_is_named_at_once(tmp_path, bars_30min, library):
    db = tmp_path / "w.duckdb"
    with FakeGateway(bars_30min, faults=Faults(client_ids_in_use={17})) as gw:
        started = time.monotonic()
        result = run_cli("ingest", "ibkr", "SPY", "--port", gw.port, "--connect-timeout", "30", "--db", db)
        took = time.monotonic() - started
        assert result.exit_code == 2
        message = result.output.strip()
        assert message == (
            f"Error: IB gateway at 127.0.0.1:{gw.port} refused client id 17: error 326 Unable to connect as the "
            "client id is already in use. Retry with a unique client id: another API client is connected with "
            "it; pass another --client-id"
        )
        assert took < 5  # not the 30-second handshake timeout
        assert not db.exists()
        ok = run_cli("ingest", "ibkr", "SPY", "--client-id", "18", "--start", "2025-06-01", "--end", "2025-06-10",
                     "--port", gw.port, "--db", db, "-q")  # fmt: skip
        assert ok.exit_code == 0, ok.output


BAD_OPTIONS = {
    "zero timeout": (["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    "negative connect timeout": (["--connect-timeout", "-1"], "'--connect-timeout'"),
    "port out of range": (["--port", "70000"], "'--port': 70000 is not in the range"),
    "unparseable port": (["--port", "abc"], "'--port': 'abc' is not a valid integer"),
    "unknown time zone": (["--tz", "Mars/Base", "--start", "2025-01-01"], "'--tz': unknown time zone 'Mars/Base'"),
    "unparseable start": (["--start", "2025-13-45"], "'--start': cannot parse '2025-13-45'"),
    "start in a DST gap": (["--start", "2025-03-09T02:30"], "'--start': 2025-03-09T02:30 does not exist"),
    "start in a DST fold": (["--start", "2025-11-02T01:30"], "'--start': 2025-11-02T01:30 happens twice"),
    "start far out": (["--start", "2299-01-01"], "'--start': 2299-01-01 is out of range"),
    "negative client id": (["--client-id", "-5"], "'--client-id': -5 is not in the range"),
    "adjusted prices as bars": (["--what-to-show", "ADJUSTED_LAST"], "never stored as raw bars"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_options_are_named_before_connecting(case, tmp_path):
    args, expected = BAD_OPTIONS[case]
    # port 9 is closed: an option that slipped through would fail there instead
    result = run_cli("ingest", "ibkr", "SPY", "--port", "9", *args, "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and expected in error[0], result.output
    assert "Traceback" not in result.output and "cannot reach" not in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_blank_symbol_is_refused(tmp_path):
    result = run_cli("ingest", "ibkr", "SPY", " ", "--port", "9", "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2 and "a symbol is blank" in result.output
