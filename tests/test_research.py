"""The research loop on the real sample: walk-forward training that never predicts with a
model whose labels reach the prediction, rankers, ranking portfolios (Qlib's TopkDropout,
long/short with a borrow fee) equal in bt and the vector engine, and the signal analysis
equal to alphalens-reloaded."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from alphaduck.warehouse import Warehouse
from backtests.backtest import BacktestConfig, simulate
from backtests.costs import CostModel
from backtests.strategy import StrategyParams, make_panel, topk_weights
from tests.conftest import run_cli

SYMBOLS = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "XOM"]
FAST = ["--n-iter", "1", "--n-splits", "2", "-q"]


def symbols_args(symbols=SYMBOLS) -> list[str]:
    return [a for s in symbols for a in ("--symbol", s)]


def query(db, sql: str, params=None) -> pd.DataFrame:
    with Warehouse.of(db).reader() as con:
        return con.execute(sql, params or []).df()


@pytest.fixture(scope="module")
def walked(sample_built, tmp_path_factory):
    """Six symbols of the sample, trained walk-forward (steps of 15 sessions, expanding)."""
    root = tmp_path_factory.mktemp("walk")
    db, models = root / "walk.duckdb", root / "models"
    shutil.copy(sample_built, db)
    result = run_cli("train", "--db", db, "--models", models, "--walk-forward", "--step", "15", *symbols_args(), *FAST)
    assert result.exit_code == 0, result.output
    metadata = json.loads((models / "latest" / "metadata.json").read_text())
    return db, models, metadata


def test_no_walk_forward_prediction_comes_from_a_model_whose_labels_reach_it(walked):
    """For every fold and symbol: the model's last training row's label (its symbol's bar h + 1
    after it, recomputed here from the bars) ends before the fold's first prediction, and every
    prediction lies in its fold's test window; the folds cover the out-of-sample span once."""
    db, models, m = walked
    assert m["kind"] == "walk_forward" and len(m["folds"]) >= 3
    h = m["horizon"]
    bars = query(db, "select symbol, ts from marts.fct_features where bar_size = '30min' order by symbol, ts")
    position = {s: pd.DatetimeIndex(g["ts"]) for s, g in bars.groupby("symbol")}
    predictions = query(db, "select symbol, ts from ml.predictions where run_id = ? order by ts", [m["run_id"]])
    covered = 0
    for fold in m["folds"]:
        first = pd.Timestamp(fold["test_first_ts"])
        test_from, test_to = (pd.Timestamp(d) for d in fold["windows"]["test"])
        for symbol, last_ts in fold["train_last_ts"].items():
            stamps = position[symbol]
            label_end = stamps[stamps.get_loc(pd.Timestamp(last_ts)) + h + 1]  # the fill bar, then h more
            assert label_end < first, (fold["fold"], symbol, label_end, first)
        mine = predictions[(predictions.ts.dt.tz_convert("America/New_York").dt.normalize().dt.tz_localize(None) >= test_from)
                           & (predictions.ts.dt.tz_convert("America/New_York").dt.normalize().dt.tz_localize(None) <= test_to)]  # fmt: skip
        assert len(mine) == fold["rows"]["test"] and mine.ts.min() == first
        covered += len(mine)
        assert (models / m["run_id"] / "folds" / str(fold["fold"]) / "model.txt").exists()
    assert covered == len(predictions) == m["rows"]["test"]
    recorded = query(db, "select count(*) as n, bool_and(train_label_end < test_first_ts) as ok from ml.train_folds where run_id = ?",
                     [m["run_id"]])  # fmt: skip
    assert recorded.n[0] == len(m["folds"]) and recorded.ok[0]


