"""`alphaduck lookahead`: Freqtrade's lookahead and recursive analysis, for the SQL features.

Two questions about every column of marts.fct_features but the keys and the labels
(``label_*``, the only columns allowed to look forward), so a column a user adds in a new
model is checked as soon as it reaches the table:

look-ahead  Does a value at bar t change when the bars after a cut (t <= cut) are removed?
            Then the column reads the future.
recursive   On the rows the build calls warm (``warmup_complete``), is every value within
            the tolerance of the value a longer history gives? Otherwise ``warmup_bars`` is
            too short for that column (an EMA, Wilder's RSI/ATR/ADX, anything that carries
            state from bar to bar).

Both are answered by one real ``dbt build`` on a scratch copy of the warehouse's raw
tables: the probed series, copies of them cut after a bar (``SYMBOL~cut{n}``) and started
at a later bar (``SYMBOL~from{n}``), built with the vars of the warehouse's last build,
then compared row by row with the whole series. The warehouse is only read; the scratch
file lives in a temporary directory that is removed afterwards.

Only the probed series are copied (the check costs what they cost, not what the
warehouse costs), so a feature that reads other series (a market index, a cross-sectional
rank) sees only the probed ones: probe the series it reads too (``--symbol SPY``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pandas as pd

from alphaduck import options
from alphaduck.contracts import BAR_KEY, BARS, FEATURE_TABLE
from alphaduck.errors import EXIT_CHECKS_FAILED, AlphaduckError
from alphaduck.features import START_ANCHORED, WARMUP_COLUMN, built_features, is_label
from alphaduck.settings import PROJECT_ROOT, project_vars, warehouse_path

CUT = "cut"  # a copy keeping bars [0, n]: the look-ahead check
START = "from"  # a copy keeping bars [n, end]: the recursive analysis
LOOKAHEAD = "look-ahead"
RECURSIVE = "recursive"

DEFAULT_CUTS = 5
DEFAULT_STARTS = 2
DEFAULT_SEED = 7
DEFAULT_TOLERANCE = 1e-9
SERIES_PER_BAR_SIZE = 3
# a late start must leave this many bars after its warm-up, or it would compare (almost) nothing
MIN_WARM_BARS = 100
WARMUP_VAR = "warmup_bars"
FEATURE_MODEL = FEATURE_TABLE.split(".")[1]
ROWS = "(rows)"  # the finding's "column" when a copy has other rows than the full series

OnProgress = Callable[[str, int | None, int | None], None]


# -- what is probed ---------------------------------------------------------------------------------


@dataclass
class Series:
    """One (symbol, bar_size) of raw.bars and its bar starts, in order."""

    symbol: str
    bar_size: str
    ts: pd.DatetimeIndex

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.bar_size}"


@dataclass(frozen=True)
class Probe:
    """A copy of a series under another symbol: cut after bar ``seq`` or started at it."""

    kind: str  # CUT or START
    symbol: str
    bar_size: str
    seq: int  # position of the bar in its series (0 = first bar)
    ts: pd.Timestamp  # that bar's start

    @property
    def name(self) -> str:
        return f"{self.symbol}~{self.kind}{self.seq}"

    def describe(self) -> str:
        where = "cut after" if self.kind == CUT else "history from"
        return f"{where} {self.ts:%Y-%m-%d %H:%M} UTC (bar {self.seq})"


def stratified(lo: int, hi: int, k: int, rng: np.random.Generator, *, log: bool) -> list[int]:
    """Up to ``k`` distinct integers in [lo, hi], one drawn from each of k equal strata of
    the range (of its logarithm when ``log``: as many picks among the first bars as among
    the last, so warm-up seeds are probed as well as settled values)."""
    if k <= 0 or hi < lo:
        return []
    if log:
        edges = np.exp(np.linspace(np.log(max(lo, 1)), np.log(hi + 1), k + 1))
    else:
        edges = np.linspace(lo, hi + 1, k + 1)
    picks = {int(np.clip(np.floor(rng.uniform(a, b)), lo, hi)) for a, b in zip(edges[:-1], edges[1:], strict=True)}
    return sorted(picks)


def plan_cuts(series: Series, *, cuts: int, at: Sequence[pd.Timestamp], rng: np.random.Generator) -> list[Probe]:
    """Where to cut a series: after the last bar at or before each ``at``, else ``cuts``
    bars drawn log-uniformly. A cut after the last bar would remove nothing: none there."""
    last = len(series.ts) - 2  # the latest cut that removes a bar
    if at:
        positions = [int(series.ts.searchsorted(t, side="right")) - 1 for t in at]
        positions = sorted({p for p in positions if 0 <= p <= last})
    else:
        positions = stratified(1, last, cuts, rng, log=True)
    return [Probe(CUT, series.symbol, series.bar_size, p, series.ts[p]) for p in positions]


def plan_starts(series: Series, *, starts: int, warmup_bars: int, rng: np.random.Generator) -> list[Probe]:
    """Where later-started copies begin: early enough that ``MIN_WARM_BARS`` warm bars follow."""
    latest = len(series.ts) - warmup_bars - MIN_WARM_BARS
    positions = stratified(1, latest, starts, rng, log=False)
    return [Probe(START, series.symbol, series.bar_size, p, series.ts[p]) for p in positions]


def choose_series(
    available: Sequence[tuple[str, str]],
    *,
    symbols: Sequence[str],
    bar_size: str | None,
    rng: np.random.Generator,
) -> list[tuple[str, str]]:
    """The (symbol, bar_size) series to probe: every bar size of each of ``symbols``, else a
    seeded sample of up to ``SERIES_PER_BAR_SIZE`` symbols per bar size."""
    import difflib

    pool = sorted(s for s in available if bar_size is None or s[1] == bar_size)
    if not pool:
        sizes = sorted({b for _, b in available})
        raise AlphaduckError(f"{BARS} has no bars at bar size {bar_size} (it has {', '.join(sizes) or 'none'})")
    if symbols:
        chosen = []
        for symbol in symbols:
            found = [s for s in pool if s[0] == symbol]
            if not found:
                hint = difflib.get_close_matches(symbol, sorted({s for s, _ in pool}), n=1)
                at = f" at bar size {bar_size}" if bar_size else ""
                raise AlphaduckError(
                    f"{BARS} has no bars for symbol {symbol}{at}" + (f"; did you mean {hint[0]}?" if hint else "")
                )
            chosen += found
        return sorted(set(chosen))
    chosen = []
    for size in sorted({b for _, b in pool}):
        names = [s for s, b in pool if b == size]
        picked = rng.choice(len(names), size=min(SERIES_PER_BAR_SIZE, len(names)), replace=False)
        chosen += [(names[i], size) for i in sorted(picked)]
    return chosen


# -- comparing --------------------------------------------------------------------------------------


def deviation(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """How far each value is from the reference: |a - b| relative to b, or absolute where
    |b| < 1 (an oscillator crossing 0); inf where only one side is null or two
    non-numbers differ; 0 where both are null."""
    a_null, b_null = values.isna().to_numpy(), reference.isna().to_numpy()
    numeric = all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (values, reference)
    )
    if numeric:
        a = values.to_numpy(dtype=float, na_value=np.nan)
        b = reference.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore", over="ignore"):
            dev = np.abs(a - b) / np.maximum(np.abs(b), 1.0)
        dev[a == b] = 0.0  # inf == inf
        dev[np.isnan(dev)] = np.inf
    else:
        equal = values.reset_index(drop=True).eq(reference.reset_index(drop=True)).fillna(False)
        dev = np.where(equal.to_numpy(dtype=bool), 0.0, np.inf)
    dev[a_null & b_null] = 0.0
    dev[a_null != b_null] = np.inf
    return dev


@dataclass(frozen=True)
class Finding:
    """A column of a copy that differs from the full series beyond the tolerance."""

    check: str
    column: str
    probe: Probe
    first_ts: pd.Timestamp
    rows: int
    max_deviation: float  # inf: null on one side only, or unequal non-numbers

    def describe(self) -> str:
        if np.isinf(self.max_deviation):
            how = "a value is null on one side only" if self.column != ROWS else "rows missing or added"
        else:
            how = f"off by up to {self.max_deviation:.2e}"
        return (
            f"{self.check}: {self.column} of {self.probe.symbol} {self.probe.bar_size}, {self.probe.describe()}: "
            f"first differs at {self.first_ts:%Y-%m-%d %H:%M} UTC; {self.rows:,} row(s), {how}"
        )


def deviations(copy: pd.DataFrame, full: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The deviation of every column (rows of the result) of a copy from the full series,
    on aligned rows (same ts, same order)."""
    return np.array([deviation(copy[c], full[c]) for c in columns]).reshape(len(columns), len(copy))


