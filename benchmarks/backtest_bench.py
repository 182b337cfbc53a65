"""Backtest figures (prints numbers; not a test).

bt, as `alphaduck backtest` drives it, on 20 symbols x 50,000 30-minute bars of a random
walk, with random predictions turned into signals by the default strategy: the time of
the signal step and of the bt run, per bar and per symbol-bar.

    python benchmarks/backtest_bench.py [--symbols 20] [--bars 50000]
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
from backtests.engine_bt import fill_prices, fill_weights, run_bt  # noqa: E402
from backtests.strategy import StrategyParams, target_weights  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--bars", type=int, default=50_000)
    args = parser.parse_args()
    bars, predictions = market(args.symbols, args.bars)
    print(f"bt backtest: {args.symbols} symbols x {args.bars:,} bars ({len(bars):,} symbol-bars)")
    started = time.perf_counter()
    signals = target_weights(predictions, bars, StrategyParams(long_threshold=0.6, min_hold=3))
    prices, weights = fill_prices(bars, "next_open"), fill_weights(signals)
    signal_seconds = time.perf_counter() - started
    print(f"  signals (strategy state machine, caps):  {signal_seconds:7.2f} s, {len(weights):,} rebalancing bars")
    started = time.perf_counter()
    result = run_bt(prices, weights, costs=CostModel(), initial_capital=1_000_000.0)
    bt_seconds = time.perf_counter() - started
    print(f"  bt run:                                  {bt_seconds:7.2f} s = {bt_seconds / args.bars * 1e6:,.0f} us a bar, "
          f"{bt_seconds / len(bars) * 1e6:,.1f} us a symbol-bar; final equity {result.equity.iloc[-1]:,.0f}")


if __name__ == "__main__":
    main()
