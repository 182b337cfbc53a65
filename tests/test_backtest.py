"""Strategy and backtests: a hand-computed example, an oracle on real bars, cost monotonicity,
results in the warehouse, errors, and the HTML report in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphaduck.warehouse import connect
from backtests.backtest import BacktestConfig, simulate
from backtests.costs import CostModel
from backtests.stats import round_trips
from backtests.strategy import StrategyParams, target_weights
from tests.conftest import ROOT, run_cli

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def ten_bars(opens: list[float], proba: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = pd.date_range("2025-06-02 13:30", periods=len(opens), freq="30min", tz="UTC")
    bars = pd.DataFrame({"symbol": "X", "ts": ts, "open": opens, "close": opens, "last_of_session": False})
    predictions = pd.DataFrame({"symbol": "X", "ts": ts[: len(proba)], "proba_up": proba})
    return bars, predictions


def test_a_hand_computed_ten_bar_run():
    """Fills at the next open; 3-bar minimum hold delays both exits; the first round trip
    pays the USD 1 minimum commission each way, the second the per-share rate."""
    opens = [10, 10, 11, 12, 11, 10, 10, 12, 13, 12]
    proba = [0.7, 0.4, 0.4, 0.4, 0.8, 0.8, 0.2, 0.2, 0.2]  # decisions on bars 0..8
    bars, predictions = ten_bars(opens, proba)
    costs = CostModel(per_share=0.01, min_per_order=1.0, max_pct_of_value=1.0, slippage_bps=0.0)
    config = BacktestConfig(params=StrategyParams(long_threshold=0.6, min_hold=3), costs=costs, initial_capital=1000.0)
    sim = simulate(predictions, bars, config)
    # entry filled at bar 1's open, exit (wanted from bar 2) only at bar 4; entry at 5, exit at 8
    assert sim["signals"]["target_weight"].tolist() == [1, 1, 1, 0, 1, 1, 1, 0, 0]
    q1 = (1000 - 1.0) / 10  # 99.9 shares: 0.999 USD at 0.01/share is under the minimum
    cash = q1 * 11 - 1.0  # sold at 11, minimum commission again
    q2 = cash / (10 + 0.01)  # 109.68 shares: the per-share rate applies (over 100 shares)
    final = q2 * 13 - 0.01 * q2
    expected = [1000.0, q1 * 10, q1 * 11, q1 * 12, cash, q2 * 10, q2 * 10, q2 * 12, final, final]
    np.testing.assert_allclose(sim["result"].equity.to_numpy(), expected, rtol=1e-12)
    trades = round_trips(sim["result"].transactions)
    assert trades[["entry_price", "exit_price"]].to_numpy().tolist() == [[10, 11], [10, 13]]
    np.testing.assert_allclose(trades["costs"], [2.0, 0.02 * q2], rtol=1e-9)  # bt solves shares to 1e-8 USD


def test_flat_at_close_cooldown_max_hold_and_shorts():
    opens = [10, 11, 12, 13, 12, 11, 10, 11, 12, 13]
    bars, predictions = ten_bars(opens, [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9])
    bars["last_of_session"] = [False, False, False, True, False, False, False, False, False, True]
    flat = target_weights(predictions, bars, StrategyParams(flat_at_close=True))
    # nothing held on a session's last bar (fills 3 and 9); back in on the next session's first
    assert flat["target_weight"].tolist() == [1, 1, 0, 1, 1, 0, 0, 0, 0]
    # a 2-bar maximum hold: out on the second bar, in again on the one after
    hold = target_weights(predictions, bars, StrategyParams(max_hold=2))
    assert hold["target_weight"].tolist() == [1, 1, 0, 1, 1, 0, 0, 0, 1]
    bars, predictions = ten_bars(opens, [0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1])
    shorts = StrategyParams(short_threshold=0.2)
    # no cooldown: the reversal long -> short happens on one fill
    assert target_weights(predictions, bars, shorts)["target_weight"].tolist() == [1, 1, -1, -1, -1, -1, 0, -1, -1]
    # a 2-bar cooldown after the exit at fill 3: no entry on fills 4 and 5
    cool = StrategyParams(short_threshold=0.2, cooldown=2)
    assert target_weights(predictions, bars, cool)["target_weight"].tolist() == [1, 1, 0, 0, 0, -1, 0, 0, 0]


def test_gross_exposure_is_capped_and_unknown_parameters_are_refused():
    ts = pd.date_range("2025-06-02 13:30", periods=4, freq="30min", tz="UTC")
    bars = pd.DataFrame([(s, t, 10.0, 10.0, False) for s in "ABC" for t in ts], columns=["symbol", "ts", "open", "close", "last_of_session"])
    predictions = bars[["symbol", "ts"]].assign(proba_up=[0.9, 0.9, 0.9, 0.9] * 3)
    signals = target_weights(predictions, bars, StrategyParams(position_size=0.5, max_gross=1.0))
    first = signals[signals["fill_ts"] == ts[1]]
    np.testing.assert_allclose(first["target_weight"], [1 / 3] * 3)  # 3 x 0.5 wanted, 1.0 allowed
    with pytest.raises(ValueError, match="unknown strategy parameter 'long_treshold'; did you mean long_threshold"):
        StrategyParams.from_pairs(["long_treshold=0.6"])


@pytest.fixture(scope="module")
def spy_bars(sample_built):
    con = connect(sample_built, read_only=True)
    try:
        return con.execute(
            "select symbol, ts, open, close, bars_to_close <= 0 as last_of_session from marts.fct_features "
            "where symbol = 'SPY' and session_date >= '2025-11-01' order by ts"
        ).df()
    finally:
        con.close()


def test_an_oracle_earns_perfect_foresight_and_one_bar_late_does_not(spy_bars):
    """Knowing the direction of the return the position will earn (next open to the open
    after) gives exactly the perfect-foresight return; acting a bar late gives far less."""
    opens = spy_bars["open"].to_numpy()
    earned = opens[2:] / opens[1:-1] - 1  # decision at t: open(t+1) -> open(t+2)
    oracle = pd.DataFrame({"symbol": "SPY", "ts": spy_bars["ts"].iloc[:-2].to_numpy(), "proba_up": (earned > 0).astype(float)})
    config = BacktestConfig(params=StrategyParams(long_threshold=0.5), costs=CostModel.free(), initial_capital=100_000.0)
    perfect = simulate(oracle, spy_bars, config)["result"].equity
    expected = 100_000.0 * np.prod(1 + np.maximum(earned, 0))
    assert perfect.iloc[-1] == pytest.approx(expected, rel=1e-10)
    late = oracle.assign(ts=spy_bars["ts"].iloc[1:-1].to_numpy())  # the same calls, one bar later
    late_equity = simulate(late, spy_bars, config)["result"].equity
    assert late_equity.iloc[-1] / 100_000 - 1 < 0.2 * (expected / 100_000 - 1)
    # with costs on, the oracle keeps most of it but strictly less
    costly = simulate(oracle, spy_bars, BacktestConfig(params=config.params, initial_capital=100_000.0))["result"].equity
    assert expected * 0.5 < costly.iloc[-1] < expected


@settings(max_examples=12, deadline=None)
@given(
    per_share=st.floats(0, 0.02), min_order=st.floats(0, 5), slippage=st.floats(0, 20),
    which=st.sampled_from(["per_share", "min_per_order", "slippage_bps"]), bump=st.floats(0.01, 10),
)  # fmt: skip
def test_raising_costs_never_raises_returns(spy_bars, per_share, min_order, slippage, which, bump):
    rng = np.random.default_rng(1)
    predictions = spy_bars[["symbol", "ts"]].iloc[:300].assign(proba_up=rng.uniform(0.3, 0.8, 300))
    bars = spy_bars.iloc[:302]
    low = CostModel(per_share=per_share, min_per_order=min_order, max_pct_of_value=0.01, slippage_bps=slippage)
    high_values = {"per_share": per_share, "min_per_order": min_order, "slippage_bps": slippage}
    high_values[which] += bump
    high = CostModel(max_pct_of_value=0.01, **high_values)
    params = StrategyParams(long_threshold=0.6)
    cheap = simulate(predictions, bars, BacktestConfig(params=params, costs=low))["result"].equity.iloc[-1]
    dear = simulate(predictions, bars, BacktestConfig(params=params, costs=high))["result"].equity.iloc[-1]
    assert dear <= cheap + 1e-9


# -- through the warehouse ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own(predicted, tmp_path_factory):
    """This module's copy of the predicted warehouse (other modules read the shared one)."""
    db, models, _ = predicted
    root = tmp_path_factory.mktemp("backtests")
    shutil.copy(db, root / "bt.duckdb")
    return root / "bt.duckdb", models, root