@dataclass
class Check:
    """What one of the two checks compared, and found."""

    name: str
    columns: list[str] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    rows: int = 0
    max_deviation: float = 0.0
    worst_column: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # recursive: bars of history each column needs before it stays within the tolerance
    history_needed: dict[str, int] = field(default_factory=dict)

    def record(self, probe: Probe, dev: np.ndarray, stamps: pd.Series, tolerance: float) -> None:
        """Count the compared rows, keep the largest deviation within the tolerance and a
        finding for each column beyond it (``dev``: one row per column, as ``deviations``)."""
        self.rows += dev.shape[1]
        stamps = stamps.reset_index(drop=True)
        for column, values in zip(self.columns, dev, strict=True):
            beyond = values > tolerance
            within = values[~beyond]
            if within.size and within.max() > self.max_deviation:
                self.max_deviation, self.worst_column = float(within.max()), column
            if beyond.any():
                first = stamps[int(np.argmax(beyond))]
                self.findings.append(Finding(self.name, column, probe, first, int(beyond.sum()), float(values.max())))

    def rows_differ(self, probe: Probe, copy_ts: pd.Series, expected_ts: pd.Series) -> None:
        """A copy whose rows are not the full series' rows: which rows exist depends on the
        bars that were removed."""
        extra = np.setxor1d(copy_ts.to_numpy(), expected_ts.to_numpy())
        if extra.size:
            self.findings.append(Finding(self.name, ROWS, probe, pd.Timestamp(extra.min()), int(extra.size), np.inf))


