"""`alphaduck ingest file` / `ingest sample` on real bars: loads, idempotency, and every bad input."""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphaduck.bar_sizes import parse_bar_size
from alphaduck.errors import AlphaduckError
from ingest.files import FileOptions
from ingest.load import ingest_files
from tests.conftest import PYTHON, ROOT, SAMPLE_30MIN, SAMPLE_DAILY, locked, run_cli, sample_lines, snapshot


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _bars(db: Path, where: str = "true") -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select * exclude (ingested_at) from raw.bars where {where} order by all").df()
    finally:
        con.close()


# -- loading real data ---------------------------------------------------------------------------------


def test_sample_loads_every_bar_with_utc_bar_starts(tmp_path):
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "sample", "--db", db)
    assert result.exit_code == 0, result.output
    assert "64,152 rows read" in result.output and "64,152" in result.output.replace("\n", " ")
    con = duckdb.connect(str(db), read_only=True)
    n, symbols, bar_sizes, first = con.execute(
        "select count(*), count(distinct symbol), string_agg(distinct bar_size), min(ts) from raw.bars"
    ).fetchall()[0]
    assert (n, symbols, bar_sizes) == (64_152, 24, "30min")
    # the file's 2025-05-12T09:30:00-04:00 is 13:30 UTC
    assert first == pd.Timestamp("2025-05-12 13:30", tz="UTC")
    # a half-day: 2025-12-24 closes at 13:00 ET, so its last 30-minute bar starts 12:30 ET = 17:30 UTC
    last_half_day = con.execute(
        "select max(ts) from raw.bars where symbol = 'SPY' and ts::date = date '2025-12-24'"
    ).fetchall()[0][0]
    assert last_half_day == pd.Timestamp("2025-12-24 17:30", tz="UTC")
    early = con.execute(
        "select is_early_close, close_utc from raw.trading_sessions where session_date = date '2025-12-24'"
    ).fetchall()
    assert early == [(True, pd.Timestamp("2025-12-24 18:00", tz="UTC"))]
    status = con.execute("select status, rows_inserted, rows_updated from raw.ingest_runs").fetchall()
    assert status == [("ok", 64_152, 0)]
    con.close()


def test_daily_dates_are_anchored_at_the_session_open(warehouse):
    spy = _bars(warehouse, "symbol = 'SPY' and bar_size = '1d'")
    assert len(spy) == 5_885
    # 1999-11-01 opened 09:30 EST = 14:30 UTC; 2022-07-01 opened 09:30 EDT = 13:30 UTC
    stamps = set(spy["ts"])
    assert pd.Timestamp("1999-11-01 14:30", tz="UTC") in stamps
    assert pd.Timestamp("2022-07-01 13:30", tz="UTC") in stamps


def test_same_file_twice_changes_nothing(warehouse):
    before = snapshot(warehouse)
    bars_before = _bars(warehouse)
    result = run_cli("ingest", "file", SAMPLE_DAILY, "--symbol", "SPY", "--db", warehouse)
    assert result.exit_code == 0, result.output
    assert "0 inserted, 0 updated" in " ".join(result.output.split())
    pd.testing.assert_frame_equal(_bars(warehouse), bars_before)
    after = snapshot(warehouse)
    assert after["raw.bars"] == before["raw.bars"]
    assert after["raw.ingest_runs"][0] == before["raw.ingest_runs"][0] + 1  # the run itself is recorded


def test_overlapping_files_give_the_union_without_duplicates(tmp_path):
    lines = sample_lines(100)
    a = _write(tmp_path / "a.csv", [lines[0], *lines[1:61]])
    b = _write(tmp_path / "b.csv", [lines[0], *lines[41:101]])
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", "file", a, "--db", db, "-q").exit_code == 0
    result = run_cli("ingest", "file", b, "--db", db)
    assert "40 inserted, 0 updated" in " ".join(result.output.split())
    together = tmp_path / "together.duckdb"
    assert run_cli("ingest", "file", a, b, "--db", together, "-q").exit_code == 0
    union = _bars(db)
    assert len(union) == 100
    assert union["ts"].is_unique
    pd.testing.assert_frame_equal(union.drop(columns="source"), _bars(together).drop(columns="source"))


