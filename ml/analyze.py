"""`alphaduck analyze`: what a model run's scores say about the forward returns, measured the
way factor researchers measure a signal (alphalens' tear sheet; Qlib's SigAnaRecord): per-date
IC and rank IC with their mean, std, ICIR and t-stat, per year and per symbol, quantile mean
returns and the top-minus-bottom spread, IC decay over the label horizons, and the signal's
rank autocorrelation and quantile turnover.

The factor is the model's uncalibrated score (ml.predictions.score); the forward returns are
the labels (label_fwd_return_<h>: what a strategy filled at the next bar earns over h bars).
The statistics are ml/signal_analysis.py's (equal to alphalens-reloaded, tested); this module
reads, computes and writes the ml.signal_* tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from alphaduck.contracts import (
    PREDICTIONS,
    SIGNAL_BY_SYMBOL,
    SIGNAL_BY_YEAR,
    SIGNAL_IC,
    SIGNAL_QUANTILES,
    SIGNAL_RUNS,
    SIGNAL_SUMMARY,
    SIGNAL_TURNOVER,
)
from alphaduck.errors import AlphaduckError
from alphaduck.features import FEATURE_TABLE, built_features, label_column
from alphaduck.warehouse import Warehouse, insert_frame, relation_exists
from ml import signal_analysis as sa

# Qlib's published benchmark for Alpha158 + LightGBM (CSI300, test 2017-01..2020-08): a
# different market and period, shown beside ours for scale only
QLIB_ALPHA158_LGBM = {"ic": 0.0448, "icir": 0.366, "rank_ic": 0.0469}  # Qlib does not publish its rank ICIR here

DDL = f"""
create schema if not exists ml;
create table if not exists {SIGNAL_RUNS} (
    run_id varchar primary key,       -- the prediction run analysed
    analysed_at timestamptz not null,
    rows_used bigint not null,
    rows_dropped bigint not null,
    quantiles integer not null,
    horizons integer[] not null,
    first_ts timestamptz,
    last_ts timestamptz
);
create table if not exists {SIGNAL_IC} (
    run_id varchar not null, ts timestamptz not null, horizon integer not null, ic double, rank_ic double,
    primary key (run_id, ts, horizon)
);
create table if not exists {SIGNAL_SUMMARY} (
    run_id varchar not null, horizon integer not null, method varchar not null,   -- pearson (ic) | spearman (rank_ic)
    ic_mean double, ic_std double, icir double, t_stat double, p_value double, n bigint,
    spread double, spread_t_stat double,
    primary key (run_id, horizon, method)
);
create table if not exists {SIGNAL_BY_YEAR} (
    run_id varchar not null, year integer not null, horizon integer not null, rank_ic double,
    primary key (run_id, year, horizon)
);
create table if not exists {SIGNAL_BY_SYMBOL} (
    run_id varchar not null, symbol varchar not null, horizon integer not null, rank_ic double,
    primary key (run_id, symbol, horizon)
);
create table if not exists {SIGNAL_QUANTILES} (
    run_id varchar not null, quantile integer not null, horizon integer not null, mean_return double, std_err double,
    primary key (run_id, quantile, horizon)
);
create table if not exists {SIGNAL_TURNOVER} (
    run_id varchar not null, ts timestamptz not null, rank_autocorrelation double, top_turnover double,
    bottom_turnover double,
    primary key (run_id, ts)
);
"""
TABLES = (SIGNAL_IC, SIGNAL_SUMMARY, SIGNAL_BY_YEAR, SIGNAL_BY_SYMBOL, SIGNAL_QUANTILES, SIGNAL_TURNOVER, SIGNAL_RUNS)


@dataclass
class Analysis:
    run_id: str
    horizons: list[int]
    report: dict  # signal_analysis.signal_report's tables
    rows_used: int
    rows_dropped: int


def factor_frame(con: duckdb.DuckDBPyConnection, run_id: str, horizons: list[int]) -> pd.DataFrame:
    """One row per (ts, symbol) the run scored: its score and the forward return of each horizon."""
    returns = ", ".join(f"f.{label_column('fwd_return', h)} as fwd_{h}" for h in horizons)
    return con.execute(
        f"""
        select p.ts as date, p.symbol, p.score as factor, {returns}
        from {PREDICTIONS} as p
        join {FEATURE_TABLE} as f on f.symbol = p.symbol and f.bar_size = p.bar_size and f.ts = p.ts
        where p.run_id = ?
        order by p.ts, p.symbol
        """,
        [run_id],
    ).df()


def analyze(frame: pd.DataFrame, run_id: str, horizons: list[int], *, quantiles: int = 5) -> Analysis:
    """Every statistic for one run's factor frame (pure)."""
    try:
        data = sa.prepare(frame, quantiles=quantiles, max_loss=None)
    except ValueError as exc:
        raise AlphaduckError(f"analyze {run_id}: {exc}") from exc
    if data.frame.empty:
        raise AlphaduckError(
            f"analyze {run_id}: no scored row has all of its forward returns yet (horizons {horizons}) and a "
            "cross-section to rank: score a longer span or more symbols"
        )
    return Analysis(run_id, horizons, sa.signal_report(data), len(data.frame), len(frame) - len(data.frame))


