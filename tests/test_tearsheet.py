"""The tear sheet's figures (backtests/tearsheet.py) on real bars, against quantstats: rolling
Sharpe and volatility, the worst-drawdowns table, the return distribution's moments; the
exposure rebuilt from trades against the engine's positions; what the charts skip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from backtests import tearsheet as ts
from backtests.backtest import BacktestConfig, simulate
from backtests.stats import drawdown, round_trips
from backtests.strategy import StrategyParams
from tests.conftest import SAMPLE_30MIN, SAMPLE_DAILY


@pytest.fixture(scope="module")
def spy_daily() -> pd.Series:
    """SPY's daily closes 1999-2023 as an equity curve (buy and hold): real drawdowns, the
    2000s and 2008 among them."""
    frame = pd.read_csv(SAMPLE_DAILY, parse_dates=["ts"])
    return frame.set_index("ts")["close"].astype(float)


@pytest.fixture(scope="module")
def panel_30min() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLE_30MIN)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def test_rolling_sharpe_and_volatility_equal_quantstats(spy_daily):
    returns = ts.bar_returns(spy_daily)
    window, per_year = ts.rolling_window(252), 252
    ours = ts.rolling_sharpe(returns, window, per_year)
    theirs = qs.stats.rolling_sharpe(returns, rolling_period=window, periods_per_year=per_year, prepare_returns=False)
    both = ours.notna() & theirs.notna()
    assert both.sum() > 5000 and ours[~both].isna().all()
    np.testing.assert_allclose(ours[both], theirs[both], rtol=1e-10)
    vol = ts.rolling_volatility(returns, window, per_year)
    theirs_vol = qs.stats.rolling_volatility(returns, rolling_period=window, periods_per_year=per_year, prepare_returns=False)
    np.testing.assert_allclose(vol.dropna(), theirs_vol.dropna(), rtol=1e-10)


def test_worst_drawdowns_equal_quantstats(spy_daily):
    ours = ts.worst_drawdowns(spy_daily, top=10)
    details = qs.stats.drawdown_details(drawdown(spy_daily))  # its dates come back as text
    details = details.assign(**{c: pd.to_datetime(details[c]) for c in ("start", "valley", "end")}).set_index("start")
    assert len(ours) == 10 and ours["depth"].is_monotonic_increasing
    assert -0.6 < ours["depth"].iloc[0] < -0.55  # 2007-10 .. 2009-03, unadjusted closes
    assert ours["trough"].iloc[0].strftime("%Y-%m-%d") == "2009-03-09"
    for row in ours.itertuples():
        theirs = details.loc[row.start]
        assert theirs["valley"] == row.trough
        assert theirs["max drawdown"] / 100 == pytest.approx(row.depth, rel=1e-12)
        # quantstats ends a drawdown on its last bar under water; ours is the bar that recovers
        position = spy_daily.index.get_loc(row.end) if row.recovered else len(spy_daily)
        assert theirs["end"] == spy_daily.index[position - 1]
        assert row.length == position - spy_daily.index.get_loc(row.start)
    never = ts.worst_drawdowns(pd.Series([1.0, 2.0, 3.0]))
    assert never.empty


def test_an_unrecovered_drawdown_has_no_end():
    equity = pd.Series([100, 110, 99, 105, 111, 90, 95.0], index=pd.date_range("2025-01-06", periods=7, freq="D"))
    table = ts.worst_drawdowns(equity)
    assert table["depth"].round(6).tolist() == [round(90 / 111 - 1, 6), -0.1]
    assert table["recovered"].tolist() == [False, True] and pd.isna(table["end"].iloc[0])
    assert table["length"].tolist() == [2, 2] and table["end"].iloc[1] == equity.index[4]


def test_return_distribution_moments_equal_quantstats(panel_30min):
    spy = panel_30min[panel_30min["symbol"] == "SPY"].set_index("ts")["close"]
    returns = ts.bar_returns(spy)
    dist = ts.return_distribution(returns, bins=50)
    assert dist["counts"].sum() == len(returns) and len(dist["edges"]) == 51
    assert dist["skew"] == pytest.approx(qs.stats.skew(returns, prepare_returns=False), rel=1e-12)
    assert dist["kurtosis"] == pytest.approx(qs.stats.kurtosis(returns, prepare_returns=False), rel=1e-12)
    assert dist["var_5"] == pytest.approx(np.quantile(returns, 0.05), rel=1e-12)
    assert dist["cvar_5"] < dist["var_5"] < 0 < dist["std"]


def test_exposure_rebuilt_from_trades_equals_the_engines_positions(panel_30min):
    """A long/short strategy on four real symbols through the vector engine: the exposure the
    report rebuilds from round trips is the engine's gross position value over equity."""
    bars = panel_30min[panel_30min["symbol"].isin(["SPY", "QQQ", "AAPL", "XOM"])].copy()
    bars = bars[bars["ts"] >= "2026-01-01"].sort_values(["symbol", "ts"]).reset_index(drop=True)
    bars["last_of_session"] = False
    rng = np.random.default_rng(3)
    predictions = bars[["symbol", "ts"]].assign(proba_up=rng.uniform(0, 1, len(bars)))
    config = BacktestConfig(engine="vector", params=StrategyParams(long_threshold=0.7, short_threshold=0.3, min_hold=4))
    sim = simulate(predictions, bars, config)
    result, prices = sim["result"], sim["prices"]
    engine = (result.positions.abs() * prices).sum(axis=1) / result.equity
    trades = round_trips(result.transactions)
    assert len(trades) > 50
    rebuilt = ts.exposure_from_trades(trades, prices, result.equity)
    np.testing.assert_allclose(rebuilt.to_numpy(), engine.to_numpy(), rtol=1e-9, atol=1e-12)
    daily = ts.exposure_and_turnover(rebuilt, trades, result.equity)
    traded = (result.transactions["quantity"].abs() * result.transactions["price"]).sum()
    per_session_equity = result.equity.groupby(ts._session_dates(result.equity.index)).mean()
    assert (daily["turnover"] * per_session_equity).sum() == pytest.approx(traded, rel=1e-9)  # every order counted once
    by_symbol = ts.pnl_by_symbol(trades)
    assert by_symbol["trades"].sum() == (~trades["open"]).sum()
    assert by_symbol["pnl"].sum() == pytest.approx(trades.loc[~trades["open"], "pnl"].sum())
    listed = ts.trade_list(trades)
    assert listed["entry_ts"].is_monotonic_decreasing and len(listed) == len(trades)


def test_charts_skip_nights_weekends_and_holidays(panel_30min):
    stamps = panel_30min.loc[panel_30min["symbol"] == "SPY", "ts"]
    breaks = ts.time_breaks(stamps)
    assert breaks[0] == {"bounds": ["sat", "mon"]}
    # regular hours are 13:30-20:00 UTC in summer, 14:30-21:00 in winter
    assert breaks[1] == {"bounds": [21.0, 13.5], "pattern": "hour"}
    assert {"2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25", "2026-01-01"} <= set(breaks[2]["values"])
    daily = ts.time_breaks(pd.date_range("2025-06-02 13:30", periods=30, freq="B", tz="UTC"))
    assert daily == [{"bounds": ["sat", "mon"]}]


def test_downsampling_keeps_ends_and_extremes(spy_daily):
    frame = spy_daily.rename("equity").to_frame()
    small = ts.downsample(frame, 400, "equity")
    assert len(small) <= 400 < len(frame)
    assert small.index[0] == frame.index[0] and small.index[-1] == frame.index[-1]
    assert small["equity"].max() == frame["equity"].max() and small["equity"].min() == frame["equity"].min()
    assert ts.downsample(frame.head(100), 400, "equity").equals(frame.head(100))