def test_bars_are_stored_in_key_order_whatever_the_file_order(tmp_path):
    """A file written time-major (every symbol at 09:30, then at 10:00, ...) across several of
    DuckDB's row groups is stored series by series: sorted rows compress as they are written
    (a fresh 1M-bar warehouse 19 MB instead of 36, closed in 0.03 s instead of 0.36)."""
    con = duckdb.connect()
    bars = tmp_path / "time_major.parquet"
    copies = " union all ".join(
        f"select ts, symbol || '_{i}' as symbol, open, high, low, close, volume from read_csv('{SAMPLE_30MIN}')"
        for i in range(4)
    )
    con.execute(f"copy (select * from ({copies}) order by ts, symbol) to '{bars}'")
    con.close()
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", "file", bars, "--db", db, "-q").exit_code == 0
    stored = duckdb.connect(str(db), read_only=True)
    try:
        stored.execute("set threads = 1")  # one thread scans in storage order
        groups = stored.execute("select count(distinct row_group_id) from pragma_storage_info('raw.bars')").fetchall()
        keys = stored.execute("select symbol, bar_size, ts from raw.bars").fetchall()
    finally:
        stored.close()
    assert groups[0][0] > 1
    assert len(keys) == 4 * 64_152
    assert keys == sorted(keys)


def test_changed_bar_is_updated_not_duplicated(tmp_path):
    lines = sample_lines(10)
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", "file", _write(tmp_path / "a.csv", lines), "--db", db, "-q").exit_code == 0
    fields = lines[5].split(",")
    fields[5] = f"{float(fields[5]) + 0.01:.2f}"  # close, still inside [low, high] for this bar?
    fields[3] = str(max(float(fields[3]), float(fields[5])))  # keep high >= close
    lines[5] = ",".join(fields)
    result = run_cli("ingest", "file", _write(tmp_path / "b.csv", lines), "--db", db)
    assert "0 inserted, 1 updated" in " ".join(result.output.split())
    assert len(_bars(db)) == 10


def test_parquet_naive_timestamps_and_symbol_option(tmp_path):
    lines = sample_lines(30)
    frame = pd.read_csv(pd.io.common.StringIO("\n".join(lines)))
    # naive New York wall-clock times, no symbol column: what many vendors export
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert("America/New_York").dt.tz_localize(None)
    path = tmp_path / "spy.parquet"
    frame.drop(columns="symbol").to_parquet(path)
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "file", path, "--symbol", "spy", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    from_csv = tmp_path / "c.duckdb"
    assert (
        run_cli("ingest", "file", _write(tmp_path / "spy.csv", lines), "--db", from_csv, "-q").exit_code == 0
    )
    pd.testing.assert_frame_equal(_bars(db).drop(columns="source"), _bars(from_csv).drop(columns="source"))


def test_bar_size_is_inferred_and_checked(tmp_path):
    db = tmp_path / "w.duckdb"
    path = _write(tmp_path / "a.csv", sample_lines(40))
    assert run_cli("ingest", "file", path, "--db", db, "-q").exit_code == 0
    assert set(_bars(db)["bar_size"]) == {"30min"}
    wrong = run_cli("ingest", "file", path, "--bar-size", "5 mins", "--db", db, "-q")
    assert wrong.exit_code == 2
    assert "the bar size is 5min but most bars are 30min apart" in wrong.output


# -- bad input: one line naming file/line/column, exit 2, warehouse untouched -------------------------


def _corrupt(lines: list[str], row: int, column: str, value: str) -> list[str]:
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = value
    return [*lines[:row], ",".join(fields), *lines[row + 1 :]]


