"""The frames the quality gate validates, read from the warehouse with SQL.

DuckDB does the heavy lifting (returns, per-session counts, per-feature null counts, ...)
so that Great Expectations validates compact pandas frames: one row per bar where a bad
bar must be named, one row per symbol, session or feature elsewhere. Every function takes
an open connection and returns DataFrames; none writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import PREDICTIONS, TRAIN_RUNS
from alphaduck.features import (
    BOUNDED,
    FEATURE_TABLE,
    LABEL_DIRECTION,
    LABEL_RETURN,
    BuiltFeatures,
    feature_columns,
)
from alphaduck.warehouse import columns_of, relation_exists

# -- raw.bars ----------------------------------------------------------------------------------------


def raw_bars(con: duckdb.DuckDBPyConnection, *, max_abs_return: float) -> pd.DataFrame:
    """Every bar with its close-to-close return and whether it looks like a bad tick.

    A spike is a close that jumps more than ``max_abs_return`` away from the previous close
    and comes back (the next close is within half that of the previous one), or a wick that
    reaches more than ``max_abs_return`` beyond the bar's body. A genuine gap does not come
    back, so it is not a spike (the per-symbol share of large moves watches those).
    """
    return con.execute(
        f"""
        with ordered as (
            select
                symbol, bar_size, ts, open, high, low, close, volume,
                close / lag(close) over w - 1 as ret,
                lead(close) over w / lag(close) over w - 1 as ret_around
            from raw.bars
            window w as (partition by symbol, bar_size order by ts)
        )
        select
            symbol, bar_size, ts, open, high, low, close, volume, ret,
            coalesce(abs(ret) > {max_abs_return} and abs(ret_around) < {max_abs_return / 2}, false)
                or high > greatest(open, close) * (1 + {max_abs_return})
                or low < least(open, close) * (1 - {max_abs_return}) as is_spike
        from ordered
        order by symbol, bar_size, ts
        """
    ).df()


def raw_symbols(con: duckdb.DuckDBPyConnection, *, calendar: str, max_abs_return: float) -> pd.DataFrame:
    """One row per (symbol, bar_size): share of zero-volume bars and of large moves, and how
    many sessions its last bar is behind the newest series of the same bar size."""
    return con.execute(
        f"""
        with series as (
            select
                symbol, bar_size, count(*) as bars, max(ts) as last_ts,
                avg(case when volume = 0 then 1.0 else 0.0 end) as zero_volume_share,
                avg(case when abs(ret) > {max_abs_return} then 1.0 else 0.0 end) as large_move_share
            from (
                select *, close / lag(close) over (partition by symbol, bar_size order by ts) - 1 as ret
                from raw.bars
            )
            group by symbol, bar_size
        ),
        newest as (
            select bar_size, max(last_ts) as newest_ts from series group by bar_size
        )
        select
            series.symbol, series.bar_size, series.bars, series.last_ts,
            series.zero_volume_share, series.large_move_share,
            -- sessions that opened after this series' last bar, up to the newest bar of any series
            (
                select count(*) from raw.trading_sessions as s
                where s.calendar = ? and s.open_utc > series.last_ts and s.open_utc <= newest.newest_ts
            ) as sessions_behind,
            epoch(now() - series.last_ts) / 86400.0 as age_days
        from series
        join newest on newest.bar_size = series.bar_size
        order by series.symbol, series.bar_size
        """,
        [calendar],
    ).df()


def raw_sessions(con: duckdb.DuckDBPyConnection, *, calendar: str) -> pd.DataFrame:
    """One row per (symbol, intraday bar_size, full-day session) strictly inside the
    series' span: regular-hours bars present and expected from the session's length.
    Half days are left out (vendors disagree on their last bar)."""
    return con.execute(
        """
        with bars as (
            select b.symbol, b.bar_size, b.ts, s.session_date, z.seconds
            from raw.bars as b
            join raw.bar_sizes as z on z.bar_size = b.bar_size
            join raw.trading_sessions as s
                on s.calendar = ? and b.ts >= s.open_utc and b.ts < s.close_utc
            where z.seconds < 86400
        ),
        series as (
            select symbol, bar_size, max(seconds) as seconds,
                   min(session_date) as first_session, max(session_date) as last_session
            from bars group by symbol, bar_size
        ),
        expected as (
            select series.symbol, series.bar_size, s.session_date,
                   cast(ceil(epoch(s.close_utc - s.open_utc) / series.seconds) as integer) as expected_bars
            from series
            join raw.trading_sessions as s
                on s.calendar = ? and s.session_date > series.first_session
                and s.session_date < series.last_session and not s.is_early_close
        ),
        actual as (
            select symbol, bar_size, session_date, count(*) as actual_bars from bars group by all
        )
        select e.symbol, e.bar_size, e.session_date, coalesce(a.actual_bars, 0) as actual_bars, e.expected_bars
        from expected as e
        left join actual as a using (symbol, bar_size, session_date)
        order by e.symbol, e.bar_size, e.session_date
        """,
        [calendar, calendar],
    ).df()


# -- marts.fct_features ------------------------------------------------------------------------------


def feature_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row: rows in fct_features against rows in stg_bars (dbt must not drop or add bars)."""
    return con.execute(
        f"select (select count(*) from {FEATURE_TABLE}) as feature_rows, "
        "(select count(*) from staging.stg_bars) as staging_rows"
    ).df()