def compare_cut(check: Check, probe: Probe, full: pd.DataFrame, copy: pd.DataFrame, tolerance: float) -> None:
    """Look-ahead: the copy cut after ``probe.ts`` against the full series' rows up to it."""
    expected = full[full["ts"] <= probe.ts]
    check.rows_differ(probe, copy["ts"], expected["ts"])
    both = copy[copy["ts"].isin(expected["ts"])].reset_index(drop=True)
    reference = expected[expected["ts"].isin(both["ts"])].reset_index(drop=True)
    check.record(probe, deviations(both, reference, check.columns), both["ts"], tolerance)


def compare_start(check: Check, probe: Probe, full: pd.DataFrame, copy: pd.DataFrame, tolerance: float) -> None:
    """Recursive analysis: the copy started at ``probe.ts`` against the full series, on the
    rows the copy says are warm; and how many bars each column needed to settle."""
    check.rows_differ(probe, copy["ts"], full.loc[full["ts"] >= probe.ts, "ts"])
    both = copy[copy["ts"].isin(full["ts"])].reset_index(drop=True)
    reference = full.set_index("ts").loc[both["ts"]].reset_index()
    dev = deviations(both, reference, check.columns)
    warm = both[WARMUP_COLUMN].fillna(False).to_numpy(dtype=bool)
    check.record(probe, dev[:, warm], both["ts"][warm], tolerance)
    # the history a column needs: the bars up to its last value beyond the tolerance, warm or not
    for column, beyond in zip(check.columns, dev > tolerance, strict=True):
        needed = int(len(beyond) - np.argmax(beyond[::-1])) if beyond.any() else 0
        check.history_needed[column] = max(check.history_needed.get(column, 0), needed)


