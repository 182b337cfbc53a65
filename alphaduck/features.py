"""Which columns of marts.fct_features are model features: the one place that says so.

dbt decides what fct_features holds; this module decides which of its columns a model may
learn from. Every column is a feature unless it is a key or bookkeeping column, a raw
price or volume, a price-level indicator (its value depends on the price level, so it
would let a tree model tell symbols and eras apart instead of learning a pattern), or a
label (the only columns that look forward).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from alphaduck.contracts import FEATURE_BUILDS, FEATURE_TABLE
from alphaduck.errors import AlphaduckError

KEY_COLUMNS = ("symbol", "bar_size", "ts")
LABEL_PREFIX = "label_"
# the labels fct_features holds for every h in dbt var label_horizons (bars held after the fill)
LABEL_KINDS = ("fwd_return", "direction", "xs_rank", "xs_excess")
# the value of each label that says "no edge": above it is a call to buy (a rise, or beating peers)
LABEL_NEUTRAL = {"fwd_return": 0.0, "direction": 0.5, "xs_rank": 0.5, "xs_excess": 0.0}

def label_column(kind: str, horizon: int) -> str:
    """The label column of a kind and horizon: label_column("fwd_return", 5) -> label_fwd_return_5."""
    if kind not in LABEL_KINDS:
        raise ValueError(f"label kind must be one of {', '.join(LABEL_KINDS)}, got {kind!r}")
    return f"{LABEL_PREFIX}{kind}_{int(horizon)}"


def label_kind(column: str) -> str:
    """The kind of a label column: label_kind("label_xs_rank_5") -> "xs_rank"."""
    for kind in LABEL_KINDS:
        if column.startswith(f"{LABEL_PREFIX}{kind}_"):
            return kind
    raise ValueError(f"{column!r} is not a label column ({LABEL_PREFIX}<kind>_<horizon>)")


# true on rows fit for training: every window full, recursive indicators settled
WARMUP_COLUMN = "warmup_complete"
BOOKKEEPING = frozenset(
    {"symbol", "bar_size", "ts", "bar_seq", "session_date", "ingested_at", WARMUP_COLUMN, "price_factor"}
)
RAW_BAR = frozenset({"open", "high", "low", "close", "volume"})
PRICE_LEVEL = frozenset(
    {"sma", "ema", "wma", "macd", "macd_signal", "macd_hist", "atr", "bb_upper", "bb_middle", "bb_lower", "obv", "vwap_session"}
)
# Columns that count from a series' first bar by definition (its position, a running
# total): no warm-up makes them forget where history starts, so the recursive analysis
# (`alphaduck lookahead`) does not ask them to, and no model learns from them.
START_ANCHORED = frozenset({"bar_seq", "obv"})

# Bounds of the features that have them (inclusive), for the quality gate.
BOUNDED: dict[str, tuple[float, float]] = {
    "rsi": (0, 100),
    "stoch_k": (0, 100),
    "stoch_d": (0, 100),
    "mfi": (0, 100),
    "adx": (0, 100),
    "plus_di": (0, 100),
    "minus_di": (0, 100),
    "willr": (-100, 0),
    "day_of_week": (1, 7),
    "minute_of_session": (-24 * 60, 24 * 60),  # negative before the open (all-hours bars)
}
for _d in (5, 10, 20, 30, 60):
    BOUNDED |= {
        f"a158_rank_{_d}": (0, 1),
        f"a158_imax_{_d}": (0, 1),
        f"a158_imin_{_d}": (0, 1),
        f"a158_imxd_{_d}": (-1, 1),
        f"a158_rsqr_{_d}": (0, 1),
        f"a158_corr_{_d}": (-1, 1),
        f"a158_cord_{_d}": (-1, 1),
        f"a158_cntp_{_d}": (0, 1),
        f"a158_cntn_{_d}": (0, 1),
        f"a158_cntd_{_d}": (-1, 1),
        f"a158_sump_{_d}": (0, 1),
        f"a158_sumn_{_d}": (0, 1),
        f"a158_sumd_{_d}": (-1, 1),
        f"a158_vsump_{_d}": (0, 1),
        f"a158_vsumn_{_d}": (0, 1),
        f"a158_vsumd_{_d}": (-1, 1),
        f"a158_rsv_{_d}": (0, 1),
    }


def is_label(column: str) -> bool:
    return column.startswith(LABEL_PREFIX)


def feature_columns(columns: Iterable[str]) -> list[str]:
    """The model features among ``columns`` (fct_features' columns), in their order."""
    excluded = BOOKKEEPING | RAW_BAR | PRICE_LEVEL
    return [c for c in columns if c not in excluded and not is_label(c)]


@dataclass(frozen=True)
class BuiltFeatures:
    """What the feature table was built with (the record `alphaduck build` leaves)."""

    vars: dict

    @property
    def horizon(self) -> int:
        """The default horizon (dbt var label_horizon): what training and analysis use unless told."""
        return int(self.vars["label_horizon"])

    @property
    def horizons(self) -> list[int]:
        """Every horizon the labels were built for (dbt var label_horizons)."""
        horizons = self.vars.get("label_horizons", [self.horizon])
        return sorted({int(h) for h in (horizons if isinstance(horizons, list) else [horizons])})

    @property
    def label_price(self) -> str:
        return str(self.vars["label_price"])

    @property
    def dead_band(self) -> float:
        return float(self.vars["label_dead_band"])

    @property
    def calendar(self) -> str:
        return str(self.vars["calendar"])

    def label_lookahead(self, horizon: int) -> int:
        """Bars past the decision bar a label of this horizon reads: the fill bar and h more."""
        return int(horizon) + 1

    @property
    def fill(self) -> str:
        """The backtest fill the labels measure: next_open or next_close."""
        return f"next_{self.label_price}"


def built_features(con) -> BuiltFeatures:
    """The vars of the build that last wrote the feature table; refuses a warehouse whose
    features were never built (or were built before builds were recorded)."""
    from alphaduck.warehouse import relation_exists

    exists = relation_exists(con, FEATURE_BUILDS)  # a table, or after a Spark build a view of its files
    rows = con.execute(f"select vars from {FEATURE_BUILDS} order by built_at desc limit 1").fetchall() if exists else []
    if not rows:
        raise AlphaduckError(f"{FEATURE_TABLE} has no build record ({FEATURE_BUILDS}): run `alphaduck build` first")
    return BuiltFeatures(json.loads(rows[0][0]))