def test_backtest_writes_tables_idempotently_and_a_report(own):
    db, models, root = own
    args = ["backtest", "--db", db, "--models", models, "--reports", root / "reports", "--run-id", "bt1",
            "--param", "long_threshold=0.5"]  # fmt: skip
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    assert "total return" in first.output and f"report {root / 'reports' / 'bt1.html'}" in " ".join(first.output.split())

    def tables():
        con = connect(db, read_only=True)
        try:
            return {t: con.execute(f"select * exclude (run_id) from backtest.{t} where run_id = 'bt1' order by all").fetchall()
                    for t in ("equity", "trades", "signals")} | {
                "runs": con.execute("select stats, parameters from backtest.runs where run_id = 'bt1'").fetchall()}  # fmt: skip
        finally:
            con.close()

    before = tables()
    assert run_cli(*args, "-q").exit_code == 0
    assert tables() == before  # the same run id replaces its rows with the same rows
    stats = json.loads(before["runs"][0][0])
    assert stats["bars_per_year"] == pytest.approx(3245, abs=20)  # 13 bars a full session, fewer on half days
    assert stats["trades"] == len([t for t in before["trades"] if not t[-1]]) > 0
    equity = before["equity"]
    assert equity[0][1] == 100_000.0 and all(row[3] <= 0 for row in equity)  # drawdown never positive
    signals = before["signals"]
    assert all(s[2] > s[1] for s in signals)  # every fill is after its decision bar