def test_a_rolling_window_and_a_ranker(walked, tmp_path):
    """--window rolling trains each fold on the last N sessions only; lambdarank learns the
    cross-sectional rank with one query per timestamp and scores every symbol."""
    db, _, _ = walked
    copy, models = tmp_path / "rank.duckdb", tmp_path / "models"
    shutil.copy(db, copy)
    result = run_cli("train", "--db", copy, "--models", models, "--walk-forward", "--step", "20", "--window", "rolling",
                     "--train-sessions", "40", "--objective", "lambdarank", *symbols_args(), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((models / "latest" / "metadata.json").read_text())
    assert m["objective"] == "lambdarank" and m["label"] == "label_xs_rank_1"
    assert set(m["test_metrics"]["pooled"]["model"]) == {"label_ic", "ic"}  # a ranker's scores have no scale
    spans = [pd.Timestamp(f["windows"]["train"][1]) - pd.Timestamp(f["windows"]["train"][0]) for f in m["folds"]]
    assert all(span < pd.Timedelta(days=70) for span in spans)  # 40 sessions, not everything before
    scores = query(copy, "select count(*) as n, count(score) as scored from ml.predictions where run_id = ?", [m["run_id"]])
    assert scores.n[0] == scores.scored[0] > 0
    bad = run_cli("train", "--db", copy, "--models", models, "--walk-forward", "--window", "rolling", *FAST)
    assert bad.exit_code == 2 and "--window rolling needs --train-sessions" in bad.output


def test_a_rank_model_is_measured_against_the_rank_it_predicts(sample_built):
    """Regression on label_xs_rank: the error and the direction hit rate compare the
    prediction with the rank (neutral 0.5), not with the return; the IC stays on the return.
    A perfect rank predictor scores rmse 0 and hits 100% (measured against returns, the
    same prediction would show an rmse near 0.5 and hit only the up moves)."""
    from ml.metrics import evaluate

    rows = query(sample_built, "select symbol, ts, ret_1, ret_n, label_xs_rank_1, label_fwd_return_1 from marts.fct_features "
                 "where bar_size = '30min' and label_xs_rank_1 is not null and label_fwd_return_1 is not null order by ts")  # fmt: skip
    train, test = rows.iloc[: len(rows) // 2], rows.iloc[len(rows) // 2 :]
    perfect = test["label_xs_rank_1"].to_numpy()
    m = evaluate(train, test, perfect, label="label_xs_rank_1", return_label="label_fwd_return_1", objective="regression")
    model = m["pooled"]["model"]
    assert model["rmse"] == 0 and model["direction_accuracy"] == 1 and model["label_ic"] == pytest.approx(1)
    assert 0.1 < model["ic"] < 1  # the rank among peers explains part of the return
    majority = m["pooled"]["majority"]
    assert 0.25 < majority["rmse"] < 0.35  # a constant near 0.5 misses a uniform rank by ~1/sqrt(12)


def test_topk_dropout_replaces_at_most_n_drop_names_a_rebalance():
    """Four symbols, scores chosen by hand: Qlib's TopkDropout with topk=2, n_drop=1."""
    ts = pd.date_range("2025-06-02 14:30", periods=5, freq="1D", tz="UTC")
    symbols = ["A", "B", "C", "D"]
    scores = {  # decision bar -> scores of A, B, C, D
        0: [4, 3, 2, 1],  # buy A, B (nothing held: 2 + 1 candidates, keep the best 2)
        1: [1, 3, 4, 2],  # held A (1), B (3); best new C (4): drop the worst of {C, B, A} = A, buy C
        2: [2, 1, 3, 4],  # held C (3), B (1); new D (4): drop B, buy D
        3: [4, 3, 2, 1],  # held D (1), C (2); new A (4): drop D, buy A -> C, A
    }
    rows = [{"symbol": s, "ts": ts[t], "proba_up": 0.5, "score": v} for t, values in scores.items() for s, v in zip(symbols, values, strict=True)]
    bars = pd.DataFrame([{"symbol": s, "ts": t, "open": 10.0, "close": 10.0, "last_of_session": False} for t in ts for s in symbols])
    panel = make_panel(pd.DataFrame(rows), bars)
    weights, _ = topk_weights(panel, StrategyParams(kind="topk", topk=2, n_drop=1))
    held = [tuple(s for s, w in zip(panel.symbols, row, strict=True) if w > 0) for row in weights]
    assert held == [(), ("A", "B"), ("B", "C"), ("C", "D"), ("A", "C")]
    assert np.allclose(weights[weights > 0], 0.5)
    # long/short: the best two long, the worst two short, half the book each side
    both, _ = topk_weights(panel, StrategyParams(kind="long_short", topk=1, n_drop=1))
    assert both[1].tolist() == [0.5, 0.0, 0.0, -0.5] and abs(both[1].sum()) < 1e-12


@pytest.mark.parametrize("params", [
    StrategyParams(kind="topk", topk=2, n_drop=1, rebalance=3),
    StrategyParams(kind="long_short", topk=2, n_drop=1, rebalance=2),
], ids=["topk", "long-short"])  # fmt: skip
def test_ranking_portfolios_give_the_same_equity_in_bt_and_the_vector_engine(walked, params):
    """On the walk-forward predictions, IB costs and the 25 bp borrow fee on: bt and the
    vector engine agree to 1e-9, and the shorts pay exactly the fee."""
    db, _, m = walked
    predictions = query(db, "select symbol, ts, proba_up, score from ml.predictions where run_id = ?", [m["run_id"]])
    bars = query(db, "select symbol, ts, open, close, session_date, bars_to_close <= 0 as last_of_session "
                     f"from marts.fct_features where symbol in ({', '.join(repr(s) for s in SYMBOLS)}) and ts >= ?",
                 [predictions.ts.min()])  # fmt: skip
    runs = {engine: simulate(predictions, bars, BacktestConfig(engine=engine, params=params), 3263.0) for engine in ("bt", "vector")}
    bt_equity, vector_equity = runs["bt"]["result"].equity, runs["vector"]["result"].equity
    np.testing.assert_allclose(vector_equity.to_numpy(), bt_equity.to_numpy(), rtol=1e-9)
    assert runs["bt"]["result"].transactions.shape[0] > 20
    if params.kind == "long_short":
        free = simulate(predictions, bars, BacktestConfig(engine="vector", params=params, costs=CostModel(borrow_bps=0.0)), 3263.0)
        held = runs["vector"]["result"].positions
        prices = runs["vector"]["prices"]
        short_value = (held.clip(upper=0).abs() * prices).sum(axis=1)
        fees = (short_value * 0.0025 / 3263.0).sum()
        assert 0 < fees and free["result"].equity.iloc[-1] - vector_equity.iloc[-1] == pytest.approx(fees, rel=0.05)


def test_signal_analysis_of_a_run_equals_alphalens(walked):
    """`alphaduck analyze` on the walk-forward run: its per-date rank IC and quantile returns
    equal alphalens-reloaded's on the same scores and forward returns to 1e-9."""
    import alphalens.performance as perf
    import alphalens.utils as al

    db, _, m = walked
    result = run_cli("analyze", "--db", db, "--prediction-run", m["run_id"], "--horizons", "1,5")
    assert result.exit_code == 0, result.output
    assert "Qlib*" in result.output and "a different market" in " ".join(result.output.split())
    frame = query(db, "select p.ts, p.symbol, p.score, f.label_fwd_return_1 as fwd_1, f.label_fwd_return_5 as fwd_5 "
                      "from ml.predictions p join marts.fct_features f using (symbol, bar_size, ts) where p.run_id = ?",
                  [m["run_id"]])  # fmt: skip
    frame = frame.dropna()
    factor = frame.set_index(["ts", "symbol"])["score"].rename_axis(["date", "asset"])
    returns = frame.set_index(["ts", "symbol"])[["fwd_1", "fwd_5"]].rename_axis(["date", "asset"])
    returns.columns = ["1D", "5D"]
    data = al.get_clean_factor(factor, returns, quantiles=5, max_loss=1.0)
    theirs = perf.factor_information_coefficient(data)
    ours = query(db, "select ts, horizon, rank_ic from ml.signal_ic where run_id = ?", [m["run_id"]]).pivot(
        index="ts", columns="horizon", values="rank_ic")  # fmt: skip
    theirs.index = pd.DatetimeIndex(theirs.index)
    joined = ours.join(theirs, how="inner")
    assert len(joined) > 100
    np.testing.assert_allclose(joined[1], joined["1D"], atol=1e-9)
    np.testing.assert_allclose(joined[5], joined["5D"], atol=1e-9)
    mean_q, _ = perf.mean_return_by_quantile(data, demeaned=True)
    mine = query(db, "select quantile, horizon, mean_return from ml.signal_quantiles where run_id = ?", [m["run_id"]]).pivot(
        index="quantile", columns="horizon", values="mean_return")  # fmt: skip
    np.testing.assert_allclose(mine[1].to_numpy(), mean_q["1D"].to_numpy(), atol=1e-9)


def test_cpcv_training_gives_a_sharpe_per_out_of_sample_path(walked, tmp_path):
    """`train --cv cpcv --cv-groups 4 --cv-test-groups 2`: the search scores C(4, 2) = 6 splits,
    their models score the search window (each row by the C(3, 1) = 3 splits that test its
    group, never one that trained on it), and `backtest` reports 3 path Sharpes. Each stored
    path equals the bt engine (not the vector engine the paths run on) trading, block by
    block, the predictions of the split the path takes each group from."""
    from ml.split import cpcv_paths

    db, _, _ = walked
    copy, models = tmp_path / "cpcv.duckdb", tmp_path / "models"
    shutil.copy(db, copy)
    result = run_cli("train", "--db", copy, "--models", models, "--cv", "cpcv", "--cv-groups", "4", "--cv-test-groups", "2",
                     "--skip-gate", *symbols_args(), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((models / "latest" / "metadata.json").read_text())
    assert m["cv"]["kind"] == "cpcv" and m["cv"]["n_paths"] == 3 and len(m["cv"]["fold_scores"]) == 6
    scored = query(copy, "select split, cv_group, symbol, ts, proba_up, score from ml.cpcv_predictions where run_id = ?",
                   [m["run_id"]])  # fmt: skip
    tests = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert all(set(g.cv_group) <= set(tests[s]) for s, g in scored.groupby("split"))
    assert scored.groupby(["symbol", "ts"]).split.nunique().eq(3).all()
    train_end = pd.Timestamp(m["windows"]["train"][1]).date()
    assert scored.ts.dt.tz_convert("America/New_York").dt.date.max() <= train_end  # the search window, not the test one

    assert run_cli("predict", "--db", copy, "--models", models, "-q").exit_code == 0
    result = run_cli("backtest", "--db", copy, "--models", models, "--prediction-run", m["run_id"], "--engine", "vector",
                     "--no-report")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "CPCV out-of-sample paths" in result.output, result.output
    run_id = query(copy, "select run_id from backtest.runs order by created_at desc limit 1").run_id[0]
    stored = query(copy, "select * from backtest.cpcv_paths where run_id = ? order by path", [run_id])
    stats = json.loads(query(copy, "select stats from backtest.runs where run_id = ?", [run_id]).stats[0])
    assert len(stored) == stats["cpcv_paths"] == 3 and stats["cpcv_sharpe_median"] == pytest.approx(stored.sharpe.median())
    assert (stored.first_ts == scored.ts.min()).all() and (stored.last_ts == scored.ts.max()).all()

    from backtests.backtest import resolve_params
    from backtests.data import as_probability
    from ml.registry import resolve

    model = resolve(m["run_id"], root=models)
    params = resolve_params(StrategyParams(), model)
    rows = as_probability(query(copy, "select split, cv_group, symbol, ts, proba_up, predicted_direction, score "
                                      "from ml.cpcv_predictions where run_id = ?", [m["run_id"]]))  # fmt: skip
    rows["score_pct"] = model.score_percentile(rows.ts, rows.score.to_numpy(float))
    bars = query(copy, "select symbol, ts, open, close, session_date, bars_to_close <= 0 as last_of_session from marts.fct_features "
                       f"where bar_size = '30min' and symbol in ({', '.join(repr(s) for s in SYMBOLS)})")  # fmt: skip
    per_year = float(json.loads(query(copy, "select stats from backtest.runs where run_id = ?", [run_id]).stats[0])["bars_per_year"])
    layout = cpcv_paths(4, 2)
    for path in range(3):
        pieces = []
        for group in range(4):
            block = rows[(rows.split == layout[path, group]) & (rows.cv_group == group)]
            equity = simulate(block, bars, BacktestConfig(engine="bt", params=params), per_year)["result"].equity
            r = equity / equity.shift(1, fill_value=100_000.0) - 1
            pieces.append(r[r.index.isin(block.ts.unique())])
        r = pd.concat(pieces)
        assert len(r) == stored.bars[path]
        assert stored.sharpe[path] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(per_year), rel=1e-9)