BASE = sample_lines(60)
BAD_INPUTS = {
    "misspelled column": (
        [BASE[0].replace("close", "clsoe"), *BASE[1:]],
        ["missing column 'close'", "'clsoe'"],
    ),
    "missing column": (
        [",".join(BASE[0].split(",")[:-1])] + [",".join(x.split(",")[:-1]) for x in BASE[1:]],
        ["missing column 'volume'"],
    ),
    "unparseable timestamp": (
        _corrupt(BASE, 7, "ts", "2025-13-45T09:30:00"),
        ["line 8, column ts", "'2025-13-45T09:30:00'"],
    ),
    "non-numeric price": (
        _corrupt(BASE, 12, "open", "12,5".replace(",", ";")),
        ["line 13, column open", "'12;5'"],
    ),
    "NaN price": (_corrupt(BASE, 3, "close", "NaN"), ["line 4, column close", "nan"]),
    "zero price": (_corrupt(BASE, 9, "low", "0"), ["line 10, column low", "must be > 0"]),
    "negative price": (_corrupt(BASE, 20, "high", "-5"), ["line 21, column high", "must be > 0"]),
    "high below open/close": (
        _corrupt(BASE, 15, "high", "1.5"),
        ["line 16, column high", "below max(open, close)"],
    ),
    "low above open/close": (
        _corrupt(BASE, 16, "low", "9999"),
        ["line 17, column low", "above min(open, close)"],
    ),
    "negative volume": (_corrupt(BASE, 30, "volume", "-100"), ["line 31, column volume", "negative"]),
    "duplicate with different values": (
        [*BASE, _corrupt(BASE, 10, "volume", "1")[10]],
        ["line 62", "already appears at", "line 11", "different values"],
    ),
    "mixed bar sizes": (
        [*BASE, BASE[5].replace(":30:00-04:00", ":35:00-04:00").replace(":00:00-04:00", ":05:00-04:00")],
        ["line 62", "mixed bar sizes"],
    ),
    # the same two faults where they keep the file in time order (found the same way)
    "duplicate with different values, in time order": (
        [*BASE[:11], _corrupt(BASE, 10, "volume", "1")[10], *BASE[11:]],
        ["line 12", "already appears at", "line 11", "different values"],
    ),
    "mixed bar sizes, in time order": (
        [*BASE[:6], BASE[5].replace(":30:00-04:00", ":35:00-04:00").replace(":00:00-04:00", ":05:00-04:00"), *BASE[6:]],
        ["line 7", "mixed bar sizes"],
    ),
    "date among intraday bars": (
        [*BASE, "2025-08-01,SPY,600,601,599,600,1000"],
        ["line 62, column ts", "mixed bar sizes"],
    ),
    "header only": ([BASE[0]], ["no rows"]),
    "missing value": (_corrupt(BASE, 2, "open", ""), ["line 3, column open", "missing value"]),
    "volume out of range": (
        _corrupt(BASE, 5, "volume", "1e308"),
        ["line 6, column volume", "volume 1e+308 is out of range (at most 1e+15)"],
    ),
    "UTC offset beyond 18 hours": (
        _corrupt(BASE, 6, "ts", "2025-05-12T09:30:00+25:00"),
        ["line 7, column ts", "UTC offset of '2025-05-12T09:30:00+25:00' is beyond ±18:00"],
    ),
    "timestamp far out": (
        _corrupt(BASE, 8, "ts", "2299-05-12T09:30:00-04:00"),
        ["line 9, column ts", "'2299-05-12T09:30:00-04:00' is out of range: bars start between 1900-01-01 and now"],
    ),
    "timestamp before 1900": (_corrupt(BASE, 9, "ts", "1850-05-12T09:30:00-04:00"), ["line 10, column ts", "out of range"]),
    "fractional bar_count": (
        [BASE[0] + ",bar_count", *[f"{line},{100 + i}" for i, line in enumerate(BASE[1:11])],
         BASE[11] + ",2.5", *[f"{line},7" for line in BASE[12:]]],
        ["line 12, column bar_count", "'2.5' is not a whole number of trades"],
    ),
    "ragged row (an extra field)": (
        [*BASE[:20], BASE[20] + ",1", *BASE[21:]],
        ["line 21: 8 fields where the header has 7 (a ragged row"],
    ),
    "ragged row (a field short)": (
        [*BASE[:22], BASE[22].rsplit(",", 1)[0], *BASE[23:]],
        ["line 23: 6 fields where the header has 7"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_rejected_with_one_line_and_no_change(case, warehouse, tmp_path):
    lines, expected = BAD_INPUTS[case]
    path = _write(tmp_path / "bad.csv", lines)
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--db", warehouse)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert str(path) in message
    for part in expected:
        assert part in message, message
    assert snapshot(warehouse) == before


def test_empty_file(warehouse, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--db", warehouse)
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path}: file is empty"
    assert snapshot(warehouse) == before


def test_bad_second_file_rejects_the_whole_load(warehouse, tmp_path):
    good = _write(tmp_path / "good.csv", BASE)
    bad = _write(tmp_path / "bad.csv", _corrupt(BASE, 4, "close", "abc"))
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", good, bad, "--db", warehouse)
    assert result.exit_code == 2 and "bad.csv line 5, column close" in result.output
    assert snapshot(warehouse) == before


def test_bad_input_never_creates_a_warehouse(tmp_path):
    db = tmp_path / "new.duckdb"
    path = _write(tmp_path / "bad.csv", _corrupt(BASE, 4, "close", "abc"))
    assert run_cli("ingest", "file", path, "--db", db).exit_code == 2
    assert not db.exists()


def test_locked_warehouse_is_named_and_left_alone(warehouse, tmp_path):
    with locked(warehouse) as pid:
        result = run_cli("ingest", "file", _write(tmp_path / "a.csv", BASE), "--db", warehouse)
    assert result.exit_code == 2
    message = result.output.strip()
    assert f"warehouse {warehouse} is locked by process {pid}" in message and "\n" not in message
    time.sleep(0.1)
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from raw.bars").fetchall() == [(5_885,)]
    con.close()


# -- fuzzing rows ------------------------------------------------------------------------------------

CORRUPTIONS = {
    "open": ["abc", "NaN", "0", "-1", "", "inf"],
    "high": ["x1", "nan", "0", "-3.5"],
    "low": ["--", "NaN", "-0.01", "0"],
    "close": ["1e", "NaN", "0", "-2"],
    "volume": ["-1", "many", "nan", "1e308"],
    "ts": ["2025-02-30T09:30:00-05:00", "yesterday", "", "12:00", "2299-01-01T09:30:00Z", "2025-05-12T09:30+19"],
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    row=st.integers(min_value=1, max_value=len(BASE) - 1),
    column=st.sampled_from(sorted(CORRUPTIONS)),
    data=st.data(),
)
def test_fuzzed_bad_rows_name_their_line_and_change_nothing(warehouse, tmp_path, row, column, data):
    value = data.draw(st.sampled_from(CORRUPTIONS[column]))
    path = _write(tmp_path / "fuzz.csv", _corrupt(BASE, row, column, value))
    before = snapshot(warehouse)
    with pytest.raises(AlphaduckError) as err:
        ingest_files([path], FileOptions(), db=warehouse)
    message = err.value.message
    assert f"line {row + 1}, column {column}" in message, message
    assert snapshot(warehouse) == before


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=2, max_value=len(BASE) - 2),
    overlap=st.integers(min_value=0, max_value=10),
    reverse=st.booleans(),
)
def test_fuzzed_split_files_load_to_the_same_table(tmp_path, cut, overlap, reverse):
    first = _write(tmp_path / "first.csv", BASE[: cut + 1])
    second = _write(tmp_path / "second.csv", [BASE[0], *BASE[max(1, cut + 1 - overlap) :]])
    db = tmp_path / "split.duckdb"
    db.unlink(missing_ok=True)
    for path in [second, first] if reverse else [first, second]:
        ingest_files([path], FileOptions(bar_size=parse_bar_size("30min")), db=db)
    loaded = _bars(db)
    expected = pd.to_datetime([line.split(",")[0] for line in BASE[1:]], utc=True)
    assert list(loaded["ts"]) == list(expected)
    assert loaded["close"].tolist() == [float(line.split(",")[5]) for line in BASE[1:]]


def test_sample_file_is_gzip_with_the_documented_columns():
    with gzip.open(SAMPLE_30MIN, "rt") as fh:
        assert fh.readline().strip() == "ts,symbol,open,high,low,close,volume"


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_parquet_utc_timestamps_stay_utc_at_any_resolution(tmp_path, unit):
    """pandas writes tz-aware nanosecond columns, which DuckDB 2 types TIMESTAMPTZ_NS, not
    TIMESTAMP WITH TIME ZONE: they are instants, never wall-clock times in --tz."""
    lines = sample_lines(30)
    frame = pd.read_csv(pd.io.common.StringIO("\n".join(lines)))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit(unit)
    path = tmp_path / "spy.parquet"
    frame.to_parquet(path)
    db = tmp_path / "w.duckdb"
    assert run_cli("ingest", "file", path, "--db", db, "-q").exit_code == 0
    from_csv = tmp_path / "c.duckdb"
    assert run_cli("ingest", "file", _write(tmp_path / "spy.csv", lines), "--db", from_csv, "-q").exit_code == 0
    pd.testing.assert_frame_equal(_bars(db).drop(columns="source"), _bars(from_csv).drop(columns="source"))


# -- DST, encodings, types, far-out timestamps -------------------------------------------------------


def _naive_lines(stamps: list[str], *, repeat_values: dict[int, int] | None = None) -> list[str]:
    """Real SPY bars relabelled with naive New York times (bars of a 24-hour market)."""
    rows = [line.split(",") for line in sample_lines(len(stamps))[1:]]
    for i, j in (repeat_values or {}).items():
        rows[i] = list(rows[j])  # the same bar again
    return ["ts,open,high,low,close,volume", *[",".join([t, *r[2:]]) for t, r in zip(stamps, rows, strict=True)]]


FOLD_NIGHT = ["2025-11-02 00:00", "2025-11-02 00:30", "2025-11-02 01:00", "2025-11-02 01:30", "2025-11-02 01:00",
              "2025-11-02 01:30", "2025-11-02 02:00", "2025-11-02 02:30", "2025-11-02 03:00", "2025-11-02 03:30",
              "2025-11-02 04:00", "2025-11-02 04:30"]  # fmt: skip


def test_a_repeated_dst_hour_is_refused_naming_dst_and_the_rows(warehouse, tmp_path):
    # the repeated hour holds the same bars twice: both must survive, or the file be refused
    path = _write(tmp_path / "night.csv", _naive_lines(FOLD_NIGHT, repeat_values={4: 2, 5: 3}))
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--bar-size", "30min", "--db", warehouse)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {path} line 4, column ts: 2025-11-02 01:00:00 is ambiguous (DST): clocks in America/New_York go "
        "back at the end of daylight saving time and 2025-11-02 01:00-02:00 happens twice (3 more rows in clock "
        "changes); give the timestamps a UTC offset, or pass --ambiguous earlier|later|infer"
    )
    assert snapshot(warehouse) == before