def test_the_report_renders_in_headless_chromium_without_script_errors(own):
    """The tear sheet: equity first, then every section, each chart drawn with data, no
    script error, nothing loaded from the network, under 2 MB."""
    import time

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    db, models, root = own
    assert run_cli("backtest", "--db", db, "--models", models, "--reports", root / "reports", "--run-id", "bt2", "-q").exit_code == 0
    report = root / "reports" / "bt2.html"
    html = report.read_text()
    assert report.stat().st_size < 2_000_000, report.stat().st_size
    assert "http://" not in html.split("<body>")[1].split("<script")[0] and 'src="http' not in html  # self-contained
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(report.as_uri())
        started = time.perf_counter()
        while driver.execute_script("return document.body.dataset.plotted") != "true":
            assert time.perf_counter() - started < 30, "the charts were not drawn"
            time.sleep(0.1)
        sections = driver.execute_script(
            "return Array.from(document.querySelectorAll('body > .chart, body > section')).map("
            "e => [e.id, e.querySelectorAll('.main-svg').length, (e.querySelector('.js-plotly-plot') || {}).data ? "
            "e.querySelector('.js-plotly-plot').data.length : 0, e.querySelectorAll('tbody tr').length])"
        )
        text = driver.find_element("tag name", "body").text
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert not errors, errors
    assert [s[0] for s in sections] == ["equity", "stats", "drawdown", "worst-drawdowns", "rolling", "exposure", "distribution",
                                        "symbols", "symbol-pnl", "trades", "monthly", "trade-list", "signal", "importance"]  # fmt: skip
    charts = {name: (svgs, traces) for name, svgs, traces, _ in sections if name not in ("stats", "worst-drawdowns", "symbol-pnl", "trade-list", "signal")}
    assert all(svgs > 0 and traces > 0 for svgs, traces in charts.values()), charts
    rows = {name: n for name, _, _, n in sections}
    assert rows["worst-drawdowns"] > 0 and rows["symbol-pnl"] == 4 and rows["trade-list"] > 0
    assert "rolling Sharpe" in text and "turnover" in text and "excess kurtosis" in text and "Worst drawdowns" in text
    assert "not measured for these predictions" in text  # no `alphaduck analyze` on this run: said, not drawn empty


