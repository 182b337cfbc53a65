"""`alphaduck sql`: ask the warehouse a question in SQL, read-only, and see a table."""

from __future__ import annotations

import click
import duckdb

from alphaduck import options
from alphaduck.errors import AlphaduckError

EXAMPLE_QUERY = """\
select symbol,
       count(*) as bars,
       round(10000 * avg(label_fwd_return_h) filter (where rsi < 30), 1) as next_bar_bps_rsi_below_30,
       round(10000 * avg(label_fwd_return_h) filter (where rsi > 70), 1) as next_bar_bps_rsi_above_70
from marts.fct_features
where warmup_complete and bar_size = '30min'
group by symbol
order by symbol"""


def run_query(db: str | None, query: str, limit: int) -> tuple[list[str], list[tuple], bool]:
    """Columns, at most ``limit`` rows, and whether there were more."""
    from alphaduck.warehouse import sandbox

    con = sandbox(db)
    try:
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            raise AlphaduckError(f"query failed: {str(exc).splitlines()[0]}") from exc
        if cursor.description is None:
            return [], [], False
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(limit + 1)
        return columns, rows[:limit], len(rows) > limit
    finally:
        con.close()


@click.command(
    name="sql",
    epilog=f"""\b
Examples:
  alphaduck sql "select symbol, count(*) from raw.bars group by all"
  alphaduck sql --example        # next-bar return after RSI < 30 / > 70, per symbol
\b
The example query:
{EXAMPLE_QUERY}
""",
)
@options.db
@click.argument("query", required=False)
@click.option("--example", is_flag=True, help="Run the example query below.")
@click.option("--limit", default=50, show_default=True, help="Rows to show.")
def sql(db: str, query: str | None, example: bool, limit: int) -> None:
    """Run QUERY on the warehouse (read-only) and print the result as a table."""
    from rich.console import Console
    from rich.table import Table

    if example:
        query = EXAMPLE_QUERY
    if not query:
        raise click.UsageError("give a QUERY or --example")
    columns, rows, more = run_query(db, query, limit)
    console = Console()
    if example:
        console.print(query, highlight=False, style="dim", soft_wrap=True)
    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    if more:
        console.print(f"(first {limit} rows; --limit to see more)", style="dim")