def test_ambiguous_infer_keeps_both_hours(tmp_path):
    path = _write(tmp_path / "night.csv", _naive_lines(FOLD_NIGHT, repeat_values={4: 2, 5: 3}))
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--ambiguous", "infer", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    bars = _bars(db)
    # 04:00 UTC (00:00 EDT) on, every 30 minutes: EDT's 01:00-01:30, then EST's
    assert list(bars["ts"]) == list(pd.date_range("2025-11-02 04:00", periods=12, freq="30min", tz="UTC"))
    assert set(bars["bar_size"]) == {"30min"}


@pytest.mark.parametrize(("rule", "first_utc"), [("earlier", "05:00"), ("later", "06:00")])
def test_ambiguous_earlier_or_later_pick_one_reading(tmp_path, rule, first_utc):
    stamps = ["2025-11-02 00:00", "2025-11-02 00:30", "2025-11-02 01:00", "2025-11-02 01:30"]
    path = _write(tmp_path / "fold.csv", _naive_lines(stamps))
    db = tmp_path / "w.duckdb"
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--bar-size", "30min", "--ambiguous", rule,
                     "--db", db, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _bars(db)["ts"].iloc[2] == pd.Timestamp(f"2025-11-02 {first_utc}", tz="UTC")


def test_infer_refuses_a_fold_that_does_not_repeat(tmp_path):
    stamps = ["2025-11-02 00:00", "2025-11-02 00:30", "2025-11-02 01:00", "2025-11-02 01:30", "2025-11-02 02:00"]
    path = _write(tmp_path / "fold.csv", _naive_lines(stamps))
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--ambiguous", "infer", "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2
    assert f"{path} line 4, column ts: cannot infer which 2025-11-02 01:00:00 in America/New_York" in result.output
    assert "it does not repeat" in result.output


