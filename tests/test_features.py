"""The dbt feature layer, built with the real `dbt build` on the real sample.

One warehouse holds the sample plus copies of AAPL (and SPY daily) cut at several points,
or started later, under other names; a single build then answers the look-ahead and
warm-up questions by comparing series with each other.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import talib

from tests.conftest import NO_UNIT_TESTS, SAMPLE_30MIN, bars_csv, run_cli, run_dbt

INTRADAY = "30min"
CUTS = [700, 1500, 2400]  # bar_seq of the last bar kept
LATE_STARTS = [700, 1500]  # bar_seq of the first bar kept
TOLERANCE = 1e-9
EARLIER = {"macd": 26 - 1, "stoch_k": 5 + 3 - 2}  # first bar with a value, where TA-Lib's is later
RECURSIVE = ["ema", "macd", "macd_signal", "macd_hist", "rsi", "atr", "natr", "adx", "plus_di", "minus_di"]


def build(db, *args: str) -> str:
    result = run_dbt("build", *NO_UNIT_TESTS, *args, db=db)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def copy_series(con, symbol: str, bar_size: str, new_symbol: str, condition: str) -> None:
    con.execute(
        f"""
        insert into raw.bars
        select '{new_symbol}', bar_size, ts, open, high, low, close, volume, wap, bar_count, source, ingested_at
        from (
            select *, row_number() over (order by ts) - 1 as seq
            from raw.bars where symbol = '{symbol}' and bar_size = '{bar_size}'
        )
        where {condition}
        """
    )


@pytest.fixture(scope="session")
def features_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("features") / "features.duckdb"
    # the intraday sample and SPY's daily bars (the Dow 30 file's adjusted history is
    # test_adjustment.py's: 174k more bars here tripled the build and the comparison)
    for dataset in ("us24-30min", "spy-daily"):
        result = run_cli("ingest", "sample", "--dataset", dataset, "--db", db, "-q")
        assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db))
    for cut in CUTS:
        copy_series(con, "AAPL", INTRADAY, f"AAPL~cut{cut}", f"seq <= {cut}")
    copy_series(con, "SPY", "1d", "SPY~cut3000", "seq <= 3000")
    for start in LATE_STARTS:
        copy_series(con, "AAPL", INTRADAY, f"AAPL~from{start}", f"seq >= {start}")
    con.close()
    build(db)
    return db


def features(db, symbol: str, bar_size: str = INTRADAY) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select * from marts.fct_features where symbol = ? and bar_size = ? order by ts", [symbol, bar_size]
        ).df()
    finally:
        con.close()


def real_series(db) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select distinct symbol, bar_size from raw.bars where symbol not like '%~%' order by 1, 2"
        ).fetchall()
    finally:
        con.close()


def talib_reference(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """TA-Lib's value of every indicator it has, with our default windows."""
    o, h, l, c, v = (f[x].to_numpy(float) for x in ("open", "high", "low", "close", "volume"))  # noqa: E741
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    slow_k, slow_d = talib.STOCH(h, l, c, 5, 3, 0, 3, 0)
    upper, middle, lower = talib.BBANDS(c, 20, 2, 2, 0)
    ref = {
        "sma": talib.SMA(c, 20), "ema": talib.EMA(c, 20), "wma": talib.WMA(c, 20),
        "macd": macd, "macd_signal": signal, "macd_hist": hist,
        "rsi": talib.RSI(c, 14), "stoch_k": slow_k, "stoch_d": slow_d, "willr": talib.WILLR(h, l, c, 14),
        "cci": talib.CCI(h, l, c, 14), "roc": talib.ROC(c, 10), "mfi": talib.MFI(h, l, c, v, 14),
        "adx": talib.ADX(h, l, c, 14), "plus_di": talib.PLUS_DI(h, l, c, 14), "minus_di": talib.MINUS_DI(h, l, c, 14),
        "atr": talib.ATR(h, l, c, 14), "natr": talib.NATR(h, l, c, 14),
        "bb_upper": upper, "bb_middle": middle, "bb_lower": lower, "obv": talib.OBV(c, v),
    }  # fmt: skip
    for d in (5, 10, 20, 30, 60):
        # Alpha158 operators that TA-Lib also has, scaled back to price units
        ref[f"a158_ma_{d}*close"] = talib.SMA(c, d)
        ref[f"a158_std_{d}*close"] = talib.STDDEV(c, d) * np.sqrt(d / (d - 1))  # Qlib: sample std
        ref[f"a158_beta_{d}*close"] = talib.LINEARREG_SLOPE(c, d)
        ref[f"a158_max_{d}*close"] = talib.MAX(h, d)
        ref[f"a158_min_{d}*close"] = talib.MIN(l, d)
        ref[f"a158_roc_{d}*close"] = 1 / talib.ROCR(c, d) * c
        ref[f"a158_corr_{d}"] = talib.CORREL(c, np.log(v + 1), d)
    return ref


