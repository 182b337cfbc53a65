"""`alphaduck sql` at least as good as the DuckDB CLI (issue 19 item 2): DuckDB's own table
rendering (wide tables fit, types shown), DuckDB's whole error with its hint, CSV / JSON /
Parquet exports written by alphaduck, SQL from a file or stdin."""

from __future__ import annotations

import io
import json

import duckdb
import pandas as pd
import pyarrow.parquet as pq
from click.testing import CliRunner

from alphaduck.cli import main
from tests.conftest import run_cli

BARS = "select symbol, bar_size, ts, open, high, low, close, volume from raw.bars order by ts"


def expected(db, sql: str = BARS) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_a_wide_table_is_rendered_by_duckdb_to_fit(loaded_warehouse):
    result = run_cli("sql", "--db", loaded_warehouse, "select * from raw.bars order by ts", "--max-width", "90", "--limit", "6")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 90 for line in lines), lines
    assert lines[0].startswith("┌") and "│ symbol" in lines[1] and "varchar" in lines[2]  # names, then types
    assert "5885 rows (6 shown)" in result.output and "12 columns (4 shown)" in result.output
    assert sum("│ SPY " in line and "sample:spy-daily" in line for line in lines) == 6  # head and tail rows


def test_duckdb_errors_arrive_whole_with_their_hint(loaded_warehouse):
    missing = run_cli("sql", "--db", loaded_warehouse, "select * from bars")
    assert missing.exit_code == 2
    assert missing.output.strip() == (
        'Error: query failed: Catalog Error: Table with name bars does not exist! Did you mean "raw.bars"?'
    )
    column = run_cli("sql", "--db", loaded_warehouse, "select clsoe from raw.bars")
    assert column.exit_code == 2 and 'Referenced column "clsoe" not found' in column.output and '"close"' in column.output
    syntax = run_cli("sql", "--db", loaded_warehouse, "select * form raw.bars")
    assert syntax.exit_code == 2
    assert syntax.output.splitlines() == [
        'Error: query failed: Parser Error: syntax error at or near "raw"',
        "LINE 1: select * form raw.bars",
        "                      ^^^",
    ]


def test_csv_and_json_exports_hold_every_row(loaded_warehouse):
    want = expected(loaded_warehouse)
    as_csv = run_cli("sql", "--db", loaded_warehouse, BARS, "--format", "csv", "--limit", "5")
    assert as_csv.exit_code == 0, as_csv.output
    got = pd.read_csv(io.StringIO(as_csv.output), parse_dates=["ts"])
    assert len(got) == len(want) == 5885  # --limit is for the screen, not for exports
    pd.testing.assert_frame_equal(got.drop(columns="ts"), want.drop(columns="ts"), check_dtype=False)
    assert (got["ts"].dt.tz_convert("UTC") == want["ts"].dt.tz_convert("UTC")).all()
    as_json = run_cli("sql", "--db", loaded_warehouse, BARS + " limit 3", "--format", "json")
    rows = json.loads(as_json.output)
    assert [r["close"] for r in rows] == want["close"].head(3).tolist()
    assert rows[0]["symbol"] == "SPY" and rows[0]["ts"].startswith("1999-11-01 14:30:00")


def test_parquet_needs_an_output_file_and_alphaduck_writes_it(loaded_warehouse, tmp_path):
    refused = run_cli("sql", "--db", loaded_warehouse, BARS, "--format", "parquet")
    assert refused.exit_code == 2 and "--format parquet needs --output FILE" in refused.output
    out = tmp_path / "exports" / "bars.parquet"
    done = run_cli("sql", "--db", loaded_warehouse, BARS, "--format", "parquet", "--output", out)
    assert done.exit_code == 0, done.output
    table = pq.read_table(out).to_pandas()
    want = expected(loaded_warehouse)
    pd.testing.assert_frame_equal(table.drop(columns="ts"), want.drop(columns="ts"), check_dtype=False)
    assert pq.read_schema(out).field("ts").type.tz is not None  # instants stay instants


def test_sql_from_a_file_and_from_stdin(loaded_warehouse, tmp_path):
    script = tmp_path / "question.sql"
    script.write_text(
        "-- two questions in one file\n"
        "create temp table yearly as select year(ts) as year, count(*) as bars from raw.bars group by 1;\n"
        "select count(*) as years from yearly;\n"
        "select max(bars) as most from yearly;\n"
    )
    result = run_cli("sql", "--db", loaded_warehouse, "-f", script)
    assert result.exit_code == 0, result.output
    assert "years" in result.output and "most" in result.output and "│    25 │" in result.output  # 1999..2023
    piped = CliRunner().invoke(main, ["sql", "--db", str(loaded_warehouse), "-", "--format", "csv"],
                               input="select count(*) as n from raw.bars where symbol = 'SPY'")  # fmt: skip
    assert piped.exit_code == 0, piped.output
    assert piped.output.splitlines() == ['"n"', "5885"]
    both = run_cli("sql", "--db", loaded_warehouse, "select 1", "-f", script)
    assert both.exit_code == 2 and "give exactly one of QUERY, -f FILE or --example" in both.output
