"""Corporate actions as data: `alphaduck ingest actions`, the Dow 30 sample, and IB's adjusted series."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from alphaduck.bar_sizes import parse_bar_size
from ingest.actions import derive_actions
from ingest.ibkr import IB_LIBRARIES, IB_LIBRARY_ENV_VAR, IbkrOptions, ingest_ibkr
from ingest.pacing import FakeClock
from tests.conftest import ROOT, query, run_cli, snapshot
from tests.fake_ib import FakeGateway, adjusted_frame, sample_frame

SPLITS = ROOT / "data" / "sample" / "dow30_splits_1999-11_2023-03.csv"
DOW30 = ROOT / "data" / "sample" / "dow30_spy_daily_raw_1999-11_2023-03.csv.gz"


def actions(db) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select symbol, ex_date, kind, split_ratio, cash_dividend, source from raw.corporate_actions order by all"
        ).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def dow30() -> pd.DataFrame:
    """The real Dow 30 daily bars as the fake gateway serves them (session dates, UTC session opens)."""
    return sample_frame(DOW30)


@pytest.fixture(scope="module")
def splits() -> pd.DataFrame:
    return pd.read_csv(SPLITS, parse_dates=["ex_date"]).assign(ex_date=lambda f: f["ex_date"].dt.date)


def quarterly_dividends(bars: pd.DataFrame, symbol: str, since: str, splits: pd.DataFrame, yield_: float = 0.005):
    """Dividends for ``symbol``: each quarter, on the first session from the 15th of Feb/May/Aug/Nov,
    ``yield_`` of the previous raw close in whole cents (skipping split ex-dates)."""
    days = bars.loc[bars["symbol"] == symbol, ["session_date", "close"]].sort_values("session_date")
    days = days[days["session_date"] >= date.fromisoformat(since)].reset_index(drop=True)
    split_days = set(splits.loc[splits["symbol"] == symbol, "ex_date"])
    rows = []
    for year in range(days["session_date"].iloc[0].year, days["session_date"].iloc[-1].year + 1):
        for month in (2, 5, 8, 11):
            later = days[days["session_date"] >= date(year, month, 15)]
            if later.empty or later.index[0] == 0 or later["session_date"].iloc[0] in split_days:
                continue
            previous_close = days["close"].iloc[later.index[0] - 1]
            rows.append((symbol, later["session_date"].iloc[0], round(yield_ * previous_close, 2)))
    return pd.DataFrame(rows, columns=["symbol", "ex_date", "cash_dividend"])


# -- files -----------------------------------------------------------------------------------------------


def test_the_splits_file_loads_and_loading_it_again_changes_nothing(tmp_path):
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "actions", SPLITS, "--db", db)
    assert result.exit_code == 0, result.output
    assert "25 actions inserted, 0 updated" in " ".join(result.output.split())
    loaded = actions(db)
    expected = pd.read_csv(SPLITS)
    assert len(loaded) == 25 and set(loaded["kind"]) == {"split"} and loaded["cash_dividend"].isna().all()
    assert sorted(zip(loaded["symbol"], loaded["ex_date"].astype(str), loaded["split_ratio"], strict=True)) == sorted(
        zip(expected["symbol"], expected["ex_date"], expected["split_ratio"], strict=True)
    )
    before = snapshot(db)
    again = run_cli("ingest", "actions", SPLITS, "--db", db)
    assert "0 actions inserted, 0 updated" in " ".join(again.output.split())
    after = snapshot(db)
    assert after["raw.corporate_actions"] == before["raw.corporate_actions"]
    assert after["raw.ingest_runs"][0] == before["raw.ingest_runs"][0] + 1


def test_dividend_files_and_files_with_both_columns(tmp_path):
    db = tmp_path / "w.duckdb"
    dividends = tmp_path / "dividends.csv"
    dividends.write_text("symbol,ex_date,cash_dividend\nKO,2023-03-14,0.46\nko,2022-11-30,0.44\n")
    both = tmp_path / "both.parquet"
    pd.DataFrame(
        {
            "symbol": ["AAPL", "AAPL", "MSFT"],
            "ex_date": pd.to_datetime(["2020-08-31", "2020-08-07", "2003-02-18"]).date,
            "split_ratio": [4.0, None, 2.0],
            "cash_dividend": [None, 0.82, 0.08],  # MSFT: a split and a dividend on one ex-date
        }
    ).to_parquet(both)
    result = run_cli("ingest", "actions", dividends, both, "--db", db, "-q")
    assert result.exit_code == 0, result.output
    got = actions(db)
    assert [tuple(r) for r in got[["symbol", "ex_date", "kind"]].astype(str).itertuples(index=False)] == [
        ("AAPL", "2020-08-07", "dividend"),
        ("AAPL", "2020-08-31", "split"),
        ("KO", "2022-11-30", "dividend"),
        ("KO", "2023-03-14", "dividend"),
        ("MSFT", "2003-02-18", "dividend"),
        ("MSFT", "2003-02-18", "split"),
    ]
    assert got.loc[got["kind"] == "dividend", "cash_dividend"].tolist() == [0.82, 0.44, 0.46, 0.08]
    assert set(got["source"]) == {"file:dividends.csv,both.parquet"}
    # a corrected value is an update, not a second row
    dividends.write_text("symbol,ex_date,cash_dividend\nKO,2023-03-14,0.47\n")
    result = run_cli("ingest", "actions", dividends, "--db", db)
    assert "0 actions inserted, 1 updated" in " ".join(result.output.split())
    assert query(db, "select cash_dividend from raw.corporate_actions where symbol = 'KO' and ex_date = '2023-03-14'") == [(0.47,)]


HEADER = "symbol,ex_date,split_ratio,cash_dividend"
BAD_ACTIONS = {
    "missing ex_date column": (["symbol,split_ratio", "AAPL,2"], ["missing column 'ex_date'"]),
    "no value column": (["symbol,ex_date", "AAPL,2020-08-31"], ["no split_ratio or cash_dividend column"]),
    "unparseable date": ([HEADER, "AAPL,2020-08-31,4,", "AAPL,31/08/2020,4,"], ["line 3, column ex_date", "cannot parse '31/08/2020' as a date"]),
    "weekend ex-date": ([HEADER, "AAPL,2020-08-29,4,"], ["line 2, column ex_date", "2020-08-29 is not a XNYS trading session"]),
    "far-out ex-date": ([HEADER, "AAPL,2299-08-29,4,"], ["line 2, column ex_date", "'2299-08-29' is out of range"]),
    "zero split ratio": ([HEADER, "AAPL,2020-08-31,0,"], ["line 2, column split_ratio", "'0' is not a split ratio"]),
    "split ratio of one": ([HEADER, "AAPL,2020-08-31,1,"], ["line 2, column split_ratio", "'1' is not a split ratio"]),
    "negative dividend": ([HEADER, "KO,2023-03-14,,-0.46"], ["line 2, column cash_dividend", "'-0.46' is not a cash dividend"]),
    "unparseable dividend": ([HEADER, "KO,2023-03-14,,46c"], ["line 2, column cash_dividend", "cannot parse '46c' as a number"]),
    "infinite split": ([HEADER, "AAPL,2020-08-31,inf,"], ["line 2, column split_ratio", "'inf' is not a split ratio"]),
    "blank symbol": ([HEADER, " ,2020-08-31,4,"], ["line 2, column symbol", "missing value"]),
    "neither value": ([HEADER, "AAPL,2020-08-31,,"], ["line 2: no value in split_ratio and cash_dividend"]),
    "ragged row": ([HEADER, "AAPL,2020-08-31,4,,9"], ["line 2: 5 fields where the header has 4"]),
    "clashing repeat": (
        [HEADER, "AAPL,2020-08-31,4,", "AAPL,2014-06-09,7,", "aapl,2020-08-31,2,"],
        ["line 4: AAPL split on 2020-08-31 already appears at", "line 2 with a different value"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_ACTIONS))
def test_bad_action_files_are_refused_with_one_line(case, warehouse, tmp_path):
    lines, expected = BAD_ACTIONS[case]
    path = tmp_path / "actions.csv"
    path.write_text("\n".join(lines) + "\n")
    before = snapshot(warehouse)
    result = run_cli("ingest", "actions", path, "--db", warehouse)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith(f"Error: {path}") and "\n" not in message, message
    for part in expected:
        assert part in message, message
    assert snapshot(warehouse) == before


def test_an_identical_repeat_is_one_action(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\nAAPL,2020-08-31,4,\nAAPL,2020-08-31,4,\n")
    assert run_cli("ingest", "actions", path, "--db", tmp_path / "w.duckdb", "-q").exit_code == 0
    assert len(actions(tmp_path / "w.duckdb")) == 1


def test_the_dow30_sample_loads_its_bars_splits_and_membership(tmp_path):
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "sample", "--dataset", "dow30-daily", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    assert query(db, "select count(*), count(distinct symbol) from raw.bars") == [(174_379, 31)]
    assert query(db, "select count(*), min(source), max(source) from raw.corporate_actions") == [
        (25, "sample:dow30-splits", "sample:dow30-splits")
    ]
    # and when each symbol was a member of the index (SPY never was)
    assert query(db, "select universe, count(*), count(distinct symbol) from raw.universe group by 1") == [("dow30", 31, 30)]
    assert query(db, "select from_date::varchar from raw.universe where symbol = 'DOW'") == [("2019-04-02",)]
    # every split shows in the raw bars: the ex-date open x ratio is the previous close, give or take
    checks = query(
        db,
        """
        with bars as (
            select symbol, ts, open, lag(close) over (partition by symbol order by ts) as previous_close
            from raw.bars where bar_size = '1d'
        )
        select a.symbol, a.ex_date, b.open * a.split_ratio / b.previous_close
        from raw.corporate_actions as a
        join raw.trading_sessions as s on s.session_date = a.ex_date
        join bars as b on b.symbol = a.symbol and b.ts = s.open_utc
        """,
    )
    assert len(checks) == 25
    assert all(0.98 < ratio < 1.03 for _, _, ratio in checks), checks


def test_every_ingest_creates_the_corporate_actions_table(tmp_path):
    db = tmp_path / "w.duckdb"
    path = tmp_path / "bars.csv"
    path.write_text("ts,open,high,low,close,volume\n2023-03-01,1,2,0.5,1.5,10\n2023-03-02,1,2,0.5,1.5,10\n")
    assert run_cli("ingest", "file", path, "--symbol", "SPY", "--db", db, "-q").exit_code == 0
    assert query(db, "select count(*) from raw.corporate_actions") == [(0,)]


# -- derived from IB's adjusted series -------------------------------------------------------------------


def _known_actions(
    dow30: pd.DataFrame, splits: pd.DataFrame, symbols: list[str], since: date = date(1999, 11, 2)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real splits of ``symbols`` and made-up quarterly dividends, with ex-dates after ``since``."""
    dividends = pd.concat(
        [quarterly_dividends(dow30, "AAPL", "2012-08-01", splits), quarterly_dividends(dow30, "KO", "1999-11-01", splits),
         quarterly_dividends(dow30, "NKE", "2004-01-01", splits, yield_=0.003)]  # fmt: skip
    )
    chosen = [frame[frame["symbol"].isin(symbols) & (frame["ex_date"] > since)] for frame in (splits, dividends)]
    return chosen[0], chosen[1]


