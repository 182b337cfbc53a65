"""The ML stage on the real sample: purged CV, leak guards, the registry, train -> predict,
determinism, and the errors a user meets."""

from __future__ import annotations

import doctest
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import RandomizedSearchCV

import ml.split
from alphaduck.warehouse import connect
from ml.split import PurgedTimeSeriesSplit, purge_before, time_windows
from tests.conftest import run_cli

SYMBOLS = ["SPY", "QQQ", "AAPL", "MSFT"]
FAST = ["--n-iter", "2", "--n-splits", "2", "-q"]


# alphaduck's connection, not duckdb.connect: the module's warehouse is named ml.duckdb on
# purpose, and plain DuckDB would then read `ml.predictions` as ambiguous (catalog or schema)
def query(db, sql: str):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def execute(db, *statements: str) -> None:
    con = connect(db)
    for sql in statements:
        con.execute(sql)
    con.close()


def symbols_args(symbols=SYMBOLS) -> list[str]:
    return [a for s in symbols for a in ("--symbol", s)]


# -- the splitter ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n_stamps=st.integers(10, 120),
    n_symbols=st.integers(1, 4),
    n_splits=st.integers(2, 5),
    horizon=st.integers(1, 5),
    embargo=st.integers(0, 5),
    holes=st.lists(st.integers(0, 479), max_size=40),
)
def test_no_training_row_is_within_horizon_plus_embargo_of_a_test_row(n_stamps, n_symbols, n_splits, horizon, embargo, holes):
    # a panel: every symbol at every timestamp, minus some missing rows; rows in symbol order
    ts = np.tile(np.arange(n_stamps) * 1800, n_symbols)
    keep = np.ones(len(ts), bool)
    keep[[h for h in holes if h < len(ts)]] = False
    ts = ts[keep]
    unique = np.unique(ts)
    cv = PurgedTimeSeriesSplit(n_splits=n_splits, horizon=horizon, embargo=embargo)
    test_size = len(unique) // (n_splits + 1)
    if len(unique) - (horizon + embargo) - test_size * n_splits <= 0:
        with pytest.raises(ValueError, match="Too many splits"):
            list(cv.split(ts, groups=ts))
        return
    folds = list(cv.split(ts, groups=ts))
    assert len(folds) == cv.get_n_splits() == n_splits
    rank = {t: i for i, t in enumerate(unique)}
    for train, test in folds:
        assert len(train) and len(test) and not set(train) & set(test)
        train_ranks = np.array([rank[t] for t in ts[train]])
        test_ranks = np.array([rank[t] for t in ts[test]])
        # every training label (which sees `horizon` bars ahead) ends, with the embargo, before the test fold
        assert train_ranks.max() + horizon + embargo < test_ranks.min()
        # a timestamp is never on both sides, and each side has all rows of its timestamps
        assert not set(ts[train]) & set(ts[test])
        assert set(np.flatnonzero(np.isin(ts, ts[test]))) == set(test)


def test_splitter_refuses_bad_parameters_and_runs_inside_a_search():
    for kwargs, message in [
        ({"n_splits": 1, "horizon": 1}, "got n_splits=1"),
        ({"horizon": 0}, "got horizon=0"),
        ({"horizon": 1, "embargo": -1}, "got embargo=-1"),
    ]:
        with pytest.raises(ValueError, match=message):
            PurgedTimeSeriesSplit(**kwargs)
    with pytest.raises(ValueError, match="needs groups"):
        next(PurgedTimeSeriesSplit(horizon=1).split(np.zeros((10, 1))))
    assert doctest.testmod(ml.split).failed == 0
    # a scikit-learn search accepts it and passes the timestamps through
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    ts = np.repeat(np.arange(60), 3)
    X, y = rng.normal(size=(len(ts), 2)), rng.integers(0, 2, len(ts))
    search = RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, n_iter=2, random_state=0,
                                cv=PurgedTimeSeriesSplit(n_splits=3, horizon=2))  # fmt: skip
    search.fit(X, y, groups=ts)
    assert len(search.cv_results_["split2_test_score"]) == 2


def test_windows_are_consecutive_and_purged():
    sessions = pd.Series(pd.bdate_range("2025-01-01", periods=100).date)
    w = time_windows(sessions)
    assert w.train[1] < w.valid[0] <= w.valid[1] < w.test[0]
    assert w.test[0] == pd.Timestamp(sessions.iloc[80])
    frame = pd.DataFrame({"ts": np.repeat(np.arange(10), 2)})
    assert purge_before(frame, 8, 2)["ts"].max() == 5  # timestamps 6 and 7 label into 8+


