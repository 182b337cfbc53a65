"""Timings of the research statistics beside their targets (and a peer where one exists).

    python benchmarks/stats_bench.py            # ours
    python benchmarks/stats_bench.py --peers    # also alphalens-reloaded's rank IC and arch's SPA (slow)

Signal analysis runs on the real Dow 30 daily file (31 symbols x ~5,900 days, from the
shared data folder); PBO and SPA on seeded noise of the sizes the brief names.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.overfitting import pbo, reality_check, spa_test  # noqa: E402
from ml import signal_analysis as sa  # noqa: E402
from tests.dow30 import dow30  # noqa: E402


def timed(function, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def row(name: str, seconds: float, target: str, peer: str = "") -> None:
    print(f"{name:<42} {seconds:8.3f} s   target {target:<10} {peer}")


def main(peers: bool) -> None:
    bars = dow30("1999-01-01", "2023-12-31")
    prices = bars.pivot(index="ts", columns="symbol", values="close")
    prices.index.name = "date"
    factor = prices.pct_change(20, fill_method=None).stack().rename("factor").rename_axis(["date", "symbol"])
    frame = sa.forward_returns(prices, (1, 5, 20)).merge(factor.reset_index(), on=["date", "symbol"])
    print(f"signal analysis on {frame['symbol'].nunique()} symbols x {frame['date'].nunique()} days ({len(frame)} rows)")
    data = sa.prepare(frame)
    ic = sa.information_coefficient(data)
    for name, function in {
        "prepare (clean + quantiles)": lambda: sa.prepare(frame),
        "rank IC per date": lambda: sa.information_coefficient(data),
        "Pearson IC per date": lambda: sa.information_coefficient(data, "pearson"),
        "IC table / per year": lambda: sa.ic_by_year(ic),
        "IC per symbol": lambda: sa.ic_by_symbol(data),
        "mean return by quantile": lambda: sa.mean_return_by_quantile(data),
        "spread": lambda: sa.quantile_spread(data),
        "factor rank autocorrelation": lambda: sa.factor_rank_autocorrelation(data),
        "quantile turnover": lambda: sa.quantile_turnover(data, 5),
        "factor returns": lambda: sa.factor_returns(data),
    }.items():
        peer = ""
        if peers and name == "rank IC per date":
            import alphalens.performance as ap
            import alphalens.utils as au

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = au.get_clean_factor_and_forward_returns(
                    factor.rename_axis(["date", "asset"]), prices, periods=(1, 5, 20), filter_zscore=None
                )
            peer = f"alphalens {timed(lambda t=theirs: ap.factor_information_coefficient(t)):.1f} s"
        row(name, timed(function, 3), "< 1 s", peer)

    rng = np.random.default_rng(0)
    for shape in [(5_000, 256), (50_000, 1_000)]:
        returns = rng.normal(0, 0.01, shape)
        row(f"PBO (CSCV, S=16) {shape[0]} x {shape[1]}", timed(lambda r=returns: pbo(r)), "seconds")
    returns = rng.normal(0, 0.01, (5_000, 256))
    peer = ""
    if peers:
        from arch.bootstrap import SPA

        def arch_spa():
            test = SPA(np.zeros(5_000), -returns, block_size=17, reps=1_000, seed=0)
            test.compute()

        peer = f"arch SPA {timed(arch_spa):.1f} s"
    row("SPA 5000 x 256, 1000 bootstraps", timed(lambda: spa_test(returns, n_boot=1_000, seed=0)), "seconds", peer)
    row("Reality Check 5000 x 256, 1000 bootstraps", timed(lambda: reality_check(returns, n_boot=1_000, seed=0)), "seconds")


if __name__ == "__main__":
    main(peers="--peers" in sys.argv[1:])