def feature_columns_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per feature: nulls among warmed-up rows, min and max, and its bounds if it has any."""
    features = feature_columns(columns_of(con, FEATURE_TABLE))
    aggregates = ", ".join(f"count({c}), min({c})::double, max({c})::double" for c in features)
    total, *values = con.execute(
        f"select count(*), {aggregates} from {FEATURE_TABLE} where warmup_complete"
    ).fetchall()[0]
    rows = []
    for i, feature in enumerate(features):
        lo, hi = BOUNDED.get(feature, (np.nan, np.nan))
        # the dbt range tests' tolerance: an oscillator may reach its bound by a rounding error
        lo, hi = lo - 1e-9 * max(1.0, abs(lo)), hi + 1e-9 * max(1.0, abs(hi))
        rows.append((feature, total - values[3 * i], values[3 * i + 1], values[3 * i + 2], float(lo), float(hi)))
    return pd.DataFrame(rows, columns=["feature", "nulls_after_warmup", "min", "max", "lower_bound", "upper_bound"])


def feature_labels(con: duckdb.DuckDBPyConnection, built: BuiltFeatures) -> pd.DataFrame:
    """One row per series: labels must be null exactly where their future bars are missing,
    i.e. only on the series' last h + 1 bars (the fill bar and h more, h = the horizon of the
    recorded build), and the direction null exactly where the return is null or inside the
    dead band (an exact zero included)."""
    return con.execute(
        f"""
        with ranked as (
            select symbol, bar_size, {LABEL_RETURN} as label, {LABEL_DIRECTION} as direction,
                   row_number() over (partition by symbol, bar_size order by ts desc) as from_end
            from {FEATURE_TABLE}
        )
        select symbol, bar_size,
               count(*) filter (where label is null and from_end > $tail) as label_nulls_before_tail,
               count(*) filter (where label is not null and from_end <= $tail) as labels_in_tail,
               count(*) filter (
                   where (direction is null) <> (label is null or abs(label) <= $band)
               ) as direction_mismatches
        from ranked
        group by symbol, bar_size
        order by symbol, bar_size
        """,
        {"tail": built.label_lookahead, "band": built.dead_band},
    ).df()


# -- drift -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftWindows:
    bar_size: str
    reference: tuple[pd.Timestamp, pd.Timestamp]
    latest: tuple[pd.Timestamp, pd.Timestamp]
    reference_source: str  # "given" or the training run it came from


class DriftUnavailable(ValueError):
    """Drift cannot be measured for a bar size (no reference, or no rows in a window)."""


def drift_windows(
    con: duckdb.DuckDBPyConnection, bar_size: str, *, latest_sessions: int, reference: tuple[str, str] | None = None
) -> DriftWindows:
    """The latest ``latest_sessions`` sessions of ``bar_size``, and the reference window: the
    one given, else the training window of the newest model trained on this warehouse at this
    bar size (ml.train_runs). Raises DriftUnavailable, saying why, when either is missing."""
    sessions = [
        r[0]
        for r in con.execute(
            f"select distinct session_date from {FEATURE_TABLE} where warmup_complete and bar_size = ? order by 1",
            [bar_size],
        ).fetchall()
    ]
    if len(sessions) <= latest_sessions:
        raise DriftUnavailable(
            f"{bar_size}: drift needs more than {latest_sessions} warmed-up sessions, the feature table has {len(sessions)}"
        )
    latest = (pd.Timestamp(sessions[-latest_sessions]), pd.Timestamp(sessions[-1]))
    source = "given"
    if reference is None:
        row = None
        if relation_exists(con, TRAIN_RUNS):
            row = con.execute(
                f"select train_window, run_id from {TRAIN_RUNS} where bar_size = ? order by created_at desc limit 1",
                [bar_size],
            ).fetchall()
        if not row:
            raise DriftUnavailable(
                f"{bar_size}: no model trained on this warehouse at {bar_size} (ml.train_runs) to take the reference "
                "window from: run `alphaduck train`, or give --reference START..END"
            )
        (window, run_id), = row
        reference, source = (window[0], window[1]), f"training window of model {run_id}"
    reference = (pd.Timestamp(reference[0]), pd.Timestamp(reference[1]))
    rows = con.execute(
        f"select count(*) from {FEATURE_TABLE} where warmup_complete and bar_size = ? and session_date between ? and ?",
        [bar_size, reference[0].date(), reference[1].date()],
    ).fetchall()[0][0]
    if not rows:
        raise DriftUnavailable(
            f"{bar_size}: the reference window {reference[0]:%Y-%m-%d}..{reference[1]:%Y-%m-%d} ({source}) has no "
            "warmed-up feature rows in this warehouse"
        )
    return DriftWindows(bar_size, reference, latest, source)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def feature_drift(con: duckdb.DuckDBPyConnection, windows: DriftWindows, features: list[str] | None = None) -> pd.DataFrame:
    """One row per feature: KS statistic and mean shift (in reference standard deviations)
    of the latest window against the reference window, pooled over symbols of one bar size
    (bar sizes are never pooled: a 1-minute and a daily return are different quantities)."""
    features = features or feature_columns(columns_of(con, FEATURE_TABLE))
    select = ", ".join(f"{c}::double as {c}" for c in features)
    frames = {
        name: con.execute(
            f"select {select} from {FEATURE_TABLE} where warmup_complete and bar_size = ? and session_date between ? and ?",
            [windows.bar_size, lo.date(), hi.date()],
        ).df()
        for name, (lo, hi) in (("reference", windows.reference), ("latest", windows.latest))
    }
    rows = []
    for feature in features:
        ref = frames["reference"][feature].dropna().to_numpy()
        new = frames["latest"][feature].dropna().to_numpy()
        spread = ref.std() if len(ref) > 1 else 0.0
        shift = abs(new.mean() - ref.mean()) / spread if spread > 0 and len(new) else 0.0
        rows.append((windows.bar_size, feature, ks_statistic(ref, new), shift, len(ref), len(new)))
    return pd.DataFrame(rows, columns=["bar_size", "feature", "ks", "mean_shift_std", "reference_rows", "latest_rows"])


# -- ml.predictions ----------------------------------------------------------------------------------


def prediction_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        f"select run_id, symbol, bar_size, ts, proba_up from {PREDICTIONS} order by run_id, symbol, bar_size, ts"
    ).df()


def prediction_coverage(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per (run_id, symbol, bar_size): share of the warmed-up feature rows in the span
    the run scored that have a prediction."""
    return con.execute(
        f"""
        with spans as (
            select run_id, symbol, bar_size, min(ts) as first_ts, max(ts) as last_ts, count(distinct ts) as predicted
            from {PREDICTIONS} group by all
        )
        select spans.run_id, spans.symbol, spans.bar_size, any_value(spans.predicted) as predicted,
               count(f.ts) as feature_rows,
               any_value(spans.predicted) / greatest(count(f.ts), 1) as coverage
        from spans
        left join {FEATURE_TABLE} as f
            on f.symbol = spans.symbol and f.bar_size = spans.bar_size
            and f.ts between spans.first_ts and spans.last_ts and f.warmup_complete
        group by spans.run_id, spans.symbol, spans.bar_size
        order by spans.run_id, spans.symbol, spans.bar_size
        """
    ).df()