# -- training on the sample --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(sample_built, tmp_path_factory):
    """Four symbols of the sample, trained once (calibrated) and scored once."""
    root = tmp_path_factory.mktemp("ml")
    db, models = root / "ml.duckdb", root / "models"
    shutil.copy(sample_built, db)
    result = run_cli("train", "--db", db, "--models", models, "--calibrate", *symbols_args(), *FAST)
    assert result.exit_code == 0, result.output
    metadata = json.loads((models / "latest" / "metadata.json").read_text())
    return db, models, metadata, result.output


def test_train_registers_everything_needed_to_reproduce_the_model(trained):
    db, models, m, output = trained
    run = models / m["run_id"]
    assert (models / "latest").resolve() == run.resolve()
    assert {p.name for p in run.iterdir()} == {"model.txt", "metadata.json", "importance.csv", "importance.png", "calibration.json"}
    assert m["label"] == "label_direction_1" and m["horizon"] == 1 and m["embargo"] == 1
    assert m["symbols"] == sorted(SYMBOLS) and m["bar_size"] == "30min"
    assert not any(f.startswith("label_") for f in m["features"]) and "close" not in m["features"]
    assert len(m["features"]) == 187 and m["features"][:2] == ["ret_1", "log_ret_1"]
    assert len(m["cv"]["fold_scores"]) == 2 and m["gate"]["status"] == "passed"
    assert len(m["training_fingerprint"]) == 64 and len(m["dbt_manifest_sha256"]) == 64
    assert m["git_commit"] and m["dbt_vars"]["rsi_window"] == 14
    w = m["windows"]
    assert w["train"][1] < w["valid"][0] and w["valid"][1] < w["test"][0] and m["train_window"] == w["train"]
    pooled = m["test_metrics"]["pooled"]
    assert set(pooled) == {"model", "majority", "previous_bar", "momentum"}
    assert set(pooled["model"]) == {"auc", "log_loss", "accuracy", "balanced_accuracy", "brier", "ic"}
    assert set(m["test_metrics"]["ic_per_symbol"]) == set(SYMBOLS)
    # the baselines are computed on the same rows: the majority class scores AUC 0.5 exactly
    assert pooled["majority"]["auc"] == 0.5
    importance = pd.read_csv(run / "importance.csv")
    assert list(importance.columns) == ["feature", "gain", "permutation"] and len(importance) == 187
    assert (run / "importance.png").read_bytes()[:4] == b"\x89PNG"
    row = query(db, "select run_id, n_features, gate_status, cardinality(cv_scores) from ml.train_runs")
    assert row == [(m["run_id"], 187, "passed", 2)]
    assert "model" in output and "previous_bar" not in output  # -q prints the one-line summary only


def test_predict_round_trip_is_idempotent_and_queryable(trained, tmp_path):
    db, models, m, _ = trained
    csv = tmp_path / "p.csv"
    first = run_cli("predict", "--db", db, "--models", models, "--csv", csv)
    assert first.exit_code == 0, first.output
    expected = query(
        db,
        f"select count(*) from marts.fct_features where warmup_complete and symbol in ('SPY', 'QQQ', 'AAPL', 'MSFT') "
        f"and session_date >= '{m['windows']['test'][0]}'",
    )[0][0]
    assert f"{expected:,} rows scored" in first.output and f"{expected:,} inserted" in first.output
    rows = query(db, "select * from ml.predictions order by all")
    assert len(rows) == expected
    again = run_cli("predict", "--db", db, "--models", models)
    assert "0 inserted, 0 updated" in again.output
    assert query(db, "select * from ml.predictions order by all") == rows  # created_at included
    proba = np.array(query(db, "select proba_up from ml.predictions"), float)
    assert ((proba >= 0) & (proba <= 1)).all()
    exported = pd.read_csv(csv)
    assert len(exported) == expected and list(exported.columns)[:5] == ["run_id", "symbol", "bar_size", "ts", "proba_up"]
    # analysts: hit rate by symbol from the mart, realised labels beside predictions
    hits = query(db, "select symbol, count(*), avg(is_hit::int) from marts.fct_predictions group by 1 order by 1")
    assert [h[0] for h in hits] == sorted(SYMBOLS) and all(0.3 < h[2] < 0.7 for h in hits)
    # no hit or miss where nothing is realised yet (the last 2 bars: fill bar and one more) or
    # the move was exactly flat
    unknown = query(db, "select count(*) filter (where is_hit is null), count(*) filter (where realised_return is null), "
                        "count(*) filter (where realised_return = 0) from marts.fct_predictions")[0]  # fmt: skip
    assert unknown[0] == unknown[1] + unknown[2] and unknown[1] == 2 * len(SYMBOLS)
    listing = run_cli("models", "list", "--models", models)
    assert m["run_id"] + "*" in listing.output
    shown = run_cli("models", "show", "--models", models)
    assert "previous_bar" in shown.output and "top features by gain" in shown.output


