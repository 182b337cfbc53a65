"""Backtest figures (prints numbers; not a test).

On 20 symbols x 50,000 30-minute bars of a random walk, with random predictions turned into
signals by the strategy layer, in one run:
  1. the signal step (compiled state machine and caps);
  2. the same signals through bt, the vector engine and vectorbt (compiled functions warmed
     up first: compile time excluded), their times, ratios, and equity agreement with bt;
  3. a 1,000-configuration sweep with the vector engine over the cores (the same kernels
     `alphaduck sweep` runs).
Targets on 2 cores: vector no slower than vectorbt, >= 100x faster than bt; sweep <= 10 s.

    python benchmarks/backtest_bench.py [--symbols 20] [--bars 50000] [--configs 1000] [--skip-bt]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtests.costs import CostModel  # noqa: E402
from backtests.engine_bt import run_bt  # noqa: E402
from backtests.engine_vector import run_vector  # noqa: E402
from backtests.results import fill_prices, fill_weights  # noqa: E402
from backtests.strategy import StrategyParams, make_panel, target_weights  # noqa: E402
from backtests.sweep import DEFAULT_GRID, configurations, run_sweep  # noqa: E402


def market(symbols: int, bars: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-02 14:30", periods=bars, freq="30min", tz="UTC")
    frames, predictions = [], []
    for k in range(symbols):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.003, bars)))
        opens = np.r_[close[0], close[:-1]]
        frames.append(pd.DataFrame({"symbol": f"S{k:02d}", "ts": ts, "open": opens, "close": close, "last_of_session": False}))
        predictions.append(pd.DataFrame({"symbol": f"S{k:02d}", "ts": ts, "proba_up": rng.uniform(0.35, 0.65, bars)}))
    return pd.concat(frames, ignore_index=True), pd.concat(predictions, ignore_index=True)


def timed(fn, repeat: int = 1):
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--skip-bt", action="store_true", help="leave out bt (about 30 s)")
    args = parser.parse_args()
    bars, predictions = market(args.symbols, args.bars)
    print(f"{args.symbols} symbols x {args.bars:,} bars ({len(bars):,} symbol-bars), IB costs, 2 cores")
    params = StrategyParams(long_threshold=0.6, min_hold=3)
    target_weights(predictions.head(1000), bars.head(1000), params)  # compile
    seconds, signals = timed(lambda: target_weights(predictions, bars, params))
    prices, weights = fill_prices(bars, "next_open"), fill_weights(signals)
    print(f"  signals (compiled state machine, caps, long frame): {seconds:7.2f} s, {len(weights):,} rebalancing bars")
    costs, capital = CostModel(), 1_000_000.0

    run_vector(prices.iloc[:100], weights.iloc[:10], costs=costs, initial_capital=capital)  # compile
    vector_s, vector = timed(lambda: run_vector(prices, weights, costs=costs, initial_capital=capital), repeat=3)
    print(f"  vector engine (warm):   {vector_s:8.3f} s")
    try:
        from backtests.adapters import run_vectorbt

        run_vectorbt(prices, weights, costs=costs, initial_capital=capital)  # warm: compile excluded
        vbt_s, vbt_result = timed(lambda: run_vectorbt(prices, weights, costs=costs, initial_capital=capital), repeat=3)
        print(f"  vectorbt (warm):        {vbt_s:8.3f} s   vector is {vbt_s / vector_s:5.1f}x faster (target >= 1x)")
    except ImportError:
        print("  vectorbt: not installed (pip install 'alphaduck[vectorbt]')")
    if not args.skip_bt:
        bt_s, bt_result = timed(lambda: run_bt(prices, weights, costs=costs, initial_capital=capital))
        deviation = np.max(np.abs(vector.equity.to_numpy() - bt_result.equity.to_numpy()) / bt_result.equity.to_numpy())
        print(f"  bt:                     {bt_s:8.3f} s   vector is {bt_s / vector_s:5.0f}x faster (target >= 100x); "
              f"equity equal to {deviation:.1e}")

    # distinct configurations (64 per threshold): repeating a smaller grid would time configurations
    # a sweep could answer from one evaluation
    thresholds = np.round(np.linspace(0.55, 0.65, -(-args.configs // 64)), 4).tolist()
    grid = DEFAULT_GRID | {"long_quantile": [None], "long_threshold": thresholds}
    configs = configurations(grid, random=args.configs)
    # the sweep's real input is a model's validation window; 5,000 bars is ~1.5 years of
    # half-hour bars; the whole 50,000 is the same data as above
    for n_bars in (5_000, args.bars):
        window = bars[bars["ts"] <= bars["ts"].unique()[n_bars - 1]]
        panel = make_panel(predictions[predictions["ts"].isin(window["ts"])], window)
        run_sweep(panel, configs[:2], base=StrategyParams(fill="next_open"), costs=costs, capital=capital, bars_per_year=3276)
        sweep_s, results = timed(lambda panel=panel: run_sweep(panel, configs, base=StrategyParams(fill="next_open"),
                                                               costs=costs, capital=capital, bars_per_year=3276, workers=2))  # fmt: skip
        print(f"  sweep, {len(results):,} configurations x {args.symbols} symbols x {n_bars:,} bars, 2 workers: "
              f"{sweep_s:6.2f} s ({sweep_s / len(results) * 1000:.1f} ms each; target <= 10 s)")


if __name__ == "__main__":
    main()
