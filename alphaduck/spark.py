"""The same dbt project on Spark (`alphaduck build --target spark`; README "Scaling out").

The warehouse stays the DuckDB file: ingest writes there, and a Spark build reads the
project's sources (raw.*, ml.predictions) from Parquet copies of them, then builds every model
into Parquet tables of its own. Those files sit in one folder beside the warehouse
(``spark_dir``): ``sources/<schema>/<table>/``, and ``warehouse/<schema>.db/<table>/`` for what
dbt builds (Spark's warehouse directory, with its Derby metastore in ``metastore_db/``).
After the build the warehouse's ``marts`` tables Spark built become DuckDB views over Spark's
files, so training, prediction, backtests and analysts read Spark's features where they lie,
without a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from alphaduck.errors import AlphaduckError

TARGET = "spark"
# the marts Spark builds that the Python stages read through the warehouse
LINKED_MARTS = ("fct_features", "feature_builds")


def spark_dir(warehouse: Path) -> Path:
    """Where a Spark build of ``warehouse`` keeps its files: the warehouse's path without
    .duckdb, plus .spark (= the spark_dir macro and profiles.yml's spark target)."""
    return Path(str(warehouse).replace(".duckdb", "") + ".spark")


def built_table_dir(warehouse: Path, schema: str, table: str) -> Path:
    """The folder of Parquet files Spark wrote for ``schema.table``."""
    return spark_dir(warehouse) / "warehouse" / f"{schema}.db" / table


def source_tables(project: Path) -> list[tuple[str, str]]:
    """Every (schema, table) the dbt project declares as a source, from its YAML."""
    import yaml

    tables: list[tuple[str, str]] = []
    for file in sorted((project / "dbt_project" / "models").rglob("*.yml")):
        for source in (yaml.safe_load(file.read_text()) or {}).get("sources") or []:
            schema = source.get("schema", source["name"])
            tables += [(schema, table["name"]) for table in source.get("tables") or []]
    return tables


def require_spark(warehouse: Path) -> None:
    """Refuse at once, in one line, what would fail deep inside a Spark build: pyspark or
    dbt-spark missing, no Java, or this process already running a Spark session for another
    warehouse (a session's warehouse folder and metastore are fixed when it starts)."""
    import importlib.util

    for module, package in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark")):
        if importlib.util.find_spec(module) is None:
            raise AlphaduckError(
                f"--target spark needs {package}: pip install 'alphaduck[spark]' (and Java 17+)"
            )
    if shutil.which("java") is None and not _java_home_binary():
        raise AlphaduckError(
            "--target spark needs Java 17+ on PATH (or $JAVA_HOME): e.g. apt-get install openjdk-17-jre-headless"
        )
    import warnings

    # pyspark 4.3 warns on import that it "does not yet fully support pandas >= 3"; the build
    # hands it no pandas frames
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        wanted = (spark_dir(warehouse) / "warehouse").resolve()
        running = Path(active.conf.get("spark.sql.warehouse.dir").removeprefix("file:")).resolve()
        if running != wanted:
            raise AlphaduckError(
                f"this process already runs a Spark session for {running.parent}: "
                f"build {warehouse} with --target spark in a new process"
            )


# Spark's JVM logs every WARN to the terminal (a line per dbt node: "Using an existing Spark
# session"), burying the build's own progress; errors still show
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n%ex
# Hive's metastore logs an ERROR and its stack trace for each `create schema if not exists`
# of a schema that exists (dbt asks once per schema): nothing went wrong
logger.metastore.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler
logger.metastore.level = off
"""


def quiet_jvm_env(warehouse: Path) -> dict[str, str]:
    """The environment that has the Spark JVM a build starts log errors only: a log4j2 file in
    spark_dir, named in SPARK_SUBMIT_OPTS (nothing, when SPARK_SUBMIT_OPTS names one already)."""
    import os

    opts = os.environ.get("SPARK_SUBMIT_OPTS", "")
    if "log4j2.configurationFile" in opts:
        return {}
    config = spark_dir(warehouse) / "log4j2.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_LOG4J2)
    return {"SPARK_SUBMIT_OPTS": f"{opts} -Dlog4j2.configurationFile={config.resolve().as_uri()}".strip()}


def _java_home_binary() -> bool:
    import os

    home = os.environ.get("JAVA_HOME")
    return bool(home) and (Path(home) / "bin" / "java").exists()


def export_sources(warehouse: Path, project: Path) -> list[str]:
    """Write every source table of the warehouse to Parquet under spark_dir()/sources,
    replacing what an earlier export left; returns the tables written. A table the
    warehouse lacks is refused by name (the Spark build would fail on it later)."""
    from alphaduck.warehouse import Warehouse

    root = spark_dir(warehouse) / "sources"
    written = []
    with Warehouse(warehouse).reader() as con:
        present = set(con.execute("select schema_name, table_name from duckdb_tables()").fetchall())
        for schema, table in source_tables(project):
            if (schema, table) not in present:
                raise AlphaduckError(f"warehouse {warehouse} has no {schema}.{table}, a source of the dbt project")
            folder = root / schema / table
            staged = folder.with_name(folder.name + ".new")
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            con.execute(f"copy {schema}.{table} to '{staged / 'part-0.parquet'}' (format parquet)")
            shutil.rmtree(folder, ignore_errors=True)
            staged.rename(folder)
            written.append(f"{schema}.{table}")
    return written


def link_marts(warehouse: Path) -> list[str]:
    """Make each of LINKED_MARTS in the warehouse a view over the Parquet files Spark built
    (replacing the table a DuckDB build left; the next DuckDB build makes it a table again);
    returns the relations linked."""
    from alphaduck.warehouse import Warehouse

    linked = []
    with Warehouse(warehouse).transaction() as con:
        con.execute("create schema if not exists marts")
        for table in LINKED_MARTS:
            files = built_table_dir(warehouse, "marts", table)
            if not any(files.glob("*.parquet")):
                continue
            name = f"marts.{table}"
            kind = con.execute(
                "select table_type from information_schema.tables where table_schema = 'marts' and table_name = ?",
                [table],
            ).fetchone()
            if kind is not None:
                con.execute(f"drop {'view' if kind[0] == 'VIEW' else 'table'} {name}")
            con.execute(f"create view {name} as select * from read_parquet('{files / '*.parquet'}')")
            linked.append(name)
    return linked


def unlink_marts(warehouse: Path) -> list[str]:
    """Undo link_marts before a DuckDB build: feature_builds becomes a table holding the
    records it showed, fct_features' view goes (the build writes the table in full); returns
    the relations changed."""
    from alphaduck.warehouse import Warehouse

    changed = []
    with Warehouse(warehouse).transaction() as con:
        views = {name for (name,) in con.execute(
            "select view_name from duckdb_views() where schema_name = 'marts' and not internal"
        ).fetchall()}  # fmt: skip
        for table in LINKED_MARTS:
            if table not in views:
                continue
            name = f"marts.{table}"
            if table == "feature_builds":
                con.execute(f"create table marts.feature_builds_kept as select * from {name}")
                con.execute(f"drop view {name}")
                con.execute("alter table marts.feature_builds_kept rename to feature_builds")
            else:
                con.execute(f"drop view {name}")
            changed.append(name)
    return changed