def test_same_seed_and_data_give_the_same_model_file(trained, tmp_path):
    db, models, m, _ = trained
    again = tmp_path / "models"
    result = run_cli("train", "--db", db, "--models", again, "--calibrate", "--skip-gate", *symbols_args(), *FAST)
    assert result.exit_code == 0, result.output
    m2 = json.loads((again / "latest" / "metadata.json").read_text())
    assert (again / m2["run_id"] / "model.txt").read_bytes() == (models / m["run_id"] / "model.txt").read_bytes()
    assert m2["training_fingerprint"] == m["training_fingerprint"]
    assert m2["test_metrics"] == m["test_metrics"]
    assert m2["gate"] == {"status": "skipped", "reason": "--skip-gate"}


def test_a_planted_leak_is_refused_by_name(sample_copy, tmp_path):
    execute(sample_copy, "alter table marts.fct_features add column future_hint double",
            "update marts.fct_features set future_hint = label_fwd_return_1 * 1.01")  # fmt: skip
    models = tmp_path / "models"
    result = run_cli("train", "--db", sample_copy, "--models", models, "--skip-gate", *symbols_args(), *FAST)
    assert result.exit_code == 2
    assert "features that track label_fwd_return_1 almost exactly (look-ahead?): future_hint (rho=1.0000)" in result.output
    assert not models.exists()


def test_train_refuses_data_that_fails_the_gate(sample_copy, tmp_path):
    execute(sample_copy, "update marts.fct_features set rsi = null where symbol = 'SPY' and bar_seq = 1000")
    models = tmp_path / "models"
    result = run_cli("train", "--db", sample_copy, "--models", models, *symbols_args(), *FAST)
    assert result.exit_code == 1
    assert "refusing to train: the features gate failed (columns: no nulls after warm-up: rsi" in result.output
    assert "--skip-gate" in result.output and not models.exists()


def test_errors_name_the_problem(sample_copy, tmp_path):
    def train(*extra):
        return run_cli("train", "--db", sample_copy, "--models", tmp_path, "--skip-gate", *FAST, *extra)

    none = train("--symbol", "NOPE")
    assert none.exit_code == 2 and "no warmed-up 30min feature rows for NOPE" in none.output
    execute(sample_copy, "update marts.fct_features set label_direction_1 = 1 where label_direction_1 is not null")
    single = train(*symbols_args())
    assert single.exit_code == 2 and "label_direction_1 has a single class (1) in the training window" in single.output
    unknown = run_cli("predict", "--db", sample_copy, "--models", tmp_path, "--run-id", "nope")
    assert unknown.exit_code == 2 and f"unknown model run 'nope' in {tmp_path}" in unknown.output
    empty = tmp_path / "empty.duckdb"
    shutil.copy(sample_copy, empty)
    execute(empty, "delete from marts.fct_features")
    result = run_cli("train", "--db", empty, "--models", tmp_path, "--skip-gate", *FAST)
    assert result.exit_code == 2 and "marts.fct_features is empty" in result.output


def test_predict_refuses_a_model_whose_features_differ(trained, tmp_path):
    db, models, m, _ = trained
    changed = tmp_path / "changed.duckdb"
    shutil.copy(db, changed)
    execute(changed, "alter table marts.fct_features drop column a158_klen",
            "alter table marts.fct_features add column new_feature double")  # fmt: skip
    result = run_cli("predict", "--db", changed, "--models", models)
    assert result.exit_code == 2
    assert "missing from marts.fct_features: a158_klen" in result.output
    assert "in marts.fct_features but not in the model: new_feature" in result.output