# -- the scratch build ------------------------------------------------------------------------------


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def copy_to_scratch(db: str | Path | None, scratch: Path, series: Sequence[Series], probes: Sequence[Probe]) -> int:
    """Write the scratch warehouse: every raw table of ``db`` (rows of symbol-keyed tables
    repeated under each copy's name), with raw.bars holding only the probed series and
    their cut / late-started copies. Returns the bars written."""
    from alphaduck.warehouse import CATALOG, connect

    con = connect(db, read_only=True)
    try:
        con.execute(f"attach '{_quoted(scratch)}' as scratch")
        con.execute("create schema scratch.raw")
        con.execute("create temp table probed (symbol varchar, bar_size varchar)")
        con.executemany("insert into probed values (?, ?)", [[s.symbol, s.bar_size] for s in series])
        con.execute("create temp table copies (symbol varchar, bar_size varchar, name varchar, first_seq bigint, last_seq bigint)")
        con.executemany(
            "insert into copies values (?, ?, ?, ?, ?)",
            [[p.symbol, p.bar_size, p.name, 0 if p.kind == CUT else p.seq, p.seq if p.kind == CUT else None] for p in probes],
        )
        schema, bars = BARS.split(".")
        tables = con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ? order by 1",
            [CATALOG, schema],
        ).fetchall()
        for (table,) in tables:
            source, target = f"{CATALOG}.{schema}.{table}", f"scratch.{schema}.{table}"
            columns = {c for (c,) in con.execute(f"select column_name from (describe {source})").fetchall()}
            if table == bars:
                keys = " and ".join(f"b.{k} = p.{k}" for k in BAR_KEY[:2])
                con.execute(f"create table {target} as select b.* from {source} as b semi join probed as p on {keys}")
                con.execute(
                    f"""
                    insert into {target}
                    with numbered as (
                        select b.*, row_number() over (partition by b.symbol, b.bar_size order by b.ts) - 1 as probe_seq
                        from {source} as b semi join copies as p on {keys}
                    )
                    select b.* exclude (probe_seq) replace (c.name as symbol)
                    from numbered as b
                    join copies as c on b.symbol = c.symbol and b.bar_size = c.bar_size
                    where b.probe_seq >= c.first_seq and (c.last_seq is null or b.probe_seq <= c.last_seq)
                    """
                )
            else:
                con.execute(f"create table {target} as select * from {source}")
                if "symbol" in columns:
                    # the copies are the same instrument: its actions, listing, ... apply to them
                    con.execute(
                        f"insert into {target} select t.* replace (c.name as symbol) from {source} as t "
                        "join (select distinct symbol, name from copies) as c on t.symbol = c.symbol"
                    )
        return con.execute(f"select count(*) from scratch.{BARS}").fetchall()[0][0]
    finally:
        con.close()


def check_vars(recorded: dict, project: Path, overrides: dict | None) -> tuple[dict, dict]:
    """The vars to pass to the scratch build, and the vars it will then use.

    `alphaduck build` builds the project at the repo root, so the recorded vars that differ
    from that project's dbt_project.yml are the build's ``--var`` overrides: they are passed
    again, on top of the checked project's own vars (a copy of the project with an edited
    dbt_project.yml is checked with its edits), then ``overrides``.
    """
    built_with = {k: v for k, v in recorded.items() if project_vars().get(k) != v}
    passed = built_with | dict(overrides or {})
    return passed, project_vars(project) | passed


def resolve_project(project_dir: str | Path | None) -> Path:
    project = Path(project_dir or PROJECT_ROOT).resolve()
    if not (project / "dbt_project.yml").is_file():
        raise AlphaduckError(f"--project-dir {project}: no dbt_project.yml there")
    return project


# -- the whole check --------------------------------------------------------------------------------


@dataclass
class Report:
    """What `alphaduck lookahead` compared and found."""

    series: list[Series]
    lookahead: Check
    recursive: Check
    skipped: list[str]  # columns the recursive analysis leaves out (START_ANCHORED)
    vars: dict  # the scratch build's recorded vars
    passed_vars: dict  # what was passed on top of the project's own
    project: Path
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return self.lookahead.findings + self.recursive.findings

    @property
    def ok(self) -> bool:
        return not self.findings


def _read_series(con, chosen: Iterable[tuple[str, str]]) -> list[Series]:
    series = []
    for symbol, bar_size in chosen:
        stamps = con.execute(
            f"select ts from {BARS} where symbol = ? and bar_size = ? order by ts", [symbol, bar_size]
        ).df()["ts"]
        series.append(Series(symbol, bar_size, pd.DatetimeIndex(stamps)))
    return series


