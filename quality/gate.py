"""Running the quality gate: frames from the warehouse, Great Expectations checkpoints over
them, a compact result per expectation, Data Docs HTML, and a record in the warehouse.

Great Expectations is imported here only (slow to import, and it phones home unless told
not to: ``suites`` sets GX_ANALYTICS_ENABLED=false before importing it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from alphaduck.calendars import warehouse_calendar
from alphaduck.contracts import (
    BARS,
    FEATURE_TABLE,
    GATE_RESULTS,
    GATE_RUNS,
    PREDICTIONS,
    STAGED_BARS,
    TRADING_SESSIONS,
)
from alphaduck.settings import DEFAULT_CALENDAR
from alphaduck.warehouse import Warehouse, relation_exists
from quality.suites import BUILDERS, SUITES, Check, SuiteUnavailable, Thresholds

SHOWN_FAILURES = 5  # failing rows named per expectation in the summary (all are in Data Docs)


@dataclass
class ExpectationResult:
    suite: str
    check: str
    expectation: str
    threshold: str
    success: bool
    failing: int  # rows that failed
    rows: int  # rows checked
    examples: list[str] = field(default_factory=list)  # the first failing rows, named

    @property
    def observed(self) -> str:
        return f"{self.failing:,}/{self.rows:,}"


@dataclass
class GateReport:
    run_id: str
    suites: list[str]
    results: list[ExpectationResult]
    unavailable: dict[str, str]  # suite (or suite.check) -> why it could not run: a failure
    notes: list[str]  # what a reader needs to interpret the results (drift windows)
    seconds: float
    data_docs: Path | None

    @property
    def success(self) -> bool:
        """Every expectation passed and every suite asked for could run: a check that cannot
        run never passes."""
        return all(r.success for r in self.results) and not self.unavailable

    def failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]


def _name_row(row: dict, keys: list[str]) -> str:
    """'AAPL 30min 2025-06-02 14:00 (high=1.0, low=2.0)': the row's keys, then what was tested."""
    named = []
    for key in keys:
        value = row.get(key)
        if hasattr(value, "strftime"):
            value = value.strftime("%Y-%m-%d %H:%M") if getattr(value, "hour", 0) or getattr(value, "minute", 0) else value.strftime("%Y-%m-%d")
        named.append(str(value))
    tested = [f"{k}={_short(v)}" for k, v in row.items() if k not in keys]
    return " ".join(named) + (f" ({', '.join(tested)})" if tested else "")


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _context(docs_dir: Path | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # in memory, no temporary docs site, no progress bars: ours is the only output
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="alphaduck",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _validate(context, check: Check) -> list[ExpectationResult]:
    import great_expectations as gx

    name = f"{check.suite}.{check.name}"
    source = context.data_sources.add_pandas(name)
    batch = source.add_dataframe_asset(check.name).add_batch_definition_whole_dataframe("frame")
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expect in check.expectations:
        suite.add_expectation(expect.expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if context.get_site_names() else [],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": check.keys},
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": check.frame})
    results = []
    for validation in run.run_results.values():
        for expect, outcome in zip(check.expectations, validation.results, strict=True):
            detail = outcome.result or {}
            failing = detail.get("unexpected_index_list") or []
            results.append(
                ExpectationResult(
                    suite=check.suite,
                    check=check.name,
                    expectation=expect.label,
                    threshold=expect.threshold,
                    success=bool(outcome.success),
                    failing=int(detail.get("unexpected_count") or 0),
                    rows=int(detail.get("element_count") or len(check.frame)),
                    examples=[_name_row(row, check.keys) for row in failing[:SHOWN_FAILURES]],
                )
            )
    return results


def run_gate(
    db: Warehouse | str | Path | None,
    suites: Sequence[str] = SUITES,
    *,
    thresholds: Thresholds | None = None,
    calendar: str | None = None,
    docs_dir: Path | None = None,
    drift_reference: tuple[str, str] | None = None,
    record: bool = True,
    on_check: Callable[[str], None] | None = None,
) -> GateReport:
    """Run the named suites on the warehouse; write Data Docs to ``docs_dir`` if given and
    the results to ml.gate_runs / ml.gate_results if ``record``. The calendar is the one
    given, else the one the warehouse's sessions were filled for."""
    started = time.perf_counter()
    thresholds = thresholds or Thresholds()
    warehouse = Warehouse.of(db)
    checks: list[Check] = []
    unavailable: dict[str, str] = {}
    with warehouse.reader() as con:
        calendar = calendar or warehouse_calendar(con) or DEFAULT_CALENDAR
        for suite in suites:
            if on_check:
                on_check(f"reading {suite}")
            missing = _missing_input(con, suite)
            if missing:
                unavailable[suite] = missing
                continue
            kwargs = {"reference": drift_reference} if suite == "drift" else {}
            try:
                built = BUILDERS[suite](con, thresholds, calendar, **kwargs)
            except SuiteUnavailable as exc:
                unavailable[suite] = str(exc)
                continue
            for check in built:
                if check.cannot_run:
                    unavailable[f"{check.suite}.{check.name}"] = check.cannot_run
                else:
                    checks.append(check)
            if not built:
                unavailable[suite] = "nothing to check"

    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
    context = _context(docs_dir)
    results: list[ExpectationResult] = []
    for check in checks:
        if on_check:
            on_check(f"validating {check.suite}.{check.name}")
        results.extend(_validate(context, check))
    if docs_dir is not None and checks:
        from quality.offline_docs import make_offline

        make_offline(docs_dir)  # GX's pages load their styles and scripts from CDNs: point them at copies
    report = GateReport(
        run_id=f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-gate-{uuid.uuid4().hex[:6]}",
        suites=list(suites),
        results=results,
        unavailable=unavailable,
        notes=[c.note for c in checks if c.note],
        seconds=time.perf_counter() - started,
        data_docs=(docs_dir / "index.html").resolve() if docs_dir is not None and checks else None,
    )
    if record:
        record_report(warehouse, report)
    return report


def _missing_input(con: duckdb.DuckDBPyConnection, suite: str) -> str | None:
    needs = {
        "raw": [BARS, TRADING_SESSIONS],
        "features": [FEATURE_TABLE, STAGED_BARS],
        "drift": [FEATURE_TABLE],
        "predictions": [PREDICTIONS],
    }[suite]
    absent = [t for t in needs if not relation_exists(con, t)]
    if not absent and suite == "predictions" and not con.execute(f"select count(*) from {PREDICTIONS}").fetchall()[0][0]:
        return f"{PREDICTIONS} is empty: run `alphaduck predict` first"
    if not absent:
        return None
    step = {
        "raw": "alphaduck ingest sample",
        "features": "alphaduck build",
        "drift": "alphaduck build",
        "predictions": "alphaduck predict",
    }[suite]
    return f"no {', '.join(absent)} yet: run `{step}` first"


GATE_DDL = f"""
create table if not exists {GATE_RUNS} (
    run_id varchar primary key,
    checked_at timestamptz not null,
    suites varchar[] not null,
    success boolean not null,
    seconds double not null,
    skipped json,
    data_docs varchar
);
create table if not exists {GATE_RESULTS} (
    run_id varchar not null,
    suite varchar not null,
    check_name varchar not null,
    expectation varchar not null,
    threshold varchar not null,
    success boolean not null,
    failing bigint not null,
    checked_rows bigint not null,
    examples varchar[]
);
"""


def record_report(warehouse: Warehouse, report: GateReport) -> None:
    """Append the run to ml.gate_runs and its results to ml.gate_results, in one transaction."""
    with warehouse.transaction() as con:
        con.execute("create schema if not exists ml")
        con.execute(GATE_DDL)
        con.execute(
            f"insert into {GATE_RUNS} values (?, ?, ?, ?, ?, ?, ?)",
            [
                report.run_id,
                datetime.now(UTC),
                report.suites,
                report.success,
                report.seconds,
                json.dumps(report.unavailable),
                str(report.data_docs) if report.data_docs else None,
            ],
        )
        con.executemany(
            f"insert into {GATE_RESULTS} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [report.run_id, r.suite, r.check, r.expectation, r.threshold, r.success, r.failing, r.rows, r.examples]
                for r in report.results
            ],
        )
