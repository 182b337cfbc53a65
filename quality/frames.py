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

from alphaduck.contracts import CORPORATE_ACTIONS, PREDICTIONS, TRAIN_RUNS
from alphaduck.features import (
    BOUNDED,
    FEATURE_TABLE,
    BuiltFeatures,
    feature_columns,
    label_column,
)
from alphaduck.warehouse import columns_of, relation_exists

# -- raw.bars ----------------------------------------------------------------------------------------


def _returns(con: duckdb.DuckDBPyConnection, calendar: str) -> str:
    """CTEs ending in `returns`: every raw bar with its close-to-close return (ret) and the
    return to the next close (ret_around), both measured across a split recorded in
    raw.corporate_actions at the new share count (a split that is explained is not a move)."""
    from alphaduck.calendars import calendar_timezone

    tz = calendar_timezone(calendar).replace("'", "''")
    splits = (
        f"select symbol, ex_date, exp(sum(ln(split_ratio))) as ratio from {CORPORATE_ACTIONS} "
        "where kind = 'split' group by symbol, ex_date"
        if relation_exists(con, CORPORATE_ACTIONS)
        else "select null::varchar as symbol, null::date as ex_date, null::double as ratio where false"
    )
    return f"""
        dated as (
            select
                symbol, bar_size, ts, open, high, low, close, volume,
                timezone('{tz}', ts)::date as trade_date,
                lag(timezone('{tz}', ts)::date) over w as previous_date,
                lag(close) over w as previous_close,
                lead(close) over w as next_close
            from raw.bars
            window w as (partition by symbol, bar_size order by ts)
        ),
        splits as ({splits}),
        returns as (
            select
                dated.*,
                -- the previous close in today's shares: divided by the ratio of a split that
                -- takes effect with this bar (the first bar of its ex-date)
                close / (dated.previous_close / coalesce(
                    case when dated.trade_date <> dated.previous_date then splits.ratio end, 1.0
                )) - 1 as ret,
                next_close / (dated.previous_close / coalesce(
                    case when dated.trade_date <> dated.previous_date then splits.ratio end, 1.0
                )) - 1 as ret_around
            from dated
            left join splits on splits.symbol = dated.symbol and splits.ex_date = dated.trade_date
        )"""


def raw_bars(con: duckdb.DuckDBPyConnection, *, calendar: str, max_abs_return: float) -> pd.DataFrame:
    """Every bar with its close-to-close return and whether it looks like a bad tick.

    A spike is a close that jumps more than ``max_abs_return`` away from the previous close
    and comes back (the next close is within half that of the previous one), or a wick that
    reaches more than ``max_abs_return`` beyond the bar's body. A genuine gap does not come
    back, so it is not a spike (the per-symbol share of large moves watches those). Returns
    are measured across recorded splits (raw.corporate_actions).
    """
    return con.execute(
        f"""
        with {_returns(con, calendar)}
        select
            symbol, bar_size, ts, open, high, low, close, volume, ret,
            coalesce(abs(ret) > {max_abs_return} and abs(ret_around) < {max_abs_return / 2}, false)
                or high > greatest(open, close) * (1 + {max_abs_return})
                or low < least(open, close) * (1 - {max_abs_return}) as is_spike
        from returns
        order by symbol, bar_size, ts
        """
    ).df()