def ours(f: pd.DataFrame, name: str) -> np.ndarray:
    column, _, scaled = name.partition("*")
    values = f[column].to_numpy(float)
    return values * f["close"].to_numpy(float) if scaled else values


def deviation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| relative to b, or absolute where |b| < 1 (an oscillator crossing 0, a slope near 0)."""
    return np.abs(a - b) / np.maximum(np.abs(b), 1.0)


def test_every_indicator_equals_talib_after_its_warmup(features_db):
    worst = (0.0, "")
    checked = 0
    for symbol, bar_size in real_series(features_db):
        f = features(features_db, symbol, bar_size)
        for name, reference in talib_reference(f).items():
            mine = ours(f, name)
            defined = ~np.isnan(reference)
            where = f"{name} of {symbol} {bar_size}"
            assert not np.isnan(mine[defined]).any(), f"{where}: null where TA-Lib has a value"
            # TA-Lib shows the MACD line and slow %K only once the signal / %D exist; ours
            # start as soon as they are defined
            first = EARLIER.get(name, int(np.argmax(defined)))
            assert np.isnan(mine[:first]).all() and not np.isnan(mine[first:]).any(), f"{where}: warm-up"
            dev = deviation(mine[defined], reference[defined])
            assert dev.max() <= TOLERANCE, f"{where}: off by {dev.max():.2e} at ts {f.ts[defined].iloc[dev.argmax()]}"
            worst = max(worst, (dev.max(), where))
            checked += defined.sum()
    print(f"\n{checked:,} values checked against TA-Lib; largest deviation {worst[0]:.2e} ({worst[1]})")
    assert checked > 2_000_000


FEATURE_EXCLUDED = {"symbol"}  # and every label_* column


def same(a: pd.Series, b: pd.Series) -> bool:
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        x, y = a.to_numpy(float), b.to_numpy(float)
        return bool(np.array_equal(x, y, equal_nan=True))
    # a nullable comparison is NA where either side is: NA is not a match
    return bool(((a == b).fillna(False) | (a.isna() & b.isna())).all())


@pytest.mark.parametrize(("symbol", "bar_size", "cut"), [("AAPL", INTRADAY, c) for c in CUTS] + [("SPY", "1d", 3000)])
def test_no_feature_changes_when_the_future_is_cut_off(features_db, symbol, bar_size, cut):
    full = features(features_db, symbol, bar_size).iloc[: cut + 1].reset_index(drop=True)
    truncated = features(features_db, f"{symbol}~cut{cut}", bar_size)
    assert len(truncated) == cut + 1
    changed = [c for c in full.columns if c not in FEATURE_EXCLUDED and not c.startswith("label_")
               and not same(full[c], truncated[c])]
    assert not changed, f"features at t <= cut depend on later bars: {changed}"
    # labels: equal wherever their future bars (the fill bar and h more) are inside the cut
    for h in (1, 5, 20):
        label = f"label_fwd_return_{h}"
        assert same(full[label].iloc[: -(h + 1)], truncated[label].iloc[: -(h + 1)])
        assert truncated[label].iloc[-(h + 1) :].isna().all()


def expected_labels(f: pd.DataFrame, *, h: int = 1, price: str = "open", band: float = 0.0) -> tuple[pd.Series, pd.Series]:
    """What a decision on each bar's close earns, filled on the next bar at ``price`` and held
    h bars, and its direction (null for an exact zero or inside the dead band)."""
    realised = (f[price].shift(-(h + 1)) / f[price].shift(-1) - 1).rename(f"label_fwd_return_{h}")
    direction = pd.Series(np.where(realised > band, 1.0, np.where(realised < -band, 0.0, np.nan)))
    return realised, direction


def test_labels_are_the_return_the_next_open_fill_earns(features_db):
    for symbol, bar_size in real_series(features_db):
        f = features(features_db, symbol, bar_size)
        for h in (1, 5, 20):
            realised, direction = expected_labels(f, h=h)
            label = f[f"label_fwd_return_{h}"]
            assert same(label, realised), f"{symbol} {bar_size} {h}"
            assert label.iloc[-(h + 1) :].isna().all() and label.iloc[: -(h + 1)].notna().all()
            assert same(f[f"label_direction_{h}"].astype(float), direction), f"{symbol} {bar_size} {h}"
    # a flat move is not a down move: exact zeros have no direction (the old label said 0)
    flat = features(features_db, "SPY", INTRADAY).query("label_fwd_return_1 == 0")
    assert len(flat) > 10 and flat.label_direction_1.isna().all()


def test_the_label_follows_label_price_horizon_and_dead_band(tmp_path):
    """Fills at the next close (label_price=close), 5 bars held by default, a 5 bp dead
    band: the labels say so, the build records it, and the features gate (labels,
    directions) passes. A horizon fct_features' contract does not list (3) stops the build
    before it runs anything, naming the columns to list."""
    db = tmp_path / "close.duckdb"
    two = bars_csv(SAMPLE_30MIN, tmp_path / "two.csv", symbols=["SPY", "XOM"])
    assert run_cli("ingest", "file", two, "--db", db, "-q").exit_code == 0
    unlisted = run_cli("build", "--db", db, "-q", "--var", "label_horizons=[3]", "--var", "label_horizon=3")
    assert unlisted.exit_code == 1
    message = " ".join(unlisted.output.split())
    assert "missing columns label_fwd_return_3, label_direction_3, label_xs_rank_3, label_xs_excess_3" in message
    assert "fct_features.yml" in message
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from duckdb_tables() where schema_name = 'marts'").fetchall()[0][0] == 0
    con.close()
    result = run_cli("build", "--db", db, "-q", "--var", "label_price=close", "--var", "label_horizon=5",
                     "--var", "label_dead_band=0.0005")  # fmt: skip
    assert result.exit_code == 0, result.output
    for symbol in ("SPY", "XOM"):
        f = features(db, symbol)
        for h in (1, 5, 20):
            realised, direction = expected_labels(f, h=h, price="close", band=0.0005)
            label = f[f"label_fwd_return_{h}"]
            assert same(label, realised) and same(f[f"label_direction_{h}"].astype(float), direction)
            assert label.iloc[-(h + 1) :].isna().all() and label.iloc[: -(h + 1)].notna().all()
    con = duckdb.connect(str(db), read_only=True)
    recorded = json.loads(con.execute("select vars from marts.feature_builds order by built_at desc limit 1").fetchall()[0][0])
    con.close()
    assert (recorded["label_price"], recorded["label_horizon"], recorded["label_dead_band"]) == ("close", 5, 0.0005)
    gate = run_cli("check", "--db", db, "--suite", "features", "--no-docs")
    assert gate.exit_code == 0, gate.output
    bad = run_cli("build", "--db", db, "-q", "--var", "label_price=vwap")
    assert bad.exit_code == 1 and "label_price must be 'open'" in bad.output


@pytest.mark.parametrize("start", LATE_STARTS)
def test_recursive_indicators_forget_where_history_starts_before_warmup_completes(features_db, start):
    full = features(features_db, "AAPL").set_index("ts")
    late = features(features_db, f"AAPL~from{start}").set_index("ts")
    warm = late[late.warmup_complete]
    assert len(warm) > 500
    for name in RECURSIVE:
        dev = deviation(warm[name].to_numpy(float), full.loc[warm.index, name].to_numpy(float))
        assert dev.max() < TOLERANCE, f"{name}: history from bar {start} differs by {dev.max():.2e}"
        # and they do depend on it before the warm-up is over: the flag is not decorative
    early = late.iloc[30:100]
    assert deviation(early.adx.to_numpy(float), full.loc[early.index, "adx"].to_numpy(float)).max() > 1e-6


def test_every_model_and_column_is_documented(features_db):
    """Every model and every column it produces has a description. Ephemeral intermediates
    have no relation for the catalog to read, so their columns come from running their
    compiled SQL; fct_features takes its feature list from these YAML files, so a column
    missing from them would silently be missing from the feature table."""
    target = features_db.with_suffix(".target")
    result = run_dbt("docs", "generate", db=features_db, target=target)
    assert result.returncode == 0, result.stdout[-3000:]
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    con = duckdb.connect(str(features_db), read_only=True)
    missing, models = [], 0
    for node_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        models += 1
        if not node["description"].strip():
            missing.append(node_id)
        if node["config"]["materialized"] == "ephemeral":
            columns = [row[0] for row in con.execute(f"describe ({node['compiled_code']})").fetchall()]
            columns.remove("write_from_seq") if "write_from_seq" in columns else None
        else:
            columns = list(catalog["nodes"][node_id]["columns"])
        for column in columns:
            if not node["columns"].get(column.lower(), {}).get("description", "").strip():
                missing.append(f"{node_id}.{column}")
    con.close()
    assert models >= 10
    assert not missing, f"undocumented: {missing[:20]}"


FEATURE_TABLES = ["intermediate.int_smoothing", "marts.fct_features"]
INCREMENTAL_TABLES = ["staging.stg_bars", "intermediate.int_bars", *FEATURE_TABLES]
UNTOUCHED = 10_000_000  # added to bar_seq: marks a row an incremental build did not rewrite


def execute(db, *statements: str) -> None:
    con = duckdb.connect(str(db))
    for sql in statements:
        con.execute(sql)
    con.close()


def table(db, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select * from {name} order by symbol, bar_size, ts").df()
    finally:
        con.close()


def test_incremental_build_equals_a_full_rebuild(tmp_path):
    """New bars and a corrected old bar arrive after a build: the incremental build that
    follows writes exactly what a full rebuild writes."""
    db = tmp_path / "incremental.duckdb"
    # four symbols of the real sample (a fifth of the build time), the last session held back
    four = tmp_path / "four.csv"
    held = tmp_path / "held_back.csv"
    con = duckdb.connect()
    con.execute(f"create table src as select * from read_csv('{SAMPLE_30MIN}') where symbol in ('AAPL', 'MSFT', 'SPY', 'XOM')")
    last_session = con.execute("select max(ts::date) from src").fetchall()[0][0]
    con.execute(f"copy (select * from src where ts::date < '{last_session}') to '{four}' (header)")
    con.execute(f"copy (select * from src where ts::date = '{last_session}') to '{held}' (header)")
    con.close()
    assert run_cli("ingest", "file", four, "--db", db, "-q").exit_code == 0
    build(db)

    # the held-back session arrives, and one AAPL bar in the middle is corrected
    assert run_cli("ingest", "file", held, "--db", db, "-q").exit_code == 0
    con = duckdb.connect(str(db))
    ts, high, low = con.execute(
        "select ts, high, low from raw.bars where symbol = 'AAPL' order by ts limit 1 offset 1800"
    ).fetchall()[0]
    con.close()
    correction = tmp_path / "correction.csv"
    correction.write_text(
        f"ts,symbol,open,high,low,close,volume\n{ts.isoformat()},AAPL,{low},{high},{low},{(high + low) / 2},1234567\n"
    )
    assert run_cli("ingest", "file", correction, "--bar-size", INTRADAY, "--db", db, "-q").exit_code == 0
    # mark every row the first build wrote: a row still marked after the incremental build
    # was not rewritten by it (bar_seq is what no model reads back from these tables)
    execute(db, *(f"update {name} set bar_seq = bar_seq + {UNTOUCHED}" for name in FEATURE_TABLES))
    before = tmp_path / "before" / db.name
    before.parent.mkdir()
    shutil.copy(db, before)
    log = build(db)
    assert "incremental model marts.fct_features" in log and "incremental model intermediate.int_bars" in log
    # stg_bars and int_bars (whose bar_seq the feature models read, so it is not marked)
    # rewrote AAPL from the corrected bar's day on and the other series' new session only
    expected = {"AAPL": pd.Timestamp(ts).tz_convert("UTC").date(), **dict.fromkeys(("MSFT", "SPY", "XOM"), last_session)}
    assert rewritten_from(db, before) == {"stg_bars": expected, "int_bars": expected}
    # it rewrote exactly the rows from the corrected bar less the labels' look-ahead (1 + the
    # longest horizon, 20) on, in every series (cross-sectional labels rank them all), and
    # nothing before
    con = duckdb.connect(str(db))
    corrected_seq = con.execute(
        "select bar_seq from intermediate.int_bars where symbol = 'AAPL' and ts = ?", [ts]
    ).fetchall()[0][0]
    from_ts = con.execute(
        "select ts from intermediate.int_bars where symbol = 'AAPL' and bar_seq = ?", [corrected_seq - 21]
    ).fetchall()[0][0]
    for name in FEATURE_TABLES:
        rewritten, expected, misplaced, total = con.execute(
            f"""
            select count(*) filter (where bar_seq < {UNTOUCHED}), count(*) filter (where ts >= $1),
                   count(*) filter (where (bar_seq < {UNTOUCHED}) <> (ts >= $1)), count(*)
            from {name}
            """,
            [from_ts],
        ).fetchall()[0]
        assert misplaced == 0 and rewritten == expected, f"{name}: rewrote {rewritten} rows, expected {expected}"
        assert 0 < rewritten < total / 2, f"{name}: rewrote {rewritten} of {total} rows"
        con.execute(f"update {name} set bar_seq = bar_seq - {UNTOUCHED} where bar_seq >= {UNTOUCHED}")
    con.close()

    full = tmp_path / "full.duckdb"
    shutil.copy(db, full)
    build(full, "--full-refresh")
    assert_same_tables(db, full)


def rewritten_from(db, before) -> dict[str, dict[str, object]]:
    """For stg_bars and int_bars, the first date of each symbol's rows that db's last
    (incremental) build wrote: the model's compiled incremental query, run on ``before`` (a
    copy of db as that build found it) given the tables the build made before the model."""
    compiled = db.with_suffix(".target") / "compiled/alphaduck/dbt_project/models"
    con = duckdb.connect(str(before))
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{db}' as built (read_only)")

    def first_dates(query: Path) -> dict[str, object]:
        return dict(con.execute(f"select symbol, min(ts)::date from ({query.read_text()}) group by symbol").fetchall())

    try:
        written = {"stg_bars": first_dates(compiled / "staging/stg_bars.sql")}
        # int_bars ran on the staging tables the build had just made
        staging = "select table_name from duckdb_tables() where database_name = 'built' and schema_name = 'staging'"
        for (name,) in con.execute(staging).fetchall():
            con.execute(f"create or replace table staging.{name} as select * from built.staging.{name}")
        return written | {"int_bars": first_dates(compiled / "intermediate/int_bars.sql")}
    finally:
        con.close()


def test_back_filled_history_a_new_split_and_off_session_bars_rebuild_as_in_full(tmp_path):
    """After a build, MSFT's first 20 sessions are back-filled (every bar_seq of it moves on),
    a 2:1 split of XOM is recorded (every earlier price halves) and SPY trades one more bar on
    a Saturday (no session: it numbers on from SPY's earlier Saturday bar, in the one
    sessionless group): the incremental build rewrites MSFT and XOM from their first bar and
    SPY from that Saturday, and ends equal to a full rebuild."""
    db = tmp_path / "incremental.duckdb"
    three = bars_csv(SAMPLE_30MIN, tmp_path / "three.csv", symbols=["MSFT", "SPY", "XOM"])
    frame = pd.read_csv(three)
    days = sorted(frame.ts.str[:10].unique())
    held = (frame.symbol == "MSFT") & (frame.ts.str[:10] < days[20])
    spy = frame[frame.symbol == "SPY"]
    saturdays = [(pd.Timestamp(day) + pd.offsets.Week(weekday=5)).date() for day in (days[len(days) // 3], days[-1])]
    off_session = [spy.iloc[-1].to_dict() | {"ts": f"{day}T11:00:00-04:00"} for day in saturdays]
    pd.concat([frame[~held], pd.DataFrame(off_session[:1])]).to_csv(three, index=False)
    pd.concat([frame[held], pd.DataFrame(off_session[1:])]).to_csv(tmp_path / "later.csv", index=False)
    assert run_cli("ingest", "file", three, "--db", db, "-q").exit_code == 0
    build(db)

    assert run_cli("ingest", "file", tmp_path / "later.csv", "--db", db, "-q").exit_code == 0
    (tmp_path / "split.csv").write_text(f"symbol,ex_date,split_ratio\nXOM,{days[len(days) // 2]},2\n")
    assert run_cli("ingest", "actions", tmp_path / "split.csv", "--db", db, "-q").exit_code == 0
    before = tmp_path / "before" / db.name
    before.parent.mkdir()
    shutil.copy(db, before)
    assert "incremental model intermediate.int_bars" in build(db)
    first_day = pd.Timestamp(days[0]).date()
    # the split changes no raw price: stg_bars rewrites only what was ingested
    assert rewritten_from(db, before) == {"stg_bars": {"MSFT": first_day, "SPY": saturdays[1]},
                                          "int_bars": {"MSFT": first_day, "XOM": first_day, "SPY": saturdays[1]}}
    con = duckdb.connect(str(db), read_only=True)
    numbered = con.execute(
        "select bar_in_session, session_start_seq = (select min(bar_seq) from intermediate.int_bars "
        "where symbol = 'SPY' and session_date is null) from intermediate.int_bars "
        "where symbol = 'SPY' and session_date is null order by ts"
    ).fetchall()
    con.close()
    assert numbered == [(0, True), (1, True)]
    full = tmp_path / "full.duckdb"
    shutil.copy(db, full)
    build(full, "--full-refresh")
    assert_same_tables(db, full)


def assert_same_tables(db, full) -> None:
    """Every incremental table of db equals full's (a full rebuild) to 1e-12."""
    for name in INCREMENTAL_TABLES:
        incremental, rebuilt = table(db, name), table(full, name)
        assert len(incremental) == len(rebuilt)
        differing = []
        for column in rebuilt.columns:
            a, b = incremental[column], rebuilt[column]
            if a.dtype.kind == "f":
                both = a.notna() & b.notna()
                if not (a.isna() == b.isna()).all() or deviation(a[both].to_numpy(), b[both].to_numpy()).max(initial=0) > 1e-12:
                    differing.append(column)
            elif not same(a, b):
                differing.append(column)
        assert not differing, f"{name}: incremental differs from full in {differing}"


