"""`alphaduck check`: the data-quality gate (Great Expectations) over the warehouse."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from alphaduck import options
from alphaduck.errors import EXIT_CHECKS_FAILED
from alphaduck.settings import DATA_DOCS_DIR

SUITE_CHOICES = ("raw", "features", "drift", "predictions", "all")


def _reference(text: str | None) -> tuple[str, str] | None:
    """--reference START..END, or None: drift then takes each bar size's reference from the
    newest model trained on this warehouse (ml.train_runs)."""
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep or not start or not end:
        raise click.BadParameter(f"{text!r}: expected START..END, e.g. 2025-05-01..2025-12-31", param_hint="--reference")
    return start, end


def print_report(report, *, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not quiet:
        table = Table("check", "expectation", "failing", "threshold", "", title="quality gate", box=None)
        for r in report.results:
            table.add_row(
                f"{r.suite}.{r.check}", r.expectation, r.observed, r.threshold,
                "[green]PASS[/]" if r.success else "[bold red]FAIL[/]",
            )  # fmt: skip
        console.print(table)
        for note in report.notes:
            console.print(note, highlight=False, soft_wrap=True)
    for suite, why in report.unavailable.items():
        console.print(f"FAIL {suite}: cannot run: {why}", highlight=False, markup=False, soft_wrap=True)
    for r in report.failures():
        more = f" and {r.failing - len(r.examples):,} more" if r.failing > len(r.examples) else ""
        console.print(
            f"FAIL {r.suite}.{r.check}: {r.expectation} ({r.threshold}): {'; '.join(r.examples)}{more}",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    passed = sum(r.success for r in report.results)
    docs = f"; Data Docs: {report.data_docs}" if report.data_docs else ""
    cannot = f", {len(report.unavailable)} could not run" if report.unavailable else ""
    console.print(
        f"gate {'passed' if report.success else 'FAILED'}: {passed} passed, {len(report.failures())} failed{cannot} "
        f"in {report.seconds:.1f} s (run {report.run_id}){docs}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


@click.command(
    name="check",
    epilog="""\b
Examples:
  alphaduck check                                # every suite
  alphaduck check --suite raw --suite features   # the gate training runs, and the raw bars
  alphaduck check --suite drift --reference 2025-05-01..2025-12-31
  alphaduck check --threshold max_ks=0.3 --threshold max_age_days=3
\b
Suites: raw (OHLC consistency, positive prices, volume, unique keys, spikes, bars per
session against the calendar, zero-volume and large-move shares (across recorded splits),
stale symbols, and split-like gaps no corporate action explains),
features (row count = staging, no nulls after warm-up, bounded features in range,
labels null only at the tail), drift (per bar size: KS and mean shift of the last
sessions against the training window of the newest model trained on this warehouse at
that bar size, or --reference), predictions. A suite that cannot run (nothing built, no
model, no predictions) fails: the gate never passes on nothing.
""",
)
@options.db
@click.option("--suite", "suites", multiple=True, type=click.Choice(SUITE_CHOICES), default=["all"], show_default=True)
@click.option("--threshold", "overrides", multiple=True, metavar="NAME=VALUE", help="Change a threshold (repeatable).")
@click.option("--reference", metavar="START..END", help="Drift reference window [default: per bar size, the training window of the newest model in ml.train_runs].")
@click.option("--calendar", help="exchange_calendars code [default: the one the warehouse was ingested with].")
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path), default=DATA_DOCS_DIR, show_default=True, help="Where to write Data Docs HTML.")
@click.option("--no-docs", is_flag=True, help="Do not write Data Docs.")
@click.option("--no-record", is_flag=True, help="Do not record the run in ml.gate_runs / ml.gate_results.")
@options.quiet
def check(
    db: str, suites: tuple[str, ...], overrides: tuple[str, ...], reference: str | None, calendar: str,
    docs_dir: Path, no_docs: bool, no_record: bool, quiet: bool,
) -> None:  # fmt: skip
    """Run the data-quality gate; exit 1 if any expectation fails, naming the bad bars,
    symbols or features."""
    from rich.console import Console

    from quality.gate import run_gate
    from quality.suites import SUITES, Thresholds

    chosen = list(SUITES) if "all" in suites else list(dict.fromkeys(suites))
    thresholds = Thresholds().with_overrides(list(overrides))
    console = Console(stderr=True)
    with console.status("quality gate", spinner="dots") if not quiet else contextlib.nullcontext() as status:
        report = run_gate(
            db, chosen, thresholds=thresholds, calendar=calendar, docs_dir=None if no_docs else docs_dir,
            drift_reference=_reference(reference), record=not no_record,
            on_check=(lambda text: status.update(f"quality gate: {text}")) if not quiet else None,
        )  # fmt: skip
    print_report(report, quiet=quiet)
    if not report.success:
        click.get_current_context().exit(EXIT_CHECKS_FAILED)
