"""`alphaduck build`: the feature refresh, i.e. `dbt build` on the warehouse, run in-process.

dbt reads the same warehouse setting as every other command (profiles.yml reads
$ALPHADUCK_DB), so this only sets it, checks the file is usable, runs dbt with a progress
bar instead of its log, and turns the result into one summary and an exit code.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

from alphaduck import options
from alphaduck.errors import EXIT_CHECKS_FAILED, AlphaduckError
from alphaduck.settings import DB_ENV_VAR, PROJECT_ROOT, dbt_artifacts_dir, dbt_project_dir, warehouse_path
from alphaduck.warehouse import Warehouse


@dataclass
class BuildOutcome:
    models: int = 0  # built: a model skipped because something upstream failed is not
    skipped: int = 0  # models skipped
    tests_passed: int = 0
    tests_warned: int = 0
    failures: list[str] = field(default_factory=list)  # one line each: node name and why
    seconds: float = 0.0
    # what the project's macros said about this build (log(..., info=true)), e.g. that a
    # feature table is rebuilt in full, and why: once each, in order
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def create_stage_tables(warehouse: Warehouse) -> list[str]:
    """Create the tables dbt reads that a later stage writes (contracts.STAGE_TABLES), with
    the DDL their owner defines; returns those it created."""
    import importlib

    from alphaduck.contracts import STAGE_TABLES
    from alphaduck.warehouse import relation_exists

    with warehouse.transaction() as con:
        created = [name for name in STAGE_TABLES if not relation_exists(con, name)]
        for target in STAGE_TABLES.values():
            module, attribute = target.split(":")
            con.execute(getattr(importlib.import_module(module), attribute))
    return created


def _drop_stage_tables(warehouse: Warehouse, created: list[str]) -> None:
    """Undo create_stage_tables (tables, and a schema left empty) for a build dbt refused
    before running anything: the warehouse stays exactly as it was."""
    from alphaduck.warehouse import fetch_one

    with warehouse.transaction() as con:
        for name in created:
            schema = name.split(".")[0]
            con.execute(f"drop table if exists {name}")
            left = (
                "select (select count(*) from duckdb_tables() where schema_name = ?)"
                " + (select count(*) from duckdb_views() where schema_name = ?)"
            )
            if not fetch_one(con, left, [schema, schema])[0]:
                con.execute(f"drop schema if exists {schema}")


def check_warehouse(db: Warehouse | str | Path | None) -> tuple[Path, str | None]:
    """The warehouse file, refused at once if it is missing, empty or not a DuckDB file, and
    the calendar its sessions were filled for."""
    from alphaduck.calendars import warehouse_calendar
    from alphaduck.warehouse import fetch_one

    warehouse = Warehouse.of(db)
    path = warehouse.path
    with warehouse.reader() as con:  # names the missing file; a locked file fails here too
        has_bars = fetch_one(
            con, "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'bars'"
        )[0]
        calendar = warehouse_calendar(con) if has_bars else None
        if has_bars:
            from alphaduck.schema import refuse_older_schema

            refuse_older_schema(con, f"warehouse {path}")
    if not has_bars:
        raise AlphaduckError(
            f"warehouse {path} has no raw.bars: run `alphaduck ingest sample` (or `alphaduck ingest file|ibkr`) first"
        )
    return path.resolve(), calendar


def build_vars(calendar: str | None, overrides: dict | None = None) -> dict:
    """The vars a build passes to dbt: the calendar (the one given, else the one the
    warehouse's sessions were filled for) with its exchange time zone, then ``overrides``."""
    from alphaduck.calendars import calendar_timezone, validate_calendar

    chosen: dict = {}
    if calendar:
        validate_calendar(calendar)
        chosen = {"calendar": calendar, "exchange_timezone": calendar_timezone(calendar)}
    return chosen | dict(overrides or {})


def parse_vars(pairs: tuple[str, ...] | list[str]) -> dict:
    """NAME=VALUE strings (values in YAML: 5, 0.001, close, [1, 5, 20]) for dbt vars,
    refusing names dbt_project.yml does not define, with a suggestion."""
    import yaml

    from alphaduck.pairs import split_pairs
    from alphaduck.settings import project_vars

    try:
        parsed = split_pairs(pairs, project_vars(), what="dbt var")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--var") from exc
    values: dict = {}
    for name, text in parsed:
        pair = f"{name}={text}"
        try:
            values[name] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{pair!r}: {text!r} is not a YAML value", param_hint="--var") from exc
    return values


def dbt_build(
    db: Warehouse | str | Path | None,
    *,
    full_refresh: bool = False,
    select: tuple[str, ...] = (),
    unit_tests: bool = False,
    calendar: str | None = None,
    dbt_vars: dict | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    data_tests: bool = True,
    project_dir: Path | None = None,
    target_dir: Path | None = None,
    silent: bool = False,
    engine: str = "duckdb",
) -> BuildOutcome:
    """Run `dbt build` from the project root on warehouse ``db``; ``on_progress(done, total, node)``.

    The calendar is ``calendar``, else the one the warehouse's sessions were filled for
    (so `alphaduck ingest --calendar XLON` then `alphaduck build` builds XLON sessions);
    ``dbt_vars`` override any other dbt var. ``data_tests=False`` builds the models only.
    ``project_dir`` builds another copy of the project (its own profiles.yml if it has one);
    ``target_dir`` keeps dbt's artifacts and logs away from the project's target/.
    ``silent`` keeps even dbt's error lines off the console (the caller reports failures).
    ``engine="spark"`` builds on a local Spark session instead (profiles.yml's spark target,
    alphaduck.spark): from Parquet copies of the sources, into Parquet tables, every model in
    full; the warehouse's marts then read Spark's files.
    """
    import json

    from alphaduck import spark
    from alphaduck.warehouse import hold

    if engine not in ("duckdb", spark.TARGET):
        raise AlphaduckError(f"--target {engine!r}: choose duckdb or spark")
    project = dbt_project_dir(project_dir)  # refused before anything touches the warehouse
    path, stored_calendar = check_warehouse(db)
    on_spark = engine == spark.TARGET
    if on_spark:
        spark.require_spark(path)
    passed_vars = build_vars(calendar or stored_calendar, dbt_vars)
    created = create_stage_tables(Warehouse(path))
    jvm_env = {}
    if on_spark:
        spark.export_sources(path, project)
        jvm_env = spark.quiet_jvm_env(path)
    else:  # after a Spark build the marts are views over its files: DuckDB writes tables
        spark.unlink_marts(path)
    from dbt.cli.main import dbtRunner

    done, total = 0, 0
    notes: list[str] = []

    def on_event(msg) -> None:
        nonlocal done, total
        name = msg.info.name
        if name == "JinjaLogInfo" and msg.data.msg not in notes:
            notes.append(msg.data.msg)
        if name in ("LogStartLine", "LogTestResult", "LogModelResult") and getattr(msg.data, "total", 0):
            total = max(total, msg.data.total)
        if name == "LogTestResult":
            total = max(total, msg.data.num_models)
        # an ephemeral model is compiled into the models that use it: dbt finishes it without
        # running it and leaves it out of its total
        if name == "NodeFinished" and on_progress is not None and msg.data.node_info.materialized != "ephemeral":
            done += 1
            on_progress(done, max(total, done), msg.data.node_info.node_name)

    profiles = project if (project / "profiles.yml").exists() else PROJECT_ROOT
    if target_dir:
        target, logs = target_dir, target_dir / "logs"
    else:
        target, logs = dbt_artifacts_dir("target", project), dbt_artifacts_dir("logs", project)
    args = ["build", *(["--log-level", "none"] if silent else ["--quiet"])]
    args += no_color_args()
    args += ["--project-dir", str(project), "--profiles-dir", str(profiles)]
    args += ["--target-path", str(target), "--log-path", str(logs)]
    if on_spark:
        args += ["--target", spark.TARGET]
    if passed_vars:
        args += ["--vars", json.dumps(passed_vars)]
    if full_refresh:
        args.append("--full-refresh")
    for selector in select:
        args += ["--select", selector]
    if select:
        # a selector that matches nothing stops dbt before it runs anything (by default
        # it warns and builds nothing, which would read as a clean build)
        args += ["--warn-error-options", json.dumps({"error": ["NoNodesForSelectionCriteria"]})]
    if not unit_tests:
        # unit tests check the SQL's logic on fixtures, not the data; `make test` runs them
        args += ["--exclude-resource-type", "unit_test"]
    if not data_tests:
        args += ["--exclude-resource-type", "test"]

    started = time.perf_counter()
    # dbt needs to write: take the file now (waiting for readers; failing here, with the lock
    # holder named, not deep inside dbt) and keep it until dbt is done with it
    # (Spark reads its own copies: the warehouse stays free until the marts are linked)
    holder = None if on_spark else hold(path)
    try:
        with dbt_on(path, jvm_env):
            # the kept parse is DuckDB's: its relations name the warehouse's catalog
            manifest = None if on_spark else parsed_manifest(project, profiles, path, passed_vars, target, logs, silent=silent)
            result = dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(args)
    finally:
        if holder is not None:
            holder.close()
    outcome = BuildOutcome(seconds=time.perf_counter() - started, notes=notes)
    if result.exception is not None:
        unmatched = re.findall(r"selection criterion '(.+?)' does not match any", str(result.exception))
        if unmatched:
            _drop_stage_tables(Warehouse(path), created)
            raise AlphaduckError(_unmatched_selectors_message(unmatched, target / "manifest.json"))
        outcome.failures.append(" ".join(str(result.exception).split()))
        return outcome
    skipped_with_cause: list[str] = []
    for node_result in result.result.results:
        kind, status = node_result.node.resource_type, str(node_result.status)
        message = " ".join(str(node_result.message or "").split())
        if status == "fail" and not on_spark:
            message += failing_columns(path, getattr(node_result.node, "compiled_code", None) or "")
        if status in ("error", "fail", "runtime error"):
            outcome.failures.append(f"{kind} {node_result.node.name}: {status}: {message}")
        elif status == "skipped":
            outcome.skipped += kind == "model"
            if message:
                skipped_with_cause.append(f"{kind} {node_result.node.name}: {status}: {message}")
        elif kind == "model":
            outcome.models += 1
        elif status == "warn":
            outcome.tests_warned += 1
        elif kind in ("test", "unit_test"):
            outcome.tests_passed += 1
    # dbt gives a skip a message ("compilation error in referenced ephemeral model") whenever
    # the skip passed through an ephemeral model, also when a data test upstream failed: it
    # is the cause only when nothing else failed (an ephemeral model that did not compile)
    if not outcome.failures:
        outcome.failures += skipped_with_cause
    if not result.success and not outcome.failures:
        outcome.failures.append(f"dbt build failed without naming a node (see {logs / 'dbt.log'})")
    if on_spark and outcome.ok:
        spark.link_marts(path)
    return outcome


def failing_columns(path: Path, test_sql: str) -> str:
    """" (close: 1 row)" for a failed test whose rows name their failing_column (a model's
    test of several columns: not_null_columns, positive_price, accepted_range), read from
    the warehouse after the build; "" for any other test, or when the rows cannot be read."""
    import duckdb

    from alphaduck.settings import DUCKDB_CONFIG

    if "failing_column" not in test_sql:
        return ""
    try:
        con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
        try:
            counts = con.execute(
                f"select failing_column, count(*) from ({test_sql}) as failed group by 1 order by 1"
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error:
        return ""
    return " (" + ", ".join(f"{column}: {n:,} row{'s' * (n != 1)}" for column, n in counts) + ")" if counts else ""


@contextlib.contextmanager
def dbt_on(path: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """In-process dbt pointed at warehouse ``path`` (profiles.yml reads $ALPHADUCK_DB), with
    ``env`` set too, the environment restored and the file let go of afterwards."""
    scoped = {DB_ENV_VAR: str(path), "DO_NOT_TRACK": "1", **(env or {})}
    saved = {key: os.environ.get(key) for key in scoped}
    os.environ.update(scoped)
    try:
        yield
    finally:
        _release_warehouse()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# dbt's partial parsing starts over whenever the warehouse path changes (the path is part of
# its profile hash), a full parse of this project takes ~6 s, and a process that builds
# several warehouses (`alphaduck check lookahead`, a notebook, the tests) would pay it each
# time. The parse depends only on the project's files and the vars, and on the catalog name
# dbt-duckdb gives the file (its stem), written into every relation: a process keeps the few
# manifests it parsed and hands dbt a fresh copy of the one that fits, renamed to the file's
# catalog (dbt marks the nodes it compiles in the manifest it runs, so it never gets the
# kept one). The copy goes through dbt's own partial-parse serialization: Manifest's pickling
# shifts its lookups by one field in dbt 1.11, and a deep copy breaks them. The serialized
# parse is also kept on disk beside the project's dbt artifacts (PARSE_CACHE), so a new
# process (each `alphaduck build`, `make demo`'s steps) starts from it instead of parsing.
_MANIFESTS: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
_MANIFESTS_KEPT = 4
PARSE_CACHE = "alphaduck-parse"  # folder under the project's dbt target folder
_PARSES_KEPT_ON_DISK = 8
_ENV_VAR_CALL = re.compile(rb"""env_var\(\s*['"]([^'"]+)['"]""")
_PROJECT_PATH_KEYS = ("model-paths", "macro-paths", "test-paths", "seed-paths", "snapshot-paths", "analysis-paths")


def project_fingerprint(project: Path, profiles: Path) -> str:
    """A hash of every file dbt parses in ``project`` (and the profiles.yml it reads) and of
    the environment variables they read with env_var(): equal fingerprints, equal parse. The
    warehouse's own variable is left out: it only names the catalog, which a kept parse is
    renamed to."""
    import hashlib

    import yaml

    digest = hashlib.blake2b(digest_size=16)
    config = yaml.safe_load((project / "dbt_project.yml").read_text()) or {}
    files = [project / "dbt_project.yml", profiles / "profiles.yml"]
    for key in _PROJECT_PATH_KEYS:
        for folder in config.get(key) or []:
            files += sorted(p for p in (project / folder).rglob("*") if p.is_file())
    read: set[str] = set()
    for file in files:
        if file.is_file():
            content = file.read_bytes()
            digest.update(str(file.relative_to(file.anchor)).encode() + b"\0" + content + b"\0")
            read.update(name.decode() for name in _ENV_VAR_CALL.findall(content))
    for name in sorted(read - {DB_ENV_VAR}):
        digest.update(f"{name}={os.environ.get(name)}\0".encode())
    return digest.hexdigest()


def parsed_manifest(
    project: Path, profiles: Path, path: Path, passed_vars: dict, target: Path, logs: Path, *, silent: bool = True
) -> object | None:
    """A private copy of the project's parsed manifest for a build of warehouse ``path`` with
    ``passed_vars``, parsed now if this process has not parsed it yet; None if the parse
    failed (dbt then parses again in the build and reports why)."""
    import json

    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder

    key = parse_key(project, profiles, passed_vars)
    kept = _MANIFESTS.get(key) or _read_kept_parse(project, key)
    if kept is None:
        args = ["parse", *(["--log-level", "none"] if silent else ["--quiet"]), *no_color_args()]
        args += ["--project-dir", str(project), "--profiles-dir", str(profiles)]
        args += ["--target-path", str(target), "--log-path", str(logs)]
        if passed_vars:
            args += ["--vars", json.dumps(passed_vars)]
        parsed = dbtRunner().invoke(args)
        if not parsed.success or parsed.result is None:
            return None
        kept = (path.stem, parsed.result.to_msgpack(extended_mashumaro_encoder))
        _write_kept_parse(project, key, *kept)
    _MANIFESTS[key] = kept
    _MANIFESTS.move_to_end(key)
    while len(_MANIFESTS) > _MANIFESTS_KEPT:
        _MANIFESTS.popitem(last=False)
    catalog, data = kept
    try:
        manifest = Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)
    except Exception:  # a kept parse this dbt cannot read: dbt parses in the build instead
        _MANIFESTS.pop(key, None)
        _kept_parse_file(project, key).unlink(missing_ok=True)
        return None
    return _in_catalog(manifest, catalog, path.stem)


def parse_key(project: Path, profiles: Path, passed_vars: dict) -> str:
    """What a parse of the project depends on: its files and profiles.yml, the vars, and the
    versions of dbt and its DuckDB adapter (a kept parse from another dbt is not read)."""
    import hashlib
    import importlib.metadata
    import json

    versions = [importlib.metadata.version(d) for d in ("dbt-core", "dbt-duckdb")]
    parts = [str(project.resolve()), str(profiles.resolve()), json.dumps(passed_vars, sort_keys=True),
             project_fingerprint(project, profiles), *versions]  # fmt: skip
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def _kept_parse_file(project: Path, key: str) -> Path:
    return dbt_artifacts_dir("target", project) / PARSE_CACHE / f"{key}.msgpack"


def _read_kept_parse(project: Path, key: str) -> tuple[str, bytes] | None:
    """(catalog it was parsed for, serialized manifest) kept on disk by an earlier process."""
    try:
        raw = _kept_parse_file(project, key).read_bytes()
        size = int.from_bytes(raw[:4], "big")
        return raw[4 : 4 + size].decode(), raw[4 + size :]
    except (OSError, UnicodeDecodeError):
        return None


def _write_kept_parse(project: Path, key: str, catalog: str, data: bytes) -> None:
    """Keep the parse for the next process (written whole, then renamed into place: a reader
    never sees half of it); the newest few are kept. A folder that cannot be written only
    means the next process parses again."""
    import tempfile

    file = _kept_parse_file(project, key)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        name = catalog.encode()
        with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".part", delete=False) as out:
            out.write(len(name).to_bytes(4, "big") + name + data)
        os.replace(out.name, file)
        kept = sorted(file.parent.glob("*.msgpack"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in kept[_PARSES_KEPT_ON_DISK:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _in_catalog(manifest, parsed_as: str, catalog: str):
    """``manifest`` (parsed for a file whose catalog is ``parsed_as``) with every relation in
    ``catalog`` instead. A relation left behind fails loudly: DuckDB knows no such catalog."""
    if parsed_as == catalog:
        return manifest
    old, new = f'"{parsed_as}".', f'"{catalog}".'
    disabled = [node for nodes in manifest.disabled.values() for node in nodes]
    for node in [*manifest.nodes.values(), *manifest.sources.values(), *disabled]:
        if getattr(node, "database", None) == parsed_as:
            node.database = catalog
        relation = getattr(node, "relation_name", None)
        if relation and relation.startswith(old):
            node.relation_name = new + relation[len(old) :]
    manifest.build_flat_graph()
    return manifest


def no_color_args() -> list[str]:
    """dbt colours its console lines unless told: $NO_COLOR (no-color.org) tells it."""
    return ["--no-use-colors"] if os.environ.get("NO_COLOR") else []


def _unmatched_selectors_message(unmatched: list[str], manifest: Path) -> str:
    """One line naming each selector that matched nothing, with the closest node names."""
    import difflib
    import json

    names: set[str] = set()
    if manifest.exists():
        nodes = json.loads(manifest.read_text()).get("nodes", {})
        kinds = ("model", "seed", "test")
        names = {node["name"] for node in nodes.values() if node.get("resource_type") in kinds}
    parts = []
    for selector in unmatched:
        bare = selector.strip("+@").split(":")[-1]
        hint = difflib.get_close_matches(bare, sorted(names), n=3)
        suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
        parts.append(f"--select {selector!r} matches no model or test{suggestion}")
    return "; ".join(parts) + ": nothing was built"


def _release_warehouse() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in this process after a run, so the
    stages that follow (and DuckDB's one-writer rule) can open it again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


@click.command(
    name="build",
    epilog="""\b
Examples:
  alphaduck build                      # incremental: only bars ingested since the last build
  alphaduck build --full-refresh       # recompute every feature
  alphaduck build --select stg_bars    # one model and its tests (dbt selection syntax)
  alphaduck build --var label_horizon=5 --var label_price=close
  alphaduck build --target spark       # the same project on a local Spark session (Java 17+)
""",
)
@options.db
@click.option("--full-refresh", is_flag=True, help="Recompute every feature instead of the new tail.")
@click.option("--select", "-s", multiple=True, metavar="SELECTOR", help="dbt selection (repeatable).")
@click.option("--unit-tests", is_flag=True, help="Also run the SQL unit tests (make test always does).")
@click.option("--calendar", help="exchange_calendars code [default: the one `alphaduck ingest` filled sessions for].")
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Set a dbt var for this build (repeatable), e.g. --var label_horizon=5; a changed feature var recomputes every row.")
@click.option("--target", "engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Engine dbt builds on: spark builds from Parquet copies of the sources into <warehouse>.spark/, "
                   "every model in full, and the warehouse's marts then read those files.")
@options.quiet
def build(db: str, full_refresh: bool, select: tuple[str, ...], unit_tests: bool, calendar: str | None,
          var_pairs: tuple[str, ...], engine: str, quiet: bool) -> None:  # fmt: skip
    """Refresh the features: `dbt build` (models, then their data tests) on the warehouse.

    Turns raw.bars into staging.stg_bars and marts.fct_features. Exits 1 when a model or a
    data test fails, naming each one.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alphaduck.progress import plain_wanted

    plain = plain_wanted(quiet)  # no terminal (CI, a log): a line per dbt node instead of the bar
    with Progress(
        TextColumn("dbt build"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), transient=True, disable=quiet or plain,
    ) as progress:  # fmt: skip
        task = progress.add_task("", total=None)

        def on_progress(done: int, total: int, node: str) -> None:
            progress.update(task, completed=done, total=total, description=node)
            if plain:
                click.echo(f"dbt build: {done}/{total} {node}", err=True)

        outcome = dbt_build(db, full_refresh=full_refresh, select=select, unit_tests=unit_tests, calendar=calendar,
                            dbt_vars=parse_vars(var_pairs), on_progress=on_progress, engine=engine)  # fmt: skip

    console = Console(stderr=not outcome.ok)
    if not quiet:
        for note in outcome.notes:
            console.print(note, highlight=False, markup=False, soft_wrap=True)
    if not quiet or not outcome.ok:
        console.print(
            f"dbt build: {outcome.models} models, {outcome.tests_passed} tests passed, "
            f"{outcome.tests_warned} warned, {len(outcome.failures)} failed, {outcome.skipped} models skipped "
            f"in {outcome.seconds:.1f} s "
            f"(warehouse {warehouse_path(db)}{', on spark' if engine != 'duckdb' else ''})",
            highlight=False,
            soft_wrap=True,
        )
    for failure in outcome.failures:
        console.print(f"  {failure}", highlight=False, markup=False, soft_wrap=True)
    if not outcome.ok:
        click.get_current_context().exit(EXIT_CHECKS_FAILED)