def test_no_predictions_or_no_prices_give_clear_errors(own, tmp_path):
    db, models, root = own
    missing = run_cli("backtest", "--db", db, "--models", models, "--prediction-run", "nope", "--no-report")
    assert missing.exit_code == 2 and "no predictions of run 'nope' in ml.predictions (runs with predictions:" in missing.output
    window = run_cli("backtest", "--db", db, "--models", models, "--start", "2031-01-01", "--no-report")
    assert window.exit_code == 2 and "between 2031-01-01 and the end" in window.output
    no_prices = tmp_path / "no_prices.duckdb"
    shutil.copy(db, no_prices)
    con = connect(no_prices)
    con.execute("delete from marts.fct_features where symbol in ('SPY', 'QQQ', 'AAPL', 'MSFT') and session_date >= '2026-01-01'")
    con.close()
    result = run_cli("backtest", "--db", no_prices, "--models", models, "--no-report")
    assert result.exit_code == 2 and "no 30min prices in marts.fct_features for AAPL, MSFT, QQQ, SPY" in result.output
    bad = run_cli("backtest", "--db", db, "--param", "fill=tomorrow")
    assert bad.exit_code == 2 and "`fill` must be one of next_open, next_close" in bad.output


def test_chromium_is_where_the_makefile_puts_it():
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "make test installs Debian chromium and chromium-driver"
    assert "chromium-driver" in (ROOT / "Makefile").read_text()


def test_run_stops_at_the_failing_step_and_says_how_to_resume(sample_copy, tmp_path):
    con = connect(sample_copy)
    con.execute("update raw.bars set high = low - 1 where symbol = 'AAPL' and ts = '2025-09-17 17:00:00+00'")
    con.close()
    result = run_cli("run", "--db", sample_copy, "--skip", "ingest", "--skip", "build",
                     "--models", tmp_path / "models", "--reports", tmp_path / "reports")  # fmt: skip
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "Error: quality gate failed (raw.bars: high >= low: AAPL 30min 2025-09-17 17:00" in out
    assert "stopped at gate: fix it and re-run" in out
    assert "gate FAILED" in out and " train " not in out  # nothing ran after it
    assert not (tmp_path / "models").exists()


# -- numbers a researcher can trust -------------------------------------------------------------------


def test_the_fill_must_be_the_one_the_labels_measure(own):
    """The model learnt next-open-to-next-open returns: a next-close backtest is refused (it
    would trade returns the model never saw) unless asked for."""
    db, models, root = own
    metadata = json.loads((models / "latest" / "metadata.json").read_text())
    assert (metadata["label_price"], metadata["fill"]) == ("open", "next_open")
    refused = run_cli("backtest", "--db", db, "--models", models, "--param", "fill=next_close", "--no-report")
    assert refused.exit_code == 2
    assert "`fill=next_close` differs from the fill the model's labels measure (next_open" in " ".join(refused.output.split())
    allowed = run_cli("backtest", "--db", db, "--models", models, "--param", "fill=next_close", "--no-report",
                      "--allow-fill-mismatch", "-q")  # fmt: skip
    assert allowed.exit_code == 0, allowed.output