def test_build_without_bars_says_to_ingest_first(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    result = run_dbt("build", *NO_UNIT_TESTS, db=db, real_cli=True)  # the message a `dbt` user sees
    assert result.returncode != 0
    assert "raw.bars does not exist" in result.stdout and "alphaduck ingest" in result.stdout


# the row's first bad price is named: a zero close with a zero low is caught at the low
@pytest.mark.parametrize(("price", "column"), [("0", "low"), ("'NaN'", "close")])
def test_a_bad_price_that_reaches_dbt_fails_a_named_test(tmp_path, price, column):
    db = tmp_path / "bad.duckdb"
    assert run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", db, "-q").exit_code == 0
    con = duckdb.connect(str(db))
    # written behind the ingester's back, which would have refused it
    con.execute(
        f"""
        update raw.bars set close = {price}, low = least(low, {price})
        where symbol = 'SPY' and ts = (select max(ts) from raw.bars)
        """
    )
    con.close()
    result = run_cli("build", "--db", db)
    assert result.exit_code == 1
    assert "Failure in test positive_price_stg_bars " in result.output, result.output[-3000:]
    assert f"test positive_price_stg_bars: fail: Got 1 result, configured to fail if != 0 ({column}: 1 row)" in result.output


def test_a_missing_bar_fails_the_session_completeness_test(tmp_path):
    db = tmp_path / "gap.duckdb"
    assert run_cli("ingest", "sample", "--db", db, "-q").exit_code == 0
    con = duckdb.connect(str(db))
    con.execute("delete from raw.bars where symbol = 'MSFT' and ts = '2025-09-17 17:00:00+00'")
    con.close()
    result = run_dbt("build", *NO_UNIT_TESTS, "--select", "+int_bars", db=db)
    assert "Failure in test int_bars_full_sessions_complete" in result.stdout, result.stdout[-3000:]


def test_a_changed_feature_var_takes_effect_on_an_incremental_build(tmp_path):
    """`alphaduck build --var rsi_window=10 --var label_dead_band=0.001 --var label_horizon=5`
    after a default build: the incremental build recomputes every row (not only new bars),
    equal to a fresh full build with those vars, and training takes its default horizon from
    the build record."""
    db = tmp_path / "vars.duckdb"
    two = bars_csv(SAMPLE_30MIN, tmp_path / "two.csv", symbols=["SPY", "XOM"])
    assert run_cli("ingest", "file", two, "--db", db, "-q").exit_code == 0
    assert run_cli("build", "--db", db, "-q").exit_code == 0
    before = features(db, "SPY")
    changed = ["--var", "rsi_window=10", "--var", "label_dead_band=0.001", "--var", "label_horizon=5"]
    result = run_cli("build", "--db", db, *changed)
    assert result.exit_code == 0, result.output
    assert "feature vars changed (" in result.output and "rsi_window 14 -> 10" in result.output
    assert "): recomputing every row" in result.output
    after = features(db, "SPY")
    assert not same(before.rsi, after.rsi) and not same(before.label_direction_1, after.label_direction_1)
    assert same(after.label_direction_1.astype(float), expected_labels(after, h=1, band=0.001)[1])
    assert deviation(after.rsi.to_numpy(float)[100:], talib.RSI(after.close.to_numpy(float), 10)[100:]).max() < TOLERANCE

    fresh = tmp_path / "fresh.duckdb"
    assert run_cli("ingest", "file", two, "--db", fresh, "-q").exit_code == 0
    assert run_cli("build", "--db", fresh, "-q", *changed).exit_code == 0
    for name in FEATURE_TABLES:
        a, b = table(db, name), table(fresh, name)
        assert len(a) == len(b)
        for column in b.columns:
            if column != "ingested_at" and a[column].dtype.kind == "f":
                both = a[column].notna() & b[column].notna()
                assert (a[column].isna() == b[column].isna()).all(), f"{name}.{column}"
                assert deviation(a[column][both].to_numpy(), b[column][both].to_numpy()).max(initial=0) < 1e-12, f"{name}.{column}"
    models = tmp_path / "models"
    trained = run_cli("train", "--db", db, "--models", models, "--n-iter", "1", "--n-splits", "2", "-q")
    assert trained.exit_code == 0, trained.output
    metadata = json.loads((models / "latest" / "metadata.json").read_text())
    assert metadata["horizon"] == 5 and metadata["label"] == "label_direction_5" and metadata["dbt_vars"]["rsi_window"] == 10


def test_all_hours_minute_bars_warm_up_over_a_whole_previous_session(tmp_path):
    """1-minute bars 04:00-20:00 (960 a session, more than the 500 warm-up bars): no row of the
    first session counts as warm (it has no previous session to gap from); the gap is the
    regular open against the previous regular close, the gap so far before the open; the
    features gate passes."""
    from tests.conftest import eth_minute_csv

    db = tmp_path / "eth.duckdb"
    assert run_cli("ingest", "file", eth_minute_csv(tmp_path / "eth.csv", sessions=4), "--db", db, "-q").exit_code == 0
    result = run_cli("build", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    f = features(db, "SPY", "1min")
    first = f.session_date == f.session_date.min()
    assert f.loc[first, "bar_in_session"].max() == 959 and not f.loc[first, "warmup_complete"].any()
    assert f.loc[~first, "warmup_complete"].all() and f.loc[f.warmup_complete, "session_gap"].notna().all()
    local = f.ts.dt.tz_convert("America/New_York")
    minute = local.dt.hour * 60 + local.dt.minute
    regular = (minute >= 570) & (minute < 960)
    for day in f.loc[~first, "session_date"].unique():
        previous = f[(f.session_date < day) & regular]
        previous_close = previous.close.iloc[-1]
        opening = f[(f.session_date == day) & regular].open.iloc[0]
        mine = regular & (f.session_date == day)
        pre = (f.session_date == day) & (minute < 570)
        assert np.allclose(f.loc[mine | ((f.session_date == day) & (minute >= 960)), "session_gap"], opening / previous_close - 1, rtol=0, atol=1e-15)
        assert np.allclose(f.loc[pre, "session_gap"], f.loc[pre, "close"] / previous_close - 1, rtol=0, atol=1e-15)
    gate = run_cli("check", "--db", db, "--suite", "features", "--no-docs")
    assert gate.exit_code == 0, gate.output
    # annualising counts the bars the data has: 960 a session, not the 390 regular ones
    from alphaduck.calendars import trading_sessions
    from backtests.data import bars_per_year

    last = f.session_date.max()
    year = trading_sessions("XNYS", (pd.Timestamp(last) - pd.Timedelta(days=364)).date(), last)
    assert bars_per_year(f[["ts", "session_date"]], "XNYS") == 960 * len(year)


def test_build_uses_the_calendar_the_warehouse_was_ingested_with(tmp_path):
    """`alphaduck ingest --calendar XLON` then `alphaduck build` (no flag): sessions, gaps and
    warm-up come from XLON, and the build records it."""
    db = tmp_path / "xlon.duckdb"
    from alphaduck.calendars import trading_sessions
    from tests.conftest import SAMPLE_DAILY

    # SPY's real daily bars from 2014 on, one per XLON session (a London listing's calendar:
    # its holidays are not New York's)
    london = trading_sessions("XLON", pd.Timestamp("2014-01-01").date(), pd.Timestamp("2016-12-31").date())["session_date"]
    daily = pd.read_csv(SAMPLE_DAILY)
    daily = daily[daily.ts >= "2014-01-01"].head(len(london)).assign(ts=[d.isoformat() for d in london])
    path = tmp_path / "london.csv"
    daily.to_csv(path, index=False)
    assert run_cli("ingest", "file", path, "--symbol", "SPY", "--calendar", "XLON", "--db", db, "-q").exit_code == 0
    result = run_cli("build", "--db", db, "-q")
    assert result.exit_code == 0, result.output
    f = features(db, "SPY", "1d")
    assert f.session_date.notna().all() and f.session_gap.iloc[1:].notna().all() and f.warmup_complete.sum() == len(f) - 500
    con = duckdb.connect(str(db), read_only=True)
    recorded = json.loads(con.execute("select vars from marts.feature_builds").fetchall()[-1][0])
    con.close()
    assert (recorded["calendar"], recorded["exchange_timezone"]) == ("XLON", "Europe/London")
