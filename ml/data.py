"""Reading the feature table for training and scoring (DuckDB -> Arrow -> pandas).

The feature list comes from ``alphaduck.features`` (the one place that says which columns
are features); labels are read beside them and never among them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from alphaduck.errors import AlphaduckError
from alphaduck.features import FEATURE_TABLE, feature_columns, is_label
from alphaduck.warehouse import columns_of, symbol_window_filter

ID_COLUMNS = ["symbol", "bar_size", "ts", "session_date"]


@dataclass
class FeatureFrame:
    frame: pd.DataFrame  # ID_COLUMNS + features + labels, warmed-up rows, ordered by ts then symbol
    features: list[str]
    bar_size: str


def table_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    columns = columns_of(con, FEATURE_TABLE)
    if not columns:
        raise AlphaduckError(f"{FEATURE_TABLE} does not exist: run `alphaduck build` first")
    return columns


def choose_bar_size(con: duckdb.DuckDBPyConnection, bar_size: str | None) -> str:
    """The bar size to train on: the one given, else the only one the table has."""
    present = [r[0] for r in con.execute(f"select distinct bar_size from {FEATURE_TABLE} order by 1").fetchall()]
    if not present:
        raise AlphaduckError(f"{FEATURE_TABLE} is empty: ingest bars and run `alphaduck build` first")
    if bar_size is None:
        if len(present) > 1:
            raise AlphaduckError(f"{FEATURE_TABLE} has bar sizes {', '.join(present)}: choose one with --bar-size")
        return present[0]
    if bar_size not in present:
        raise AlphaduckError(f"{FEATURE_TABLE} has no {bar_size} bars (it has {', '.join(present)})")
    return bar_size


def load_features(
    con: duckdb.DuckDBPyConnection,
    *,
    bar_size: str,
    features: list[str] | None = None,
    symbols: list[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    labels: list[str] | None = None,
) -> FeatureFrame:
    """Warmed-up rows of one bar size (optionally some symbols, sessions in [start, end]).

    ``features`` (a model's list) must all exist in the table; by default every feature
    column the table has.
    """
    columns = table_columns(con)
    features = list(features) if features is not None else feature_columns(columns)
    missing = [c for c in features if c not in columns]
    if missing:
        raise AlphaduckError(f"{FEATURE_TABLE} lacks feature columns {', '.join(missing)}")
    missing_labels = [c for c in labels or [] if c not in columns]
    if missing_labels:
        raise AlphaduckError(
            f"{FEATURE_TABLE} has no label {', '.join(missing_labels)}: add its horizon to dbt var label_horizons "
            "(and fct_features.yml) and run `alphaduck build`"
        )
    wanted = ID_COLUMNS + features + list(dict.fromkeys(labels or []))
    clauses, window = symbol_window_filter(symbols, start, end)
    where, params = ["warmup_complete", "bar_size = ?", *clauses], [bar_size, *window]
    sql = f"select {', '.join(wanted)} from {FEATURE_TABLE} where {' and '.join(where)} order by ts, symbol"
    frame = con.sql(sql, params=params).to_arrow_table().to_pandas()
    for column in features:
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype("int8")
    return FeatureFrame(frame, features, bar_size)


def training_fingerprint(
    con: duckdb.DuckDBPyConnection, *, bar_size: str, symbols: list[str], first_ts, last_ts, label: str
) -> str:
    """sha256 of the training rows' keys and labels (warmed-up rows of ``symbols`` with a
    label, ts in [first_ts, last_ts]), computed by DuckDB so a later stage can recompute it
    cheaply: a different value means the rows the model learnt from are not what this
    warehouse holds now (other history, other adjustment, other label settings).

    Labels are rounded to 12 decimals: the hash must not depend on the last bits of a
    floating-point division."""
    placeholders = ", ".join("?" * len(symbols))
    count, digest = con.execute(
        f"""
        select count(*), coalesce(sum(hash(symbol, ts, round({label}::double, 12))), 0)::varchar
        from {FEATURE_TABLE}
        where warmup_complete and bar_size = ? and symbol in ({placeholders})
          and ts between ? and ? and {label} is not null
        """,
        [bar_size, *symbols, first_ts, last_ts],
    ).fetchall()[0]
    return hashlib.sha256(f"{count}:{digest}".encode()).hexdigest()


def refuse_leaks(frame: pd.DataFrame, features: list[str], label: str, *, max_abs_corr: float = 0.99) -> None:
    """Refuse a feature list that could see the future: a label among the features, or a
    feature that tracks the label almost exactly (Spearman |rho| > max_abs_corr)."""
    labelled = [f for f in features if is_label(f)]
    if labelled:
        raise AlphaduckError(f"refusing to train: label columns among the features: {', '.join(labelled)}")
    target = frame[label].rank().to_numpy(float)
    ok = ~np.isnan(target)
    if ok.sum() < 3 or np.ptp(target[ok]) == 0:
        return  # a constant label tracks nothing (and the trainer refuses it anyway)
    ranks = frame[features].rank()
    suspects = []
    for feature in features:
        x = ranks[feature].to_numpy(float)
        both = ok & ~np.isnan(x)
        if both.sum() < 3 or np.std(x[both]) == 0:
            continue
        rho = np.corrcoef(x[both], target[both])[0, 1]
        if abs(rho) > max_abs_corr:
            suspects.append(f"{feature} (rho={rho:.4f})")
    if suspects:
        raise AlphaduckError(
            f"refusing to train: features that track {label} almost exactly (look-ahead?): {', '.join(suspects)}"
        )