def test_the_sweep_deflates_the_window_it_chose_on(own):
    """256 configurations tried on the validation window: the chosen one's validation figures
    count 256 trials and their Sharpe variance (its DSR below its PSR); the test window,
    untouched by the choice, counts one and says it was selected from 256."""
    from backtests.stats import deflated_sharpe

    db, models, root = own
    result = run_cli("sweep", "--db", db, "--models", models, "--reports", root / "reports", "-q")
    assert result.exit_code == 0, result.output
    con = connect(db, read_only=True)
    try:
        stats, in_sample, sweep_id = con.execute(
            "select stats, in_sample_stats, sweep_id from backtest.runs where sweep_id is not null "
            "order by created_at desc limit 1").fetchall()[0]  # fmt: skip
        sharpes = [r[0] for r in con.execute("select sharpe from backtest.sweeps where sweep_id = ?", [sweep_id]).fetchall()]
        distinct = con.execute("select count(distinct returns_hash) from ml.trials where kind = 'sweep' and source_id = ?",
                               [sweep_id]).fetchone()[0]  # fmt: skip
        on_window = con.execute(
            "select count(*) from ml.trials t join (select distinct run_id, window_start, window_end from ml.trials "
            "where source_id = ?) s using (run_id, window_start, window_end) where t.bar_sharpe is not null", [sweep_id]).fetchone()[0]  # fmt: skip
        test_window_trials = con.execute(
            "select count(*) from ml.trials t join (select run_id, window_start, window_end from ml.trials where source_id = "
            "(select run_id from backtest.runs where sweep_id = ?)) s using (run_id, window_start, window_end) "
            "where t.bar_sharpe is not null", [sweep_id]).fetchone()[0]  # fmt: skip
    finally:
        con.close()
    stats, in_sample = json.loads(stats), json.loads(in_sample)
    # configurations that trade identically are one trial: the ledger counts distinct return series
    assert len(sharpes) == 256 and 128 < distinct <= 256
    assert in_sample["n_trials"] == on_window >= distinct  # and any other backtest on that window
    assert in_sample["dsr"] < in_sample["psr"] - 0.05
    # the test window, untouched by the choice, counts only backtests traded on it (this one and
    # any earlier backtest of the module's model), never the 256 configurations
    assert stats["selected_from"] == 256 and stats["n_trials"] == test_window_trials < 5
    assert deflated_sharpe(np.array([0.01, -0.02, 0.03] * 50), 256, 1e-4) < deflated_sharpe(np.array([0.01, -0.02, 0.03] * 50), 1, 0)


@pytest.fixture(scope="module")
def dow_predicted(tmp_path_factory):
    """The real Dow 30 + SPY daily panel, 2012-2023 (DOW lists on 2019-03-20, inside the test
    window from 2018-06): ingested, built, a fast model trained and its test window scored."""
    from tests.conftest import dow30_csv

    root = tmp_path_factory.mktemp("dow")
    db, models = root / "dow.duckdb", root / "models"
    csv = dow30_csv(root / "dow30.csv", start="2012-01-01")
    train = ("train", "--n-iter", "1", "--n-splits", "2", "--skip-gate", "--valid-start", "2017-01-03",
             "--test-start", "2018-06-01", "--models", models)  # fmt: skip
    for args in (("ingest", "file", csv), ("build",), train, ("predict", "--models", models)):
        result = run_cli(*args, "--db", db, "-q")
        assert result.exit_code == 0, result.output
    return db, models, root