def test_a_skipped_dst_hour_is_refused_naming_dst(warehouse, tmp_path):
    stamps = ["2025-03-09 01:00", "2025-03-09 01:30", "2025-03-09 02:00", "2025-03-09 02:30", "2025-03-09 03:00"]
    path = _write(tmp_path / "spring.csv", _naive_lines(stamps))
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--ambiguous", "infer", "--db", warehouse)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {path} line 4, column ts: 2025-03-09 02:00:00 does not exist in America/New_York: clocks in "
        "America/New_York go forward at the start of daylight saving time and 2025-03-09 02:00-03:00 never "
        "happens (1 more rows in clock changes); give the timestamps a UTC offset, or check --tz"
    )
    assert snapshot(warehouse) == before


def test_parquet_naive_timestamps_in_a_fold_are_refused(warehouse, tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO("\n".join(_naive_lines(FOLD_NIGHT[:6]))))
    frame["ts"] = pd.to_datetime(frame["ts"])
    path = tmp_path / "night.parquet"
    frame.to_parquet(path)
    result = run_cli("ingest", "file", path, "--symbol", "ES", "--db", warehouse)
    assert result.exit_code == 2
    assert f"{path} row 3, column ts: 2025-11-02 01:00:00 is ambiguous (DST)" in result.output


