"""`alphaduck sql`: ask the warehouse a question in SQL, in a sandbox, and see DuckDB's own table.

The SQL runs on ``warehouse.sandbox``: read-only, no file, network or extension access, the
configuration locked. Results are rendered by DuckDB (its box renderer fits wide tables to
the terminal) or exported by alphaduck itself (CSV, JSON, Parquet): the sandboxed SQL never
writes a file.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb

from alphaduck import options
from alphaduck.errors import AlphaduckError

EXAMPLE_QUERY = """\
select symbol,
       count(*) as bars,
       round(10000 * avg(label_fwd_return_1) filter (where rsi < 30), 1) as next_bar_bps_rsi_below_30,
       round(10000 * avg(label_fwd_return_1) filter (where rsi > 70), 1) as next_bar_bps_rsi_above_70
from marts.fct_features
where warmup_complete and bar_size = '30min'
group by symbol
order by symbol"""

FORMATS = ("table", "csv", "json", "parquet")


class QueryError(AlphaduckError):
    """DuckDB refused the query: its whole message on one line ("Did you mean ...?" included),
    then, for a syntax error, the line and the caret under the spot, as DuckDB's CLI shows."""

    def __init__(self, exc: duckdb.Error) -> None:
        text = str(exc)
        message, _, position = text.partition("\n\nLINE ")
        super().__init__(f"query failed: {message}")
        self.position = f"LINE {position}".rstrip() if position else ""

    def format_message(self) -> str:
        return self.message + (f"\n{self.position}" if self.position else "")


@dataclass
class Result:
    """One statement's result: the relation (to render or export) and the SQL it came from."""

    sql: str
    relation: duckdb.DuckDBPyRelation


def read_sql(query: str | None, file: str | None, example: bool) -> str:
    """The SQL to run: --example, -f FILE ('-' = stdin), or QUERY ('-' = stdin)."""
    given = [name for name, value in (("QUERY", query), ("-f", file), ("--example", example)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of QUERY, -f FILE or --example" + (f" (got {', '.join(given)})" if given else ""))
    if example:
        return EXAMPLE_QUERY
    source = file or query
    if source == "-":
        return sys.stdin.read()
    if file:
        try:
            return Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise AlphaduckError(f"cannot read {file}: {exc.strerror}") from exc
    return query


def run_statements(con: duckdb.DuckDBPyConnection, text: str) -> list[Result]:
    """Run each statement of ``text`` in order; the ones that return rows give a Result."""
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryError(exc) from exc
    if not statements:
        raise AlphaduckError("no SQL statement given")
    results = []
    for statement in statements:
        try:
            relation = con.sql(statement.query)
        except duckdb.Error as exc:
            raise QueryError(exc) from exc
        if relation is not None:
            results.append(Result(statement.query, relation))
    return results


def render_table(relation: duckdb.DuckDBPyRelation, *, limit: int, width: int) -> str:
    """DuckDB's own box rendering: types under the names, wide tables cut to ``width`` with
    the hidden columns counted, long results shown head and tail with the row count."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            relation.show(max_width=width, max_rows=limit)
    except duckdb.Error as exc:
        raise QueryError(exc) from exc
    return buffer.getvalue()


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def export(relation: duckdb.DuckDBPyRelation, fmt: str, output: Path | None) -> None:
    """Write every row of ``relation`` as CSV, JSON (an array of objects) or Parquet, to
    ``output`` or stdout. alphaduck writes the file: the sandboxed SQL cannot."""
    try:
        if fmt == "json":
            columns = relation.columns
            rows = [dict(zip(columns, map(_json_value, row), strict=True)) for row in relation.fetchall()]
            payload = (json.dumps(rows, default=str, indent=1, ensure_ascii=False) + "\n").encode()
        else:
            import pyarrow.csv
            import pyarrow.parquet

            table = relation.to_arrow_table()
            sink = io.BytesIO()
            if fmt == "csv":
                pyarrow.csv.write_csv(table, sink)
            else:
                pyarrow.parquet.write_table(table, sink)
            payload = sink.getvalue()
    except duckdb.Error as exc:
        raise QueryError(exc) from exc
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(payload)
    except OSError as exc:
        raise AlphaduckError(f"cannot write {output}: {exc.strerror}") from exc


def terminal_width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


@click.command(
    name="sql",
    epilog=f"""\b
Examples:
  alphaduck sql "select symbol, count(*) from raw.bars group by all"
  alphaduck sql --example        # next-bar return after RSI < 30 / > 70, per symbol
  alphaduck sql -f question.sql --format csv > answer.csv
  echo "select * from backtest.runs" | alphaduck sql - --format json
  alphaduck sql "select * from marts.fct_features where symbol = 'SPY'" --format parquet --output spy.parquet
\b
The SQL runs read-only, without access to files, the network or extensions (COPY, read_csv,
ATTACH, INSTALL and SET are refused): use --format/--output to export. With several
statements, table format shows each result; csv, json and parquet export the last.
\b
The example query:
{EXAMPLE_QUERY}
""",
)
@options.db
@click.argument("query", required=False)
@click.option("-f", "--file", "file", metavar="FILE", help="Read the SQL from FILE ('-' for stdin).")
@click.option("--example", is_flag=True, help="Run the example query below.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here (parquet needs it).")
@click.option("--limit", default=40, show_default=True, help="Rows a table shows (head and tail); exports are complete.")
@click.option("--max-width", type=int, help="Table width in characters [default: the terminal's].")
def sql(db: str, query: str | None, file: str | None, example: bool, fmt: str, output: Path | None, limit: int,
        max_width: int | None) -> None:  # fmt: skip
    """Run SQL on the warehouse (read-only, sandboxed) and show DuckDB's table, or export the result."""
    from alphaduck.warehouse import sandbox

    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    text = read_sql(query, file, example)
    con = sandbox(db)
    try:
        results = run_statements(con, text)
        if fmt == "table":
            if example:
                click.secho(text, dim=True)
            shown = "".join(render_table(r.relation, limit=limit, width=max_width or terminal_width()) for r in results)
            if output is None:
                click.echo(shown, nl=False)
            else:
                output.write_text(shown, encoding="utf-8")
            if not results:
                click.echo("ok (no rows returned)", err=True)
        elif not results:
            raise AlphaduckError(f"nothing to export as {fmt}: the last statement returns no rows")
        else:
            export(results[-1].relation, fmt, output)
    finally:
        con.close()
    if output is not None:
        click.echo(f"wrote {output}", err=True)
