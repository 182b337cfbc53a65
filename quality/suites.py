"""The quality gate's expectation suites, in code (Great Expectations Core 1.x).

Each suite is a list of checks; a check is one frame from ``frames`` plus the expectations
it must meet and the columns that name a failing row (a bar, a symbol, a feature). The
thresholds live in one dataclass so `alphaduck check --threshold NAME=VALUE` can set any.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

# before great_expectations is imported anywhere: it phones home by default
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import sys  # noqa: E402

import duckdb  # noqa: E402

# GX imports pyspark whenever it is installed (alphaduck[spark]), which costs ~0.3 s and prints
# pyspark's warning about pandas 3 on stderr; the gate checks pandas frames and needs none of
# it: GX is imported seeing no pyspark (a later `import pyspark` works as usual)
_HIDE_PYSPARK = "pyspark" not in sys.modules
if _HIDE_PYSPARK:
    sys.modules["pyspark"] = None  # type: ignore[assignment]
try:
    import great_expectations.expectations as gxe  # noqa: E402
finally:
    if _HIDE_PYSPARK:
        del sys.modules["pyspark"]
import pandas as pd  # noqa: E402

from alphaduck.errors import AlphaduckError  # noqa: E402
from alphaduck.features import built_features  # noqa: E402
from alphaduck.pairs import split_pairs  # noqa: E402
from alphaduck.warehouse import relation_exists  # noqa: E402
from quality import frames  # noqa: E402

SUITES = ("raw", "features", "drift", "predictions")


@dataclass(frozen=True)
class Thresholds:
    """What the gate tolerates. Every field can be set with --threshold NAME=VALUE."""

    max_abs_return: float = 0.20  # a bar-to-bar move beyond this is a large move (a spike if it reverts)
    max_large_move_share: float = 0.001  # per symbol: share of bars with a large move
    max_zero_volume_share: float = 0.01  # per symbol: share of bars that traded nothing
    max_sessions_behind: int = 1  # per symbol: sessions its last bar trails the newest symbol's
    max_age_days: float | None = None  # per symbol: days since its last bar (live use; off for history)
    max_incomplete_session_share: float = 0.0  # share of full sessions with bars missing (or extra)
    split_tolerance: float = 0.03  # an opening gap this close to a common split's price ratio ...
    split_persist_sessions: int = 20  # ... that persists this many sessions is a split needing an action
    drift_latest_sessions: int = 20  # drift compares the last N sessions ...
    max_ks: float = 0.40  # ... with the reference window: KS statistic per feature at most this
    max_mean_shift_std: float = 1.0  # ... and its mean moved by at most this many reference std
    min_prediction_coverage: float = 1.0  # share of the scored span's feature rows with a prediction

    def with_overrides(self, pairs: list[str]) -> Thresholds:
        """Apply NAME=VALUE strings, refusing unknown names with a suggestion."""
        known = {f.name: f for f in fields(self)}
        changes = {}
        try:
            parsed = split_pairs(pairs, known, what="threshold")
        except ValueError as exc:
            raise AlphaduckError(f"--threshold {exc}") from exc
        for name, text in parsed:
            kind = int if known[name].type in ("int", int) else float
            try:
                changes[name] = None if text.lower() in ("none", "off") else kind(text)
            except ValueError as exc:
                raise AlphaduckError(f"--threshold {name}={text!r}: {text!r} is not a {kind.__name__}") from exc
        return replace(self, **changes)


@dataclass
class Expect:
    label: str  # what a person reads: "high >= low"
    threshold: str  # what passes: "every bar"
    expectation: gxe.Expectation


@dataclass
class Check:
    suite: str
    name: str  # the frame: bars, symbols, sessions, columns, ...
    frame: pd.DataFrame
    keys: list[str]  # columns that name a failing row
    expectations: list[Expect] = field(default_factory=list)
    note: str = ""  # shown beside the results
    cannot_run: str = ""  # why this check could not be made (the gate counts it as a failure)


class SuiteUnavailable(Exception):
    """A suite cannot run on this warehouse (the message says why and what to do)."""


def _between(column: str, *, low=None, high=None, mostly: float = 1.0, strict_low: bool = False) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, strict_min=strict_low, mostly=mostly
    )


def raw_checks(con: duckdb.DuckDBPyConnection, t: Thresholds, calendar: str) -> list[Check]:
    bars = frames.raw_bars(con, calendar=calendar, max_abs_return=t.max_abs_return)
    bar_checks = [
        Expect("high >= low", "every bar", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="low", or_equal=True)),
        Expect("high >= open", "every bar", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="open", or_equal=True)),
        Expect("high >= close", "every bar", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="close", or_equal=True)),
        Expect("open >= low", "every bar", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="open", column_B="low", or_equal=True)),
        Expect("close >= low", "every bar", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="close", column_B="low", or_equal=True)),
        *[Expect(f"{c} > 0", "every bar", _between(c, low=0, strict_low=True)) for c in ("open", "high", "low", "close")],
        Expect("volume >= 0", "every bar", _between("volume", low=0)),
        Expect("one bar per key", "unique", gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "bar_size", "ts"])),
        Expect(
            "no spike (jump+revert, wick)",
            f"|move| <= {t.max_abs_return:g}",
            gxe.ExpectColumnValuesToBeInSet(column="is_spike", value_set=[False]),
        ),
    ]  # fmt: skip
    symbol_checks = [
        Expect("share of large moves", f"<= {t.max_large_move_share:g}", _between("large_move_share", high=t.max_large_move_share)),
        Expect("share of zero volume", f"<= {t.max_zero_volume_share:g}", _between("zero_volume_share", high=t.max_zero_volume_share)),
        Expect("sessions behind newest", f"<= {t.max_sessions_behind}", _between("sessions_behind", high=t.max_sessions_behind)),
    ]  # fmt: skip
    if t.max_age_days is not None:
        symbol_checks.append(Expect("days since last bar", f"<= {t.max_age_days:g}", _between("age_days", high=t.max_age_days)))
    split_checks = [
        Expect(
            "no unexplained split",
            f"gap within {t.split_tolerance:g} of a split ratio, persisting {t.split_persist_sessions} sessions, needs an action",
            gxe.ExpectColumnValuesToBeInSet(column="unexplained_split", value_set=[False]),
        )
    ]
    session_checks = [
        Expect(
            "bars per session = calendar",
            f"share off <= {t.max_incomplete_session_share:g}",
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="actual_bars", column_B="expected_bars", mostly=1 - t.max_incomplete_session_share
            ),
        )
    ]
    return [
        Check("raw", "bars", bars, ["symbol", "bar_size", "ts"], bar_checks),
        Check("raw", "symbols", frames.raw_symbols(con, calendar=calendar, max_abs_return=t.max_abs_return), ["symbol", "bar_size"], symbol_checks),
        Check("raw", "sessions", frames.raw_sessions(con, calendar=calendar), ["symbol", "bar_size", "session_date"], session_checks),
        Check("raw", "splits", frames.raw_splits(con, calendar=calendar, tolerance=t.split_tolerance, persist_sessions=t.split_persist_sessions),
              ["symbol", "bar_size", "session_date", "likely_split", "actions_line"], split_checks),
    ]  # fmt: skip


def feature_checks(con: duckdb.DuckDBPyConnection, t: Thresholds, calendar: str) -> list[Check]:
    try:
        built = built_features(con)
    except AlphaduckError as exc:
        raise SuiteUnavailable(exc.format_message()) from exc
    table = [
        Expect(
            "rows = staging rows",
            "equal",
            gxe.ExpectColumnPairValuesToBeEqual(column_A="feature_rows", column_B="staging_rows"),
        )
    ]
    either_missing = "either_value_is_missing"
    columns = [
        Expect("no nulls after warm-up", "0 per feature", _between("nulls_after_warmup", high=0)),
        Expect(
            "min >= lower bound",
            "bounded features",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="min", column_B="lower_bound", or_equal=True, ignore_row_if=either_missing
            ),
        ),
        Expect(
            "max <= upper bound",
            "bounded features",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="upper_bound", column_B="max", or_equal=True, ignore_row_if=either_missing
            ),
        ),
    ]
    labels = [
        Expect("labels null only at tail", "0 per series", _between("label_nulls_before_tail", high=0)),
        Expect("no label past the data", "0 per series", _between("labels_in_tail", high=0)),
        Expect("direction null = return null", "0 per series", _between("direction_mismatches", high=0)),
    ]
    return [
        Check("features", "table", frames.feature_table(con), ["feature_rows"], table),
        Check("features", "columns", frames.feature_columns_summary(con), ["feature"], columns),
        Check("features", "labels", frames.feature_labels(con, built), ["symbol", "bar_size", "horizon"], labels),
    ]


def drift_checks(
    con: duckdb.DuckDBPyConnection, t: Thresholds, calendar: str, reference: tuple[str, str] | None = None
) -> list[Check]:
    """One check per bar size of the feature table: its latest sessions against its own
    reference window (a bar size without one cannot be checked, which fails the gate)."""
    bar_sizes = [r[0] for r in con.execute(f"select distinct bar_size from {frames.FEATURE_TABLE} order by 1").fetchall()]
    checks = []
    for bar_size in bar_sizes:
        name = f"features {bar_size}"
        try:
            windows = frames.drift_windows(con, bar_size, latest_sessions=t.drift_latest_sessions, reference=reference)
        except frames.DriftUnavailable as exc:
            checks.append(Check("drift", name, pd.DataFrame(), [], cannot_run=str(exc)))
            continue
        note = (
            f"drift {bar_size}: last {t.drift_latest_sessions} sessions {windows.latest[0]:%Y-%m-%d}..{windows.latest[1]:%Y-%m-%d} "
            f"against {windows.reference[0]:%Y-%m-%d}..{windows.reference[1]:%Y-%m-%d} ({windows.reference_source})"
        )
        checks.append(
            Check(
                "drift", name, frames.feature_drift(con, windows), ["bar_size", "feature"],
                [
                    Expect("KS statistic", f"<= {t.max_ks:g}", _between("ks", high=t.max_ks)),
                    Expect("mean shift in ref. std", f"<= {t.max_mean_shift_std:g}", _between("mean_shift_std", high=t.max_mean_shift_std)),
                ],
                note,
            )
        )  # fmt: skip
    return checks


def prediction_checks(con: duckdb.DuckDBPyConnection, t: Thresholds, calendar: str) -> list[Check]:
    if not relation_exists(con, frames.PREDICTIONS):
        return []
    rows = [
        Expect("0 <= proba_up <= 1", "every prediction", _between("proba_up", low=0, high=1)),
        Expect(
            "one per key and run",
            "unique",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["run_id", "symbol", "bar_size", "ts"]),
        ),
    ]
    coverage = [
        Expect(
            "coverage of scored span",
            f">= {t.min_prediction_coverage:g}",
            _between("coverage", low=t.min_prediction_coverage),
        )
    ]
    return [
        Check("predictions", "rows", frames.prediction_rows(con), ["run_id", "symbol", "ts"], rows),
        Check("predictions", "coverage", frames.prediction_coverage(con), ["run_id", "symbol", "bar_size"], coverage),
    ]


BUILDERS: dict[str, Callable[..., list[Check]]] = {
    "raw": raw_checks,
    "features": feature_checks,
    "drift": drift_checks,
    "predictions": prediction_checks,
}