def test_a_file_that_is_not_utf8_is_named_with_its_line(warehouse, tmp_path):
    lines = list(BASE)
    lines[14] = lines[14].replace("SPY", "SPÉ")
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--db", warehouse)
    assert result.exit_code == 2
    character = lines[14].index("É") + 1
    assert result.output.strip() == (
        f"Error: {path} line 15, character {character}: byte 0xC9 is not UTF-8 text (the file is in another "
        "encoding, e.g. Latin-1 or Windows-1252): save it as UTF-8, e.g. iconv -f latin1 -t utf-8"
    )
    assert snapshot(warehouse) == before
    # gzip and a bad header line too
    header = tmp_path / "header.csv.gz"
    header.write_bytes(gzip.compress(("\n".join([BASE[0].replace("volume", "volumé"), *BASE[1:]]) + "\n").encode("cp1252")))
    result = run_cli("ingest", "file", header, "--db", warehouse)
    character = BASE[0].index("volume") + len("volume")
    assert result.exit_code == 2 and f"{header} line 1, character {character}: byte 0xE9 is not UTF-8" in result.output


def test_a_ragged_row_past_the_sniffing_sample_is_named(tmp_path):
    with gzip.open(SAMPLE_30MIN, "rt") as fh:
        lines = fh.read().splitlines()
    lines[50_000] += ",1"
    path = _write(tmp_path / "big.csv", lines)
    result = run_cli("ingest", "file", path, "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2
    assert f"{path} line 50001: 8 fields where the header has 7" in result.output


def _parquet(tmp_path, **columns) -> Path:
    frame = pd.read_csv(pd.io.common.StringIO("\n".join(sample_lines(20))))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for name, value in columns.items():
        frame[name] = value
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"volume": True}, "column volume: type BOOLEAN, expected numbers"),
        ({"open": pd.Timestamp("2025-01-01")}, "column open: type TIMESTAMP, expected numbers"),
        ({"ts": 1_747_056_600}, "column ts: type BIGINT, expected timestamps, dates or text"),
        ({"bar_count": 2.5}, "row 1, column bar_count: '2.5' is not a whole number of trades"),
        ({"volume": 1e308}, "row 1, column volume: volume 1e+308 is out of range"),
        ({"ts": pd.Timestamp("2299-01-01", tz="UTC")}, "row 1, column ts: '2299-01-01 00:00:00+00' is out of range"),
    ],
    ids=["boolean volume", "timestamp as price", "epoch numbers", "fractional bar_count", "huge volume", "far out"],
)
def test_parquet_columns_of_the_wrong_type_or_range_are_named(warehouse, tmp_path, columns, expected):
    path = _parquet(tmp_path, **columns)
    before = snapshot(warehouse)
    result = run_cli("ingest", "file", path, "--db", warehouse)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith(f"Error: {path}") and "\n" not in message
    assert expected in message, message
    assert snapshot(warehouse) == before


