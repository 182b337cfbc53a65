"""The trial ledger (ml.trials): every configuration a researcher tried on the same predictions.

The deflated Sharpe ratio asks how good the best of N tries would look by luck alone, so N
must count every try, not only the configurations of one sweep: each hyperparameter setting
a search scored, each walk-forward fold, each backtest and each sweep configuration is a row.
A backtest's DSR then takes N and the variance of the per-bar Sharpes from the ledger rows of
the same prediction run and window (the same returns tried twice are one trial: rows are
keyed by a hash of their returns).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from alphaduck.contracts import TRIALS
from alphaduck.warehouse import relation_exists

KINDS = ("search", "fold", "backtest", "in_sample", "sweep")
# the trials that trade returns on a window: what a deflated Sharpe counts
TRADED = ("backtest", "in_sample", "sweep")

DDL = f"""
create schema if not exists {TRIALS.split('.')[0]};
create table if not exists {TRIALS} (
    trial_id varchar primary key,     -- hash of (run, window, returns): the same returns tried again are one trial
    recorded_at timestamptz not null,
    kind varchar not null,            -- search | fold | backtest | in_sample | sweep
    source_id varchar,                -- the train run, sweep or backtest run that tried it
    run_id varchar not null,          -- the model / prediction run it belongs to
    parameters json,
    window_start timestamptz,
    window_end timestamptz,
    bars bigint,
    sharpe double,                    -- annualised, for trials that trade
    bar_sharpe double,                -- per bar: what the DSR's variance is taken over
    score double,                     -- a search setting's CV score, a fold's test IC
    returns_hash varchar
);
"""


def returns_hash(returns: np.ndarray) -> str:
    """sha256 of a returns series rounded to 12 decimals (the same returns, the same hash)."""
    values = np.round(np.nan_to_num(np.asarray(returns, float), nan=0.0), 12)
    return hashlib.sha256(values.tobytes()).hexdigest()


def trial_row(*, kind: str, run_id: str, source_id: str | None, parameters: dict | None,
              window: tuple[pd.Timestamp, pd.Timestamp] | None = None, returns: np.ndarray | None = None,
              bars_per_year: float | None = None, score: float | None = None) -> dict:  # fmt: skip
    """One ledger row (pure). Trading trials give their per-bar returns; others their score."""
    if kind not in KINDS:
        raise ValueError(f"trial kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sharpe = bar_sharpe = None
    digest = None
    if returns is not None:
        r = np.asarray(returns, float)
        r = r[np.isfinite(r)]
        sd = r.std(ddof=1) if len(r) > 1 else 0.0
        bar_sharpe = float(r.mean() / sd) if sd > 0 else 0.0
        sharpe = bar_sharpe * float(np.sqrt(bars_per_year)) if bars_per_year else None
        digest = returns_hash(r)
    identity = json.dumps([kind if returns is None else "traded", run_id, source_id if returns is None else None,
                           parameters if returns is None else None, [str(w) for w in window] if window else None,
                           digest], default=str)  # fmt: skip
    return {
        "trial_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "recorded_at": datetime.now(UTC),
        "kind": kind,
        "source_id": source_id,
        "run_id": run_id,
        "parameters": json.dumps(parameters, default=str) if parameters is not None else None,
        "window_start": window[0] if window else None,
        "window_end": window[1] if window else None,
        "bars": int(len(returns)) if returns is not None else None,
        "sharpe": sharpe,
        "bar_sharpe": bar_sharpe,
        "score": score,
        "returns_hash": digest,
    }


def record(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Add trials to the ledger (inside the caller's transaction); one already there stays."""
    if not rows:
        return
    con.execute(DDL)
    # two configurations that trade identically are one trial, not two
    frame = pd.DataFrame(rows).drop_duplicates("trial_id")
    con.register("_trials", frame)
    try:
        con.execute(f"insert into {TRIALS} by name select * from _trials where trial_id not in (select trial_id from {TRIALS})")
    finally:
        con.unregister("_trials")


@dataclass(frozen=True)
class Deflation:
    """What a deflated Sharpe counts on one run and window."""

    n_trials: int
    sharpe_variance: float
    by_kind: dict[str, int]

    def describe(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.by_kind.items())) or "none"


def deflation(con: duckdb.DuckDBPyConnection, run_id: str, window: tuple[pd.Timestamp, pd.Timestamp]) -> Deflation:
    """N and the variance of the per-bar Sharpes of every traded trial on ``run_id`` over
    exactly ``window`` (at least one: the trial being judged)."""
    if not relation_exists(con, TRIALS):
        return Deflation(1, 0.0, {})
    rows = con.execute(
        f"select kind, bar_sharpe from {TRIALS} where run_id = ? and window_start = ? and window_end = ? "
        f"and kind in ({', '.join('?' * len(TRADED))}) and bar_sharpe is not null",
        [run_id, window[0], window[1], *TRADED],
    ).fetchall()
    if not rows:
        return Deflation(1, 0.0, {})
    sharpes = np.array([r[1] for r in rows], float)
    by_kind: dict[str, int] = {}
    for kind, _ in rows:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return Deflation(len(rows), float(np.var(sharpes, ddof=1)) if len(rows) > 1 else 0.0, by_kind)