def _assert_equal_actions(derived: pd.DataFrame, splits: pd.DataFrame, dividends: pd.DataFrame) -> None:
    got_splits = derived[derived["kind"] == "split"]
    assert sorted(zip(got_splits["symbol"], pd.to_datetime(got_splits["ex_date"]).dt.date, got_splits["split_ratio"], strict=True)) == sorted(
        zip(splits["symbol"], splits["ex_date"], splits["split_ratio"], strict=True)
    )
    got = derived[derived["kind"] == "dividend"].assign(ex_date=lambda f: pd.to_datetime(f["ex_date"]).dt.date)
    merged = got.merge(dividends, on=["symbol", "ex_date"], how="outer", suffixes=("", "_known"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    # IB's adjusted prices carry 4 decimals: the amounts come back to a tenth of a cent
    assert (merged["cash_dividend"] - merged["cash_dividend_known"]).abs().max() < 1e-3


def test_derive_actions_inverts_the_adjustment_on_real_prices(dow30, splits):
    symbols = ["AAPL", "KO", "NKE"]
    known_splits, known_dividends = _known_actions(dow30, splits, symbols)
    adjusted = adjusted_frame(dow30[dow30["symbol"].isin(symbols)], known_splits, known_dividends)
    derived = []
    for symbol in symbols:
        raw = dow30[dow30["symbol"] == symbol].set_index("session_date")["close"]
        adj = adjusted[adjusted["symbol"] == symbol].set_index("session_date")["close"]
        result = derive_actions(raw, adj)
        assert result.unexplained == []
        derived.append(result.actions.assign(symbol=symbol))
    assert len(known_dividends) > 150
    _assert_equal_actions(pd.concat(derived), known_splits, known_dividends)


def test_derive_actions_reports_a_step_that_is_neither():
    days = pd.date_range("2024-01-02", periods=4, freq="B").date
    raw = pd.Series([100.0, 101.0, 102.0, 103.0], index=days)
    # the ratio rises by 30% on the third day: no split ratio, and dividends only lower it
    adjusted = pd.Series([130.0, 131.3, 102.0, 103.0], index=days)
    result = derive_actions(raw, adjusted)
    assert result.actions.empty and [d for d, _ in result.unexplained] == [days[2]]


@pytest.fixture(params=IB_LIBRARIES)
def library(request, monkeypatch) -> str:
    monkeypatch.setenv(IB_LIBRARY_ENV_VAR, request.param)
    return request.param


def test_ibkr_actions_are_derived_from_the_adjusted_series(tmp_path, dow30, splits, library):
    symbols = ["AAPL", "KO", "NKE"]
    since = date(2004, 6, 1)
    known_splits, known_dividends = _known_actions(dow30, splits, symbols, since)
    trades = dow30[dow30["symbol"].isin(symbols)]
    served = pd.concat([trades, adjusted_frame(trades, known_splits, known_dividends)], ignore_index=True)
    db = tmp_path / "w.duckdb"
    options = IbkrOptions(
        symbols=symbols, bar_size=parse_bar_size("1 day"), start=datetime(since.year, since.month, since.day, tzinfo=UTC),
        end=datetime(2023, 3, 28, tzinfo=UTC), actions=True,
    )  # fmt: skip
    clock = FakeClock(1e6)
    with FakeGateway(served, clock=clock) as gw:
        options.port = gw.port
        result, _ = asyncio.run(ingest_ibkr(options, db=db, clock=clock))
        adjusted_requests = [r for r in gw.historical if r.what_to_show == "ADJUSTED_LAST"]
    # one request per symbol, with the empty end date IB requires (the gateway refuses others)
    assert [(r.symbol, r.end, r.answer) for r in adjusted_requests] == [(s, "", "bars") for s in symbols]
    stored = actions(db)
    assert set(stored["source"]) == {"ibkr"}
    assert result.actions.inserted == len(stored) == len(known_splits) + len(known_dividends)
    _assert_equal_actions(stored, known_splits, known_dividends)
    # raw.bars holds the raw prices, never the adjusted ones
    bars = duckdb.connect(str(db), read_only=True).execute(
        "select symbol, ts, close from raw.bars order by symbol, ts"
    ).df()
    served_raw = trades[trades["session_date"] >= since].sort_values(["symbol", "ts"])
    assert bars["close"].tolist() == served_raw["close"].tolist()
    assert len(known_splits) == 7 and len(known_dividends) > 100
    assert query(db, "select distinct what_to_show from raw.bar_series") == [("TRADES",)]
    # again: nothing new
    clock = FakeClock(1e6)
    with FakeGateway(served, clock=clock) as gw:
        options.port = gw.port
        again, _ = asyncio.run(ingest_ibkr(options, db=db, clock=clock))
    assert (again.actions.inserted, again.actions.updated) == (0, 0)


def test_actions_need_daily_trades(tmp_path):
    result = run_cli("ingest", "ibkr", "SPY", "--bar-size", "30 mins", "--actions", "--port", "9", "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2
    assert "--actions derives splits and dividends from IB's daily adjusted series" in result.output
    assert "pass --bar-size 1d" in result.output


def test_adjusted_last_is_never_a_bar_series(tmp_path):
    result = run_cli("ingest", "ibkr", "SPY", "--what-to-show", "ADJUSTED_LAST", "--port", "9", "--db", Path(tmp_path) / "w.duckdb")
    assert result.exit_code == 2 and "never stored as raw bars" in result.output and "--actions" in result.output