def test_regression_objective_predicts_returns(trained, tmp_path):
    db, _, _, _ = trained
    reg_db = tmp_path / "reg.duckdb"
    shutil.copy(db, reg_db)
    models = tmp_path / "models"
    result = run_cli("train", "--db", reg_db, "--models", models, "--objective", "regression", "--skip-gate",
                     "--symbol", "SPY", "--symbol", "QQQ", *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output
    m = json.loads((models / "latest" / "metadata.json").read_text())
    assert m["label"] == "label_fwd_return_1" and set(m["test_metrics"]["pooled"]["model"]) == {"rmse", "direction_accuracy", "label_ic", "ic"}
    assert run_cli("predict", "--db", reg_db, "--models", models, "-q").exit_code == 0
    nulls, returns = query(reg_db, f"select count(proba_up), count(predicted_return) from ml.predictions where run_id = '{m['run_id']}'")[0]
    assert nulls == 0 and returns > 0


def test_the_guard_refuses_a_label_among_the_features():
    from alphaduck.errors import AlphaduckError
    from ml.data import refuse_leaks

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"label_fwd_return_1": rng.normal(size=200), "rsi": rng.uniform(0, 100, 200)})
    frame["label_direction_1"] = (frame["label_fwd_return_1"] > 0).astype(int)
    with pytest.raises(AlphaduckError, match="label columns among the features: label_fwd_return_1"):
        refuse_leaks(frame, ["rsi", "label_fwd_return_1"], "label_direction_1")
    refuse_leaks(frame, ["rsi"], "label_direction_1")  # an honest feature passes


def share_selected(db, models, q: float) -> float:
    """The share of the model's validation rows that long_quantile=q goes long on."""
    from backtests.backtest import resolve_params
    from backtests.strategy import StrategyParams, make_panel
    from backtests.validation import score_validation
    from ml.registry import resolve

    model = resolve("latest", root=models)
    scored = score_validation(db, model)
    panel = make_panel(scored.predictions, scored.bars)
    params = resolve_params(StrategyParams(long_quantile=q), model)
    signal = panel.signal(params)
    return float((signal[~np.isnan(signal)] >= params.long_threshold).mean())


def test_quantile_thresholds_select_the_share_they_name(trained, tmp_path):
    """A calibrated classifier (isotonic: a step function, whose quantiles 0.6-0.8 tied and
    sent 47.6% of rows long at long_quantile=0.8) and a regressor (whose sign made 0.8 and 0.5
    the same run, and 0.2 an error): each selects the share it names on its validation window."""
    db, models, m, _ = trained
    assert m["calibrated"]
    for q in (0.2, 0.5, 0.8, 0.9):
        assert share_selected(db, models, q) == pytest.approx(1 - q, abs=0.01), q
    reg_db, reg_models = tmp_path / "reg.duckdb", tmp_path / "models"
    shutil.copy(db, reg_db)
    trained_reg = run_cli("train", "--db", reg_db, "--models", reg_models, "--objective", "regression", "--skip-gate",
                          *symbols_args(), *FAST)  # fmt: skip
    assert trained_reg.exit_code == 0, trained_reg.output
    for q in (0.2, 0.5, 0.8):
        assert share_selected(reg_db, reg_models, q) == pytest.approx(1 - q, abs=0.01), q
    assert run_cli("predict", "--db", reg_db, "--models", reg_models, "-q").exit_code == 0
    exposures = []
    for q in ("0.2", "0.5", "0.8"):
        result = run_cli("backtest", "--db", reg_db, "--models", reg_models, "--engine", "vector", "--no-report",
                         "--run-id", f"q{q}", "--param", f"long_quantile={q}", "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        exposures.append(json.loads(query(reg_db, f"select stats from backtest.runs where run_id = 'q{q}'")[0][0])["exposure"])
    assert exposures[0] > exposures[1] > exposures[2] > 0


def test_a_model_is_refused_on_another_warehouse_bar_size_or_changed_rows(trained, sample_copy, tmp_path):
    from alphaduck.errors import AlphaduckError
    from ml.registry import check_fits, resolve

    db, models, m, _ = trained
    assert m["warehouse"]["id"] and m["warehouse"]["path"] == str(db.resolve())
    for args in (("predict",), ("sweep", "--reports", tmp_path / "reports")):
        other = run_cli(*args, "--db", sample_copy, "--models", models)
        assert other.exit_code == 2, other.output
        assert f"model {m['run_id']} was trained on warehouse {db.resolve()}" in " ".join(other.output.split())
    con = connect(db, read_only=True)
    try:
        with pytest.raises(AlphaduckError, match=f"model {m['run_id']} was trained on 30min bars, not 1d"):
            check_fits(resolve(m["run_id"], root=models), con, bar_size="1d")
    finally:
        con.close()
    # the same warehouse, its training history rewritten since (e.g. rebuilt on other prices)
    changed = tmp_path / "changed.duckdb"
    shutil.copy(db, changed)
    execute(changed, f"update marts.fct_features set label_fwd_return_1 = -label_fwd_return_1, "
                     f"label_direction_1 = 1 - label_direction_1 "
                     f"where symbol = 'SPY' and session_date = '{m['windows']['train'][0]}'")  # fmt: skip
    result = run_cli("predict", "--db", changed, "--models", models)
    assert result.exit_code == 2 and "that have changed in this warehouse since" in " ".join(result.output.split())