def test_a_daily_date_far_out_is_refused_before_the_calendar_is_asked(warehouse, tmp_path):
    path = _write(tmp_path / "daily.csv", ["ts,open,high,low,close,volume", "2023-03-01,1,2,0.5,1.5,10",
                                           "2299-03-02,1,2,0.5,1.5,10"])  # fmt: skip
    result = run_cli("ingest", "file", path, "--symbol", "SPY", "--db", warehouse)
    assert result.exit_code == 2
    assert f"{path} line 3, column ts: '2299-03-02' is out of range" in result.output


def test_blank_symbol_option_is_refused(warehouse, tmp_path):
    path = _write(tmp_path / "a.csv", [",".join(["ts", *BASE[0].split(",")[2:]])])
    result = run_cli("ingest", "file", path, "--symbol", "  ", "--db", warehouse)
    assert result.exit_code == 2 and "Invalid value for '--symbol': is blank" in result.output
    with pytest.raises(AlphaduckError, match="--symbol is blank"):
        ingest_files([SAMPLE_DAILY], FileOptions(symbol=" "), db=warehouse)


# -- the key without an index: merge keeps it unique, a kill changes nothing -------------------------


def test_a_warehouse_from_before_keeps_its_primary_key_and_still_merges(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema raw")
    con.execute(
        """
        create table raw.bars (symbol varchar not null, bar_size varchar not null, ts timestamptz not null,
            open double not null, high double not null, low double not null, close double not null, volume double,
            wap double, bar_count bigint, source varchar not null, ingested_at timestamptz not null,
            primary key (symbol, bar_size, ts))
        """
    )
    con.close()
    lines = sample_lines(20)
    assert run_cli("ingest", "file", _write(tmp_path / "a.csv", lines), "--db", db, "-q").exit_code == 0
    changed = _corrupt(lines, 3, "volume", "1")
    result = run_cli("ingest", "file", _write(tmp_path / "b.csv", changed), "--db", db)
    assert "0 inserted, 1 updated" in " ".join(result.output.split())
    bars = _bars(db)
    assert len(bars) == 20 and bars["ts"].is_unique and bars["volume"].iloc[2] == 1


def test_a_killed_file_ingest_loses_and_duplicates_nothing(tmp_path):
    """kill -9 while the bars are written: the warehouse holds all of them or none, never a part
    or a second copy, and a re-run completes it."""
    with gzip.open(SAMPLE_30MIN, "rt") as fh:
        header, *rows = fh.read().splitlines()
    big = tmp_path / "big.csv"
    # four renamed copies of the 30-minute panel: 256,608 bars, long enough to be caught writing
    big.write_text("\n".join([header, *[r.replace(",", f",C{i}_", 1) for i in range(4) for r in rows]]) + "\n")
    expected = 4 * len(rows)
    outcomes = []
    for delay in (0.0, 0.3, 0.8):
        db = tmp_path / f"w{delay}.duckdb"
        proc = subprocess.Popen([PYTHON, "-m", "alphaduck", "ingest", "file", str(big), "--db", str(db), "-q"],
                                cwd=ROOT)  # fmt: skip
        deadline = time.monotonic() + 120
        while not db.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if db.exists():
            n, distinct = duckdb.connect(str(db), read_only=True).execute(
                "select count(*), count(distinct (symbol, bar_size, ts)) from raw.bars"
            ).fetchall()[0] if _has_bars(db) else (0, 0)
            assert n == distinct and n in (0, expected), (delay, n)
            outcomes.append(n)
        result = run_cli("ingest", "file", big, "--db", db, "-q")
        assert result.exit_code == 0, result.output
        n, distinct = duckdb.connect(str(db), read_only=True).execute(
            "select count(*), count(distinct (symbol, bar_size, ts)) from raw.bars"
        ).fetchall()[0]
        assert n == distinct == expected
    assert outcomes  # at least one kill landed after the warehouse was opened


def _has_bars(db: Path) -> bool:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return bool(con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'bars'"
        ).fetchall()[0][0])  # fmt: skip
    finally:
        con.close()