def lookahead_check(
    db: str | Path | None,
    *,
    project_dir: str | Path | None = None,
    symbols: Sequence[str] = (),
    bar_size: str | None = None,
    cuts: int = DEFAULT_CUTS,
    at: Sequence[pd.Timestamp] = (),
    starts: int = DEFAULT_STARTS,
    seed: int = DEFAULT_SEED,
    tolerance: float = DEFAULT_TOLERANCE,
    dbt_vars: dict | None = None,
    on_progress: OnProgress | None = None,
) -> Report:
    """Rebuild the features of a few series cut short and started late, in one scratch
    ``dbt build``, and compare them with the whole series (see the module docstring).

    Raises AlphaduckError when the check cannot run: no warehouse, no features built,
    unknown symbols, nothing to cut, a project that does not build.
    """
    from alphaduck.build import dbt_build
    from alphaduck.warehouse import connect, relation_exists

    progress = on_progress or (lambda step, done, total: None)
    started = time.perf_counter()
    project = resolve_project(project_dir)
    rng = np.random.default_rng(seed)

    progress("reading the warehouse", None, None)
    con = connect(db, read_only=True)
    try:
        if not relation_exists(con, FEATURE_TABLE):
            raise AlphaduckError(f"warehouse {warehouse_path(db)} has no {FEATURE_TABLE}: run `alphaduck build` first")
        recorded = built_features(con).vars
        available = [tuple(r) for r in con.execute(f"select distinct symbol, bar_size from {BARS}").fetchall()]
        chosen = choose_series(available, symbols=[s.upper() for s in symbols], bar_size=bar_size, rng=rng)
        series = _read_series(con, chosen)
    finally:
        con.close()

    passed, effective = check_vars(recorded, project, dbt_vars)
    if WARMUP_VAR not in effective:
        raise AlphaduckError(f"{project / 'dbt_project.yml'} defines no var {WARMUP_VAR}: the recursive analysis needs it")
    warmup_bars = int(effective[WARMUP_VAR])
    cut_probes = [p for s in series for p in plan_cuts(s, cuts=cuts, at=at, rng=rng)]
    start_probes = [p for s in series for p in plan_starts(s, starts=starts, warmup_bars=warmup_bars, rng=rng)]
    if not cut_probes:
        raise AlphaduckError(
            "nothing to cut: " + ("no --at falls between the first and the last bar of "
                                  if at else "fewer than 3 bars in ") + ", ".join(s.label for s in series)
        )  # fmt: skip
    if not start_probes:
        longest = max(series, key=lambda s: len(s.ts))
        raise AlphaduckError(
            f"no probed series is long enough for the recursive analysis: a late start needs "
            f"{WARMUP_VAR} ({warmup_bars}) + {MIN_WARM_BARS} bars after it; the longest, "
            f"{longest.label}, has {len(longest.ts)}"
        )
    clashes = {p.name for p in cut_probes + start_probes} & {s.symbol for s in series}
    if clashes:
        raise AlphaduckError(f"a probed symbol is named like a copy: {', '.join(sorted(clashes))}")

    with tempfile.TemporaryDirectory(prefix="alphaduck-lookahead-") as tmp:
        scratch = Path(tmp) / "scratch.duckdb"
        progress(f"copying {len(series)} series and {len(cut_probes) + len(start_probes)} copies", None, None)
        copy_to_scratch(db, scratch, series, cut_probes + start_probes)
        outcome = dbt_build(
            scratch, full_refresh=True, select=(f"+{FEATURE_MODEL}",), data_tests=False, dbt_vars=passed,
            project_dir=project, target_dir=Path(tmp) / "target", silent=True,
            on_progress=lambda done, total, node: progress(f"dbt build: {node}", done, total),
        )  # fmt: skip
        if not outcome.ok:
            raise AlphaduckError(f"the scratch build of {project} failed: {outcome.failures[0]}")
        progress("reading the rebuilt features", None, None)
        con = connect(scratch, read_only=True)
        try:
            if not relation_exists(con, FEATURE_TABLE):
                raise AlphaduckError(f"{project} built no {FEATURE_TABLE}: it has no {FEATURE_MODEL} model")
            features = con.execute(f"select * from {FEATURE_TABLE} order by symbol, bar_size, ts").df()
            built_vars = built_features(con).vars
        finally:
            con.close()

    keys = set(BAR_KEY)
    checked = [c for c in features.columns if c not in keys and not is_label(c)]
    if WARMUP_COLUMN not in checked:
        raise AlphaduckError(f"{FEATURE_TABLE} has no {WARMUP_COLUMN} column: the recursive analysis needs it")
    lookahead = Check(LOOKAHEAD, columns=checked)
    # the flag itself is what the recursive analysis tests, not a value to settle
    recursive = Check(RECURSIVE, columns=[c for c in checked if c not in START_ANCHORED | {WARMUP_COLUMN}])
    by_series = {key: frame.reset_index(drop=True) for key, frame in features.groupby(["symbol", "bar_size"], sort=False)}
    empty = features.iloc[:0]
    probes = [(compare_cut, lookahead, p) for p in cut_probes] + [(compare_start, recursive, p) for p in start_probes]
    for done, (compare, check, probe) in enumerate(probes, start=1):
        progress(f"comparing: {probe.name}", done, len(probes))
        full = by_series.get((probe.symbol, probe.bar_size), empty)
        compare(check, probe, full, by_series.get((probe.name, probe.bar_size), empty), tolerance)
        check.probes.append(probe)
    if lookahead.rows == 0 and not lookahead.findings:
        raise AlphaduckError(f"the look-ahead check compared no rows: {FEATURE_TABLE} has none for the cut copies")
    if recursive.rows == 0 and not recursive.findings:
        raise AlphaduckError(
            f"the recursive analysis compared no rows: no late-started copy has a row where {WARMUP_COLUMN} is true"
        )
    return Report(
        series=series, lookahead=lookahead, recursive=recursive,
        skipped=[c for c in checked if c in START_ANCHORED], vars=built_vars, passed_vars=passed,
        project=project, seconds=time.perf_counter() - started,
    )  # fmt: skip


