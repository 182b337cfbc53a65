"""pyqlib's Alpha158 on a CSV of daily bars: the peer feature_bench.py times (prints numbers).

Writes the bars in Qlib's .bin layout (calendars/day.txt, instruments/all.txt,
features/<symbol>/<field>.day.bin: float32, the first value the calendar index of the
symbol's first bar), then computes every Alpha158 feature with Qlib's own expression
engine (qlib.contrib.data.loader.Alpha158DL's config through qlib.data.D.features).
Run it in a process of its own, so its wall time is "pyqlib's whole process":

    python benchmarks/qlib_alpha158.py BARS.csv [--out FEATURES.parquet]

Needs pyqlib (`pip install -e '.[bench]'`); alphaduck never imports it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FIELDS = ("open", "high", "low", "close", "volume", "vwap")


def write_qlib_bins(bars: pd.DataFrame, root: Path) -> None:
    """Daily bars (ts, symbol, open, high, low, close, volume) in Qlib's .bin layout."""
    bars = bars.assign(date=pd.to_datetime(bars["ts"], utc=True).dt.tz_convert("America/New_York").dt.normalize())
    bars["date"] = bars["date"].dt.tz_localize(None)
    bars["vwap"] = (bars["high"] + bars["low"] + bars["close"]) / 3  # alphaduck's VWAP0 without a wap
    calendar = pd.DatetimeIndex(sorted(bars["date"].unique()))
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(f"{d:%Y-%m-%d}" for d in calendar) + "\n")
    position = pd.Series(np.arange(len(calendar)), index=calendar)
    lines = []
    for symbol, g in bars.groupby("symbol"):
        g = g.set_index("date").sort_index()
        # one value per calendar day from the first bar to the last (missing days are NaN)
        days = calendar[(calendar >= g.index[0]) & (calendar <= g.index[-1])]
        g = g.reindex(days)
        folder = root / "features" / symbol.lower()
        folder.mkdir(parents=True)
        for field in FIELDS:
            values = np.r_[position[days[0]], g[field].to_numpy(float)].astype("<f4")
            values.tofile(folder / f"{field}.day.bin")
        lines.append(f"{symbol.upper()}\t{days[0]:%Y-%m-%d}\t{days[-1]:%Y-%m-%d}")
    (root / "instruments").mkdir()
    (root / "instruments" / "all.txt").write_text("\n".join(lines) + "\n")


def alpha158(root: Path) -> pd.DataFrame:
    import qlib
    from qlib.constant import REG_US
    from qlib.contrib.data.loader import Alpha158DL
    from qlib.data import D

    qlib.init(provider_uri=str(root), region=REG_US, logging_level="WARNING")
    fields, names = Alpha158DL.get_feature_config()
    frame = D.features(D.instruments("all"), fields, freq="day")
    frame.columns = names
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bars", type=Path)
    parser.add_argument("--out", type=Path, help="write the features here (Parquet)")
    args = parser.parse_args()
    started = time.perf_counter()
    bars = pd.read_csv(args.bars)
    with tempfile.TemporaryDirectory() as tmp:
        write_qlib_bins(bars, Path(tmp))
        written = time.perf_counter()
        frame = alpha158(Path(tmp))
    done = time.perf_counter()
    if args.out:
        frame.to_parquet(args.out)
    print(f"qlib rows={len(frame)} columns={frame.shape[1]} write_bins={written - started:.2f} "
          f"alpha158={done - written:.2f}", file=sys.stdout)  # fmt: skip


if __name__ == "__main__":
    main()
