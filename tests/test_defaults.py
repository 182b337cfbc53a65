"""Defaults that do something or say why (issue 19.7): a backtest without trades says why,
from its own signals and thresholds; an unknown --symbol gets "did you mean"."""

from __future__ import annotations

import re
import shutil

import duckdb
import pandas as pd
import pytest

from backtests.no_trades import why_no_trades
from backtests.strategy import StrategyParams
from tests.conftest import run_cli, snapshot


def test_a_backtest_with_no_trades_says_why_from_its_signals(predicted, tmp_path):
    """Before: `backtest --param long_threshold=0.99` printed "0 trades" and nothing else."""
    db, models, _ = predicted
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    result = run_cli("backtest", "--db", copy, "--models", models, "--param", "long_threshold=0.99", "--engine", "vector",
                     "--no-report", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ", 0 trades" in result.output
    con = duckdb.connect(str(copy), read_only=True)
    (runs,) = con.execute("select count(distinct run_id) from ml.predictions").fetchone()
    low, high = con.execute("select min(proba_up), max(proba_up) from ml.predictions").fetchone()
    con.close()
    assert runs == 1
    why = [line for line in result.output.splitlines() if line.startswith("0 trades:")]
    assert why == [
        f"0 trades: every proba_up lies between {low:.4g} and {high:.4g}, below long_threshold 0.99: "
        f"try --param long_quantile=0.8 (the model's top-fifth scores) or --param long_threshold="
        + re.search(r"long_threshold=(\d\.\d\d)$", why[0]).group(1)
    ], result.output
    suggested = float(why[0].rsplit("=", 1)[1])
    assert low <= suggested <= high  # a threshold the signals do cross
    again = run_cli("backtest", "--db", copy, "--models", models, "--param", f"long_threshold={suggested}",
                    "--engine", "vector", "--no-report", "-q")  # fmt: skip
    assert again.exit_code == 0 and ", 0 trades" not in again.output and "0 trades:" not in again.output, again.output


SIGNALS = pd.DataFrame({"proba_up": [0.47, 0.5, 0.53], "score": [0.4, 0.5, 0.6], "score_pct": [0.1, 0.5, 0.7]})


@pytest.mark.parametrize(
    "params, expected",
    [
        (StrategyParams(long_threshold=0.55, short_threshold=0.45),
         "0 trades: every proba_up lies between 0.47 and 0.53, inside long_threshold 0.55 / short_threshold 0.45: try "),
        (StrategyParams(long_quantile=0.9).with_quantile_thresholds(),
         "0 trades: every score's validation percentile lies between 0.1 and 0.7, below long_quantile 0.9: "
         "try --param long_quantile=0.62"),
        (StrategyParams(long_threshold=0.5, min_confidence=0.5),
         "0 trades: confidence |proba_up - 0.5| * 2 never exceeds 0.06, below min_confidence 0.5"),
    ],
    ids=["inside both thresholds", "quantile above every percentile", "confidence"],
)  # fmt: skip
def test_why_no_trades_names_the_range_and_the_threshold(params, expected):
    assert why_no_trades(SIGNALS, params).startswith(expected)


def test_an_unknown_symbol_gets_did_you_mean_on_every_command(predicted, tmp_path):
    """Before: train said its feature rows were empty, predict scored nothing and backtest
    said there were no predictions, none naming the typo."""
    db, models, _ = predicted
    before = snapshot(db)
    for args, typo, meant in [
        (["train", "--skip-gate", "--models", tmp_path / "m"], "AAPLL", "AAPL"),
        (["predict", "--models", models], "MSFTT", "MSFT"),
        (["backtest", "--models", models, "--no-report", "--reports", tmp_path / "r"], "SPYY", "SPY"),
        (["lookahead"], "QQQQ", "QQQ"),
    ]:
        result = run_cli(*args, "--db", db, "--symbol", "SPY", "--symbol", typo, "-q")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"did you mean {meant}?" in lines[0] and typo in lines[0], result.output
    assert snapshot(db) == before
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()
