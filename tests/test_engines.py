"""Four engines, one set of signals: bt (the reference), the vector engine (equal to 1e-9),
vectorbt and backtesting.py (within the tolerances README's "Engines" explains); sweeps
and the statistics that keep them honest."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from alphaduck.warehouse import connect
from backtests.adapters import run_backtesting, run_vectorbt
from backtests.costs import CostModel
from backtests.engine_bt import run_bt
from backtests.engine_vector import run_vector
from backtests.results import fill_prices, fill_weights
from backtests.stats import (
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    round_trips,
    sharpe_bootstrap_ci,
)
from backtests.strategy import StrategyParams, target_weights
from backtests.sweep import configurations, parse_grid
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def market(sample_built):
    """Every symbol of the sample from December on, with fixed random predictions."""
    con = connect(sample_built, read_only=True)
    try:
        bars = con.execute(
            "select symbol, ts, open, close, bars_to_close <= 0 as last_of_session from marts.fct_features "
            "where session_date >= '2025-12-01' order by symbol, ts"
        ).df()
    finally:
        con.close()
    rng = np.random.default_rng(0)
    return bars, bars[["symbol", "ts"]].assign(proba_up=rng.uniform(0.3, 0.7, len(bars)))


def engines_on(market, params: StrategyParams, costs: CostModel, symbols=None):
    bars, predictions = market
    if symbols:
        bars, predictions = bars[bars.symbol.isin(symbols)], predictions[predictions.symbol.isin(symbols)]
    params = params.resolve_fill(None)
    signals = target_weights(predictions, bars, params)
    prices, weights = fill_prices(bars, params.fill), fill_weights(signals)
    kwargs = {"costs": costs, "initial_capital": 100_000.0}
    return bars, signals, prices, weights, run_bt(prices, weights, **kwargs), kwargs


def relative(a: pd.Series, b: pd.Series) -> float:
    return float(np.max(np.abs(a.to_numpy() - b.to_numpy()) / np.abs(b.to_numpy())))


@pytest.mark.parametrize(
    "params",
    [
        StrategyParams(long_threshold=0.6, min_hold=2),
        StrategyParams(long_threshold=0.62, short_threshold=0.38, cooldown=1),
        StrategyParams(long_threshold=0.55, short_threshold=0.45, sizing="confidence", flat_at_close=True, fill="next_close", max_hold=6),
    ],
    ids=["long-only", "long-short", "confidence-flat-next-close"],
)
def test_vector_engine_equals_bt_to_1e9_with_ib_costs(market, params):
    _, _, prices, weights, bt_result, kwargs = engines_on(market, params, CostModel())
    vector = run_vector(prices, weights, **kwargs)
    assert len(bt_result.transactions) > 3000  # 24 symbols trading, the minimum commission often binding
    assert relative(vector.equity, bt_result.equity) < 1e-9
    pd.testing.assert_frame_equal(vector.positions, bt_result.positions, rtol=1e-9, check_names=False)
    pd.testing.assert_frame_equal(vector.transactions, bt_result.transactions, rtol=1e-9)


def test_vectorbt_agrees_to_1e9_without_costs_and_within_its_documented_tolerance_with_them(market):
    # 4 symbols at 20% each: the shared cash never runs out, which vectorbt (no borrowing) needs
    params = StrategyParams(long_threshold=0.6, min_hold=2, position_size=0.2)
    symbols = ["SPY", "QQQ", "AAPL", "MSFT"]
    _, _, prices, weights, free_bt, kwargs = engines_on(market, params, CostModel.free(), symbols)
    assert relative(run_vectorbt(prices, weights, **kwargs).equity, free_bt.equity) < 1e-9
    _, _, prices, weights, costly_bt, kwargs = engines_on(market, params, CostModel(), symbols)
    # costs paid on top of the target shares (vectorbt) vs inside the allocation (bt), and
    # IB's per-order minimum, which vectorbt cannot express
    deviation = relative(run_vectorbt(prices, weights, **kwargs).equity, costly_bt.equity)
    assert 1e-9 < deviation < 5e-3


def test_backtesting_py_makes_the_same_trades_on_one_symbol(market):
    params = StrategyParams(long_threshold=0.6, min_hold=2)
    bars, signals, _, _, free_bt, kwargs = engines_on(market, params, CostModel.free(), ["SPY"])
    ours = round_trips(free_bt.transactions)
    theirs = round_trips(run_backtesting(bars, signals, **kwargs).transactions)
    # it does not fill on the final bar; otherwise every trade opens and closes on the same bars
    ours = ours[ours["entry_ts"] < bars["ts"].max()].reset_index(drop=True)
    assert len(ours) == len(theirs) > 100
    pd.testing.assert_series_equal(ours["entry_ts"], theirs["entry_ts"])
    pd.testing.assert_series_equal(ours["exit_ts"], theirs["exit_ts"])
    # sizes: its orders are a fraction of equity below 1 (0.999999) in 1e-8 share units
    np.testing.assert_allclose(theirs["quantity"], ours["quantity"], rtol=2e-6)
    np.testing.assert_allclose(theirs["pnl"], ours["pnl"], rtol=2e-6, atol=1e-6)


def test_honesty_statistics_match_their_definitions():
    rng = np.random.default_rng(0)
    returns = rng.normal(0.001, 0.01, 5000)
    sharpe = returns.mean() / returns.std(ddof=1)
    # normal returns: PSR ~ Phi(SR sqrt(n-1) / sqrt(1 + SR^2 / 2))
    from scipy.stats import norm

    assert probabilistic_sharpe(returns) == pytest.approx(norm.cdf(sharpe * np.sqrt(4999) / np.sqrt(1 + sharpe**2 / 2)), abs=2e-3)
    # the best of 100 luck-only tries with unit Sharpe variance: 2.53 (Bailey & Lopez de Prado's example)
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-4)
    # more tries, lower deflated Sharpe; one try is the PSR
    assert deflated_sharpe(returns, 1, 1e-4) == probabilistic_sharpe(returns)
    assert deflated_sharpe(returns, 1000, 1e-4) < deflated_sharpe(returns, 10, 1e-4) < probabilistic_sharpe(returns)
    lo, hi = sharpe_bootstrap_ci(returns, 252)
    assert lo < sharpe * np.sqrt(252) < hi


def test_grids_parse_and_sample():
    grid = parse_grid(["min_hold=1,3", "flat_at_close=true,false"], base={"long_quantile": [0.7, 0.8]})
    assert grid == {"long_quantile": [0.7, 0.8], "min_hold": [1, 3], "flat_at_close": [True, False]}
    assert len(configurations(grid)) == 8 and len(configurations(grid, random=3, seed=1)) == 3


def test_sweep_chooses_on_validation_and_backtests_the_choice_on_test(sample_built, tmp_path):
    db, models = tmp_path / "sweep.duckdb", tmp_path / "models"
    shutil.copy(sample_built, db)
    symbols = [a for s in ("SPY", "QQQ", "AAPL", "MSFT") for a in ("--symbol", s)]
    assert run_cli("train", "--db", db, "--models", models, "--skip-gate", "--n-iter", "2", "--n-splits", "2", "-q", *symbols).exit_code == 0
    result = run_cli("sweep", "--db", db, "--models", models, "--reports", tmp_path / "reports",
                     "--grid", "long_quantile=0.7,0.8", "--grid", "min_hold=1,4", "--grid", "cooldown=0",
                     "--grid", "max_hold=none", "--grid", "sizing=fixed", "--grid", "flat_at_close=false", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "4 configurations" in out and "over the 4 tried there" in out
    con = connect(db, read_only=True)
    try:
        sweeps = con.execute("select config_id, chosen, sharpe, test_backtest_run_id, window_start from backtest.sweeps order by config_id").fetchall()
        model = json.loads((models / "latest" / "metadata.json").read_text())
        run = con.execute("select stats, in_sample_stats, sweep_id, first_ts from backtest.runs").fetchall()
    finally:
        con.close()
    assert len(sweeps) == 4 and sum(s[1] for s in sweeps) == 1
    chosen = next(s for s in sweeps if s[1])
    assert chosen[2] == max(s[2] for s in sweeps)  # the best validation Sharpe was chosen
    assert str(sweeps[0][4]) == model["windows"]["valid"][0]  # on the validation window
    stats, in_sample, sweep_id, first_ts = run[0]
    stats, in_sample = json.loads(stats), json.loads(in_sample)
    # the choice was made on the validation window: its figures count the 4 tried; the test
    # window, untouched by the choice, is one trial and says it was selected
    assert in_sample["n_trials"] == 4 and in_sample["dsr"] <= in_sample["psr"]
    assert stats["n_trials"] == 1 and stats["selected_from"] == 4
    # the re-run on the validation window reproduces the sweep's figure for the chosen one
    assert in_sample["sharpe"] == pytest.approx(chosen[2], rel=1e-9)
    assert str(first_ts.date()) >= model["windows"]["test"][0]  # judged out of sample


def test_the_fused_sweep_pass_equals_the_engine_path(market):
    """A sweep's one-pass kernel gives the vector engine's equity (hence bt's) for each of the
    configurations it runs together, exactly as when each runs alone."""
    from backtests.kernels import simulate, sweep_equity
    from backtests.strategy import change_matrix, kernel_params, make_panel, weights_matrix

    bars, predictions = market
    panel = make_panel(predictions, bars)
    prices = panel.fill_prices("next_open")
    configs = [
        StrategyParams(long_threshold=0.6, short_threshold=0.4, min_hold=2, cooldown=1, max_hold=8, flat_at_close=True),
        StrategyParams(long_threshold=0.55, min_hold=1, cooldown=0, sizing="confidence", max_gross=0.5),
        StrategyParams(long_threshold=0.65, short_threshold=0.45, min_hold=4, cooldown=2, min_confidence=0.1),
    ]
    rates = (0.0035, 0.35, 0.01, 1.0, 0.0)
    together, entries = sweep_equity(panel.proba, panel.confidence, panel.has_bar, panel.last_of_session,
                                     panel.last_bar, prices, 1e5, rates,
                                     [kernel_params(p, len(panel.symbols)) for p in configs])  # fmt: skip
    assert together.shape == (3, len(prices))
    for k, params in enumerate(configs):
        weights, _ = weights_matrix(panel, params)
        engine, _ = simulate(prices, change_matrix(weights, panel.has_bar), 1e5, 0.0035, 0.35, 0.01, 1.0)
        alone, alone_entries = sweep_equity(panel.proba, panel.confidence, panel.has_bar, panel.last_of_session,
                                            panel.last_bar, prices, 1e5, rates,
                                            [kernel_params(params, len(panel.symbols))])  # fmt: skip
        np.testing.assert_array_equal(together[k], engine)
        np.testing.assert_array_equal(alone[0], engine)
        assert entries[k] == alone_entries[0] > 100