# -- the command ------------------------------------------------------------------------------------


def _timestamp(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[pd.Timestamp]:
    stamps = []
    for value in values:
        try:
            stamp = pd.Timestamp(value)
        except ValueError as exc:
            raise click.BadParameter(f"cannot parse {value!r}: use 2025-09-03T15:00 (UTC) or an ISO offset",
                                     ctx=ctx, param=param) from exc  # fmt: skip
        stamps.append(stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC"))
    return stamps


class _Reporter:
    """Progress on the terminal (rich), plain lines elsewhere (a log, CI), nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet, self.last, self.progress, self.task = quiet, None, None, None

    def __enter__(self) -> _Reporter:
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("lookahead"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("{task.description}"), transient=True, console=self.console)  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task("", total=None)
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, step: str, done: int | None, total: int | None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=step, completed=done or 0, total=total)
        elif not self.quiet and step.split(":")[0] != self.last:
            self.console.print(f"lookahead: {step.split(':')[0]}", highlight=False, soft_wrap=True)
        self.last = step.split(":")[0]


def _print_findings(report: Report) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    findings = report.findings
    columns = sorted({(f.check, f.column) for f in findings})
    console.print(
        f"lookahead: {len(columns)} column(s) failed: {', '.join(f'{c} ({check})' for check, c in columns)}",
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip
    for check, column in columns:
        mine = [f for f in findings if (f.check, f.column) == (check, column)]
        more = f" (and {len(mine) - 1} more cut(s)/series)" if len(mine) > 1 else ""
        console.print(f"  {mine[0].describe()}{more}", highlight=False, markup=False, soft_wrap=True)
    if report.recursive.findings:
        column, bars = max(report.recursive.history_needed.items(), key=lambda kv: kv[1])
        console.print(
            f"  the columns need up to {bars} bars of history ({column}) before they settle within the tolerance; "
            f"{WARMUP_VAR} is {report.vars.get(WARMUP_VAR)}",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip


def _print_summary(report: Report, tolerance: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("check", "copies", "columns", "rows compared", "max deviation", "in column", box=None,
                  title=f"lookahead: no finding (tolerance {tolerance:g})", title_justify="left")  # fmt: skip
    for check in (report.lookahead, report.recursive):
        table.add_row(check.name, str(len(check.probes)), str(len(check.columns)), f"{check.rows:,}",
                      f"{check.max_deviation:.1e}", check.worst_column or "-")  # fmt: skip
    console.print(table)
    for s in report.series:
        cuts = [p.seq for p in report.lookahead.probes if (p.symbol, p.bar_size) == (s.symbol, s.bar_size)]
        froms = [p.seq for p in report.recursive.probes if (p.symbol, p.bar_size) == (s.symbol, s.bar_size)]
        console.print(f"  {s.label} ({len(s.ts):,} bars): cut after bars {', '.join(map(str, cuts)) or '-'}; "
                      f"history from bars {', '.join(map(str, froms)) or '-'}", highlight=False, soft_wrap=True)  # fmt: skip
    needed = report.recursive.history_needed
    if needed:
        column, bars = max(needed.items(), key=lambda kv: kv[1])
        console.print(f"  every column settles within {bars} bars of history ({column}); "
                      f"{WARMUP_VAR} is {report.vars.get(WARMUP_VAR)}", highlight=False, soft_wrap=True)  # fmt: skip
    if report.skipped:
        console.print(f"  not asked to settle: {', '.join(report.skipped)} (they count from a series' first bar)",
                      highlight=False, soft_wrap=True)  # fmt: skip
    overrides = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(report.passed_vars.items()))
    console.print(f"  vars: {report.project / 'dbt_project.yml'}" + (f" overridden by {overrides}" if overrides else "")
                  + f"; {report.seconds:.1f} s", highlight=False, soft_wrap=True)  # fmt: skip


@click.command(
    name="lookahead",
    epilog="""\b
Examples:
  alphaduck lookahead                                  # 3 symbols per bar size, 5 cuts each
  alphaduck lookahead --symbol AAPL --symbol SPY --cuts 10 --seed 3
  alphaduck lookahead --at 2025-09-03T15:00 --at 2026-01-05T14:30   # cut there (UTC)
  alphaduck lookahead --project-dir ../my-features     # a changed copy of the dbt project
  alphaduck lookahead --var warmup_bars=300            # would a shorter warm-up do?
""",
)
@options.db
@click.option("--symbol", "symbols", multiple=True, metavar="SYMBOL",
              help="Series to probe (repeatable; every bar size of it) [default: up to 3 symbols per bar size].")  # fmt: skip
@options.bar_size(help="Probe only this bar size.")
@click.option("--cuts", default=DEFAULT_CUTS, show_default=True, type=click.IntRange(1, 100),
              help="Cut points per series, seeded, spread log-uniformly from the first bars to the last.")  # fmt: skip
@click.option("--at", "at", multiple=True, metavar="TS", callback=_timestamp,
              help="Cut after the last bar at or before TS instead (repeatable; naive = UTC).")  # fmt: skip
@click.option("--starts", default=DEFAULT_STARTS, show_default=True, type=click.IntRange(1, 20),
              help="Later starts per series for the recursive analysis.")  # fmt: skip
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Seed of the symbol sample, cuts and starts.")
@click.option("--tolerance", default=DEFAULT_TOLERANCE, show_default=True, type=click.FloatRange(0),
              help="Largest deviation that counts as equal: relative, or absolute where |value| < 1.")  # fmt: skip
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="dbt project to check [default: the repo's own].")  # fmt: skip
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Check with this dbt var instead of the one the warehouse was built with (repeatable).")  # fmt: skip
@options.quiet
def lookahead(db: str, symbols: tuple[str, ...], bar_size, cuts: int, at: list[pd.Timestamp], starts: int,
              seed: int, tolerance: float, project_dir: Path | None, var_pairs: tuple[str, ...], quiet: bool) -> None:  # fmt: skip
    """Prove the features do not look ahead and are settled when warmup_complete says so.

    Rebuilds the features of a few series cut after K bars and started later, in one
    scratch `dbt build` (the warehouse is only read), and compares every column of
    marts.fct_features but the keys and label_* with the whole series. Exits 1 naming each
    column whose values at t <= cut change when later bars are removed, and each column
    still off by more than the tolerance on warm rows; 2 when the check cannot run.
    """
    from alphaduck.build import parse_vars

    overrides = parse_vars(var_pairs)
    with _Reporter(quiet) as reporter:
        report = lookahead_check(
            db, project_dir=project_dir, symbols=symbols, bar_size=bar_size.code if bar_size else None, cuts=cuts,
            at=at, starts=starts, seed=seed, tolerance=tolerance, dbt_vars=overrides, on_progress=reporter,
        )  # fmt: skip
    if not report.ok:
        _print_findings(report)
        click.get_current_context().exit(EXIT_CHECKS_FAILED)
    if not quiet:
        _print_summary(report, tolerance)