def _horizon_of(column: str) -> int:
    return int(str(column).removeprefix(sa.RETURN_PREFIX))


def tables(analysis: Analysis, quantiles: int) -> dict[str, pd.DataFrame]:
    """The ml.signal_* rows of an analysis (pure)."""
    r, run_id = analysis.report, analysis.run_id

    def long(frame: pd.DataFrame, index: str, value: str) -> pd.DataFrame:
        """A (date / symbol / quantile) x horizon table as rows of (index, horizon, value)."""
        frame = frame[[c for c in frame.columns if str(c).startswith(sa.RETURN_PREFIX)]]
        out = frame.rename_axis(index).reset_index().melt(id_vars=index, var_name="horizon", value_name=value)
        out["horizon"] = out["horizon"].map(_horizon_of)
        return out.assign(run_id=run_id)

    ic = long(r["ic"], "ts", "ic").merge(long(r["rank_ic"], "ts", "rank_ic")[["ts", "horizon", "rank_ic"]], on=["ts", "horizon"])
    summaries = []
    spread = r["spread"]
    for method, key in (("pearson", "ic_summary"), ("spearman", "rank_ic_summary")):
        s = r[key].rename_axis("horizon").reset_index()
        s["horizon"] = s["horizon"].map(_horizon_of)
        s["method"] = method
        s["spread"] = [spread.loc[f"{sa.RETURN_PREFIX}{h}", "spread"] for h in s["horizon"]]
        s["spread_t_stat"] = [spread.loc[f"{sa.RETURN_PREFIX}{h}", "t_stat"] for h in s["horizon"]]
        summaries.append(s[["horizon", "method", "ic_mean", "ic_std", "icir", "t_stat", "p_value", "n", "spread",
                            "spread_t_stat"]].assign(run_id=run_id))  # fmt: skip
    by_year = r["rank_ic_by_year"].reset_index()[["year", "horizon", "ic_mean"]].rename(columns={"ic_mean": "rank_ic"})
    by_year = by_year.assign(horizon=by_year["horizon"].map(_horizon_of), run_id=run_id)
    by_symbol = long(r["rank_ic_by_symbol"], "symbol", "rank_ic")
    quantile_returns = long(r["quantile_mean_return"], "quantile", "mean_return").merge(
        long(r["quantile_std_err"], "quantile", "std_err")[["quantile", "horizon", "std_err"]], on=["quantile", "horizon"]
    )
    turnover = pd.DataFrame({
        "rank_autocorrelation": r["factor_rank_autocorrelation"],
        "top_turnover": r["top_quantile_turnover"],
        "bottom_turnover": r["bottom_quantile_turnover"],
    }).rename_axis("ts").reset_index().assign(run_id=run_id)  # fmt: skip
    first, last = ic["ts"].min(), ic["ts"].max()
    runs = pd.DataFrame([{
        "run_id": run_id, "analysed_at": datetime.now(UTC), "rows_used": analysis.rows_used,
        "rows_dropped": analysis.rows_dropped, "quantiles": quantiles, "horizons": analysis.horizons,
        "first_ts": first, "last_ts": last,
    }])  # fmt: skip
    return {SIGNAL_IC: ic, SIGNAL_SUMMARY: pd.concat(summaries, ignore_index=True), SIGNAL_BY_YEAR: by_year,
            SIGNAL_BY_SYMBOL: by_symbol, SIGNAL_QUANTILES: quantile_returns, SIGNAL_TURNOVER: turnover,
            SIGNAL_RUNS: runs}  # fmt: skip


def analyze_run(
    db: Warehouse | str | Path | None, *, run_id: str | None = None, horizons: list[int] | None = None, quantiles: int = 5
) -> Analysis:
    """Read a prediction run (the newest by default) and its forward returns, compute every
    statistic and replace the run's rows in the ml.signal_* tables."""
    warehouse = Warehouse.of(db)
    with warehouse.reader() as con:
        if not relation_exists(con, PREDICTIONS):
            raise AlphaduckError(f"{PREDICTIONS} does not exist: run `alphaduck predict` (or train --walk-forward) first")
        if run_id is None:
            rows = con.execute(f"select run_id from {PREDICTIONS} order by created_at desc limit 1").fetchall()
            if not rows:
                raise AlphaduckError(f"{PREDICTIONS} is empty: run `alphaduck predict` first")
            run_id = rows[0][0]
        built = built_features(con)
        horizons = sorted(horizons or built.horizons)
        missing = [h for h in horizons if h not in built.horizons]
        if missing:
            raise AlphaduckError(f"--horizons {missing}: the labels were built for {built.horizons} (dbt var label_horizons)")
        frame = factor_frame(con, run_id, horizons)
    if frame.empty:
        raise AlphaduckError(f"no predictions of run {run_id!r} in {PREDICTIONS}")
    if frame["factor"].isna().all():
        raise AlphaduckError(f"run {run_id}'s predictions have no scores: re-run `alphaduck predict --run-id {run_id}`")
    analysis = analyze(frame, run_id, horizons, quantiles=quantiles)
    rows = tables(analysis, quantiles)
    with warehouse.transaction() as con:
        con.execute(DDL)
        for table, frame_ in rows.items():
            con.execute(f"delete from {table} where run_id = ?", [run_id])
            insert_frame(con, table, frame_)
    return analysis