def raw_symbols(con: duckdb.DuckDBPyConnection, *, calendar: str, max_abs_return: float) -> pd.DataFrame:
    """One row per (symbol, bar_size): share of zero-volume bars and of large moves (across
    recorded splits), and how many sessions its last bar is behind the newest series of the
    same bar size."""
    return con.execute(
        f"""
        with {_returns(con, calendar)},
        series as (
            select
                symbol, bar_size, count(*) as bars, max(ts) as last_ts,
                avg(case when volume = 0 then 1.0 else 0.0 end) as zero_volume_share,
                avg(case when abs(ret) > {max_abs_return} then 1.0 else 0.0 end) as large_move_share
            from returns
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


# price ratios of the common splits (new / old price): 2:1, 3:2, 3:1, 4:1, 5:1, 7:1, 10:1 and
# the reverse splits 1:2 .. 1:10
SPLIT_PRICE_RATIOS = (1 / 2, 2 / 3, 1 / 3, 1 / 4, 1 / 5, 1 / 7, 1 / 10, 2.0, 3 / 2, 3.0, 4.0, 5.0, 7.0, 10.0)


def raw_splits(
    con: duckdb.DuckDBPyConnection, *, calendar: str, tolerance: float, persist_sessions: int
) -> pd.DataFrame:
    """One row per (symbol, bar_size, session): whether the session opened with a gap that looks
    like an unexplained split.

    A split-like gap: the session's first open against the previous session's last close is
    within ``tolerance`` of a common split's price ratio (1/2, 2/3, 1/3, ... and the reverse
    splits), and it persists as a split does: over the next ``persist_sessions`` sessions the
    median close stays at the new level (0.8 .. 1.25 x the gap against the median before) and the
    money traded carries on (median dollar volume 0.35 .. 1.6 x before: a split changes the share
    count, not the money; a crash brings a surge of it). Unexplained: no split of that symbol
    in raw.corporate_actions on that date. Each such row names the split it looks like and the
    actions-file line that would explain it."""
    from alphaduck.calendars import calendar_timezone

    ratios = ", ".join(f"({r!r})" for r in SPLIT_PRICE_RATIOS)
    has_actions = relation_exists(con, CORPORATE_ACTIONS)
    actions = (
        f"select symbol, ex_date from {CORPORATE_ACTIONS} where kind = 'split'"
        if has_actions
        else "select null::varchar as symbol, null::date as ex_date where false"
    )
    frame = con.execute(
        f"""
        with sessions as (
            select symbol, bar_size, timezone(?, ts)::date as session_date,
                   min_by(open, ts) as first_open, max_by(close, ts) as last_close,
                   sum(volume * close) as dollar_volume
            from raw.bars
            group by all
        ),
        around as (
            select *,
                   first_open / lag(last_close) over w as gap,
                   median(last_close) over (w rows between {persist_sessions} preceding and 1 preceding) as close_before,
                   median(last_close) over (w rows between current row and {persist_sessions - 1} following) as close_after,
                   median(dollar_volume) over (w rows between {persist_sessions} preceding and 1 preceding) as money_before,
                   median(dollar_volume) over (w rows between current row and {persist_sessions - 1} following) as money_after
            from sessions
            window w as (partition by symbol, bar_size order by session_date)
        ),
        matched as (
            select around.*, r.ratio as price_ratio
            from around
            left join (values {ratios}) as r(ratio) on abs(around.gap / r.ratio - 1) <= ?
        ),
        judged as (
            select *,
                   price_ratio is not null
                   and close_after / close_before / gap between 0.8 and 1.25
                   and coalesce(money_after / nullif(money_before, 0) between 0.35 and 1.6, true) as split_like
            from matched
        )
        select j.symbol, j.bar_size, j.session_date, j.gap, j.price_ratio,
               j.split_like and a.symbol is null as unexplained_split
        from judged as j
        left join ({actions}) as a on a.symbol = j.symbol and a.ex_date = j.session_date
        order by j.symbol, j.bar_size, j.session_date
        """,
        [calendar_timezone(calendar), tolerance],
    ).df()
    ratio = 1 / frame["price_ratio"]  # new shares per old

    def label(r: float) -> str:
        from fractions import Fraction

        f = Fraction(r).limit_denominator(10)
        return f"{f.numerator}:{f.denominator}"

    flagged = frame["unexplained_split"].fillna(False).astype(bool)
    frame["unexplained_split"] = flagged
    frame["likely_split"] = [label(r) if f else "" for r, f in zip(ratio, flagged, strict=True)]
    frame["actions_line"] = [
        f"`alphaduck ingest actions FILE` with the row {s},{d:%Y-%m-%d},{r:g}" if f else ""
        for s, d, r, f in zip(frame["symbol"], pd.to_datetime(frame["session_date"]), ratio, flagged, strict=True)
    ]
    return frame[["symbol", "bar_size", "session_date", "likely_split", "actions_line", "unexplained_split"]]


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
    """One row per (series, horizon): each forward-return label must be null exactly where its
    future bars are missing, i.e. only on the series' last h + 1 bars (the fill bar and h more,
    for every h the recorded build computed), and its direction null exactly where the return
    is null or inside the dead band (an exact zero included)."""
    parts = []
    for h in built.horizons:
        label, direction = label_column("fwd_return", h), label_column("direction", h)
        parts.append(
            f"""
            select symbol, bar_size, {h} as horizon,
                   count(*) filter (where {label} is null and from_end > {built.label_lookahead(h)}) as label_nulls_before_tail,
                   count(*) filter (where {label} is not null and from_end <= {built.label_lookahead(h)}) as labels_in_tail,
                   count(*) filter (
                       where ({direction} is null) <> ({label} is null or abs({label}) <= $band)
                   ) as direction_mismatches
            from ranked
            group by symbol, bar_size
            """
        )
    columns = ", ".join(label_column(kind, h) for h in built.horizons for kind in ("fwd_return", "direction"))
    return con.execute(
        f"""
        with ranked as (
            select symbol, bar_size, {columns},
                   row_number() over (partition by symbol, bar_size order by ts desc) as from_end
            from {FEATURE_TABLE}
        )
        {" union all ".join(parts)}
        order by symbol, bar_size, horizon
        """,
        {"band": built.dead_band},
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
