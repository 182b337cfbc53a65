"""The raw tables' columns as this alphaduck writes them, checked before a build touches a
warehouse made by another version (an older schema would fail deep inside dbt, after the
build had already changed the file)."""

from __future__ import annotations

import importlib

import duckdb

from alphaduck.contracts import BARS
from alphaduck.errors import AlphaduckError
from alphaduck.warehouse import columns_of

# table -> "module:attribute" of the column names its owner writes (found by name, as
# contracts.STAGE_TABLES finds DDL, so alphaduck/ imports no stage at load time)
RAW_COLUMNS = {BARS: "ingest.tables:BAR_COLUMNS"}


def refuse_older_schema(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """One line naming the table and the columns it lacks, when a raw table is not as this
    alphaduck writes it."""
    for table, target in RAW_COLUMNS.items():
        module, attribute = target.split(":")
        expected = getattr(importlib.import_module(module), attribute)
        present = set(columns_of(con, table))
        missing = [c for c in expected if c not in present]
        if present and missing:
            raise AlphaduckError(
                f"{where}: {table} has no column {', '.join(missing)} (an older or altered schema): this alphaduck "
                "cannot build it; re-ingest into a new warehouse file"
            )