def test_an_unbalanced_panel_backtests_with_bt_to_the_end_with_a_finite_benchmark(dow_predicted):
    """31 symbols, one of which lists mid-window: bt runs to the end (it used to stop at
    'Cannot allocate capital to DOW because price is nan'), the benchmark is finite and buys
    DOW when it lists, and the vector engine gives bt's numbers."""
    from backtests.results import benchmark_weights

    db, models, root = dow_predicted
    runs = {}
    for engine in ("bt", "vector"):
        result = run_cli("backtest", "--db", db, "--models", models, "--engine", engine, "--run-id", engine,
                         "--param", "long_quantile=0.7", "--no-report", "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        con = connect(db, read_only=True)
        runs[engine] = con.execute("select ts, equity, benchmark_equity from backtest.equity where run_id = ? order by ts",
                                   [engine]).df()  # fmt: skip
        stats = json.loads(con.execute("select stats from backtest.runs where run_id = ?", [engine]).fetchall()[0][0])
        symbols = con.execute("select symbols from backtest.runs where run_id = ?", [engine]).fetchall()[0][0]
        con.close()
        assert len(symbols) == 31 and "DOW" in symbols
        assert np.isfinite(runs[engine][["equity", "benchmark_equity"]].to_numpy()).all()
        assert stats["bars_per_year"] == pytest.approx(251, abs=2)
    bt, vector = runs["bt"], runs["vector"]
    assert (bt.ts.iloc[-1] - bt.ts.iloc[0]).days > 1500 and bt.ts.iloc[0] < pd.Timestamp("2019-03-20", tz="UTC")
    np.testing.assert_allclose(vector.equity, bt.equity, rtol=1e-9)
    np.testing.assert_allclose(vector.benchmark_equity, bt.benchmark_equity, rtol=1e-9)
    # the benchmark re-weights to 1/31 the day DOW lists
    con = connect(db, read_only=True)
    bars = con.execute("select symbol, ts from marts.fct_features where ts >= ? order by ts", [bt.ts.iloc[0]]).df()
    con.close()
    weights = benchmark_weights(bars, pd.DatetimeIndex(bt.ts))
    listing = weights[weights["DOW"].notna()].iloc[0]
    assert listing.name.date() == pd.Timestamp("2019-03-20").date()
    assert listing["DOW"] == pytest.approx(1 / 31) and listing.notna().all()
    assert weights.iloc[0].notna().sum() == 30 and np.isnan(weights.iloc[0]["DOW"])


def test_a_delisted_symbol_is_closed_at_its_last_bar(dow_predicted, tmp_path):
    """AAPL's bars stop mid-window (a delisting planted in a copy): every engine closes its
    position on its last bar, nothing is held afterwards, and bt and the vector engine agree."""
    db, models, root = dow_predicted
    copy = tmp_path / "delisted.duckdb"
    shutil.copy(db, copy)
    con = connect(copy)
    last = con.execute("select max(ts) from ml.predictions").fetchall()[0][0]
    cut = pd.Timestamp(last) - pd.Timedelta(days=200)
    con.execute("delete from marts.fct_features where symbol = 'AAPL' and ts > ?", [cut])
    con.execute("delete from ml.predictions where symbol = 'AAPL' and ts > ?", [cut])
    last_bar = con.execute("select max(ts) from marts.fct_features where symbol = 'AAPL'").fetchall()[0][0]
    con.close()
    held = {}
    for engine in ("bt", "vector"):
        result = run_cli("backtest", "--db", copy, "--models", models, "--engine", engine, "--run-id", engine,
                         "--param", "long_threshold=0.0", "--no-report", "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        con = connect(copy, read_only=True)
        held[engine] = con.execute(
            "select exit_ts, is_open from backtest.trades where run_id = ? and symbol = 'AAPL' order by entry_ts desc limit 1",
            [engine]).fetchall()[0]  # fmt: skip
        equity = con.execute("select equity from backtest.equity where run_id = ? order by ts", [engine]).df()
        con.close()
        held[engine + "_equity"] = equity.equity.to_numpy()
    for engine in ("bt", "vector"):
        exit_ts, is_open = held[engine]
        assert not is_open and exit_ts == last_bar, (engine, exit_ts, last_bar)
    np.testing.assert_allclose(held["vector_equity"], held["bt_equity"], rtol=1e-9)
