"""The notebook API (alphaduck.open) and the optional alphaduck.toml (issue 19.8)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

import alphaduck
from alphaduck.errors import AlphaduckError
from alphaduck.settings import setting
from tests.conftest import run_cli, sample_lines, snapshot


@pytest.fixture(scope="module")
def backtested(predicted, tmp_path_factory):
    """The predicted sample with one (vector engine) backtest recorded."""
    db, models, _ = predicted
    copy = tmp_path_factory.mktemp("api") / "w.duckdb"
    shutil.copy(db, copy)
    result = run_cli("backtest", "--db", copy, "--models", models, "--engine", "vector", "--no-report",
                     "--param", "long_quantile=0.8", "--run-id", "api-bt", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    return copy


def test_open_reads_every_stage_as_dataframes(backtested):
    before = snapshot(backtested)
    with alphaduck.open(backtested) as wh:
        features = wh.features(symbols=["SPY", "qqq"], bar_size="30 mins", start="2025-06-02", end="2025-06-06")
        predictions = wh.predictions()
        result = wh.backtest()
        counts = wh.sql("select symbol, count(*) as n from raw.bars group by 1 order by 1")
    con = duckdb.connect(str(backtested), read_only=True)
    expected_features = con.execute(
        "select count(*) from marts.fct_features where symbol in ('SPY', 'QQQ') and bar_size = '30min' "
        "and ts::date between '2025-06-02' and '2025-06-06'"
    ).fetchone()[0]
    newest = con.execute("select run_id from ml.predictions order by created_at desc limit 1").fetchone()[0]
    (n_predictions,) = con.execute("select count(*) from ml.predictions where run_id = ?", [newest]).fetchone()
    equity_rows, trade_rows = (con.execute(f"select count(*) from backtest.{t} where run_id = 'api-bt'").fetchone()[0]
                               for t in ("equity", "trades"))  # fmt: skip
    (bars,) = con.execute("select count(*) from raw.bars").fetchone()
    con.close()
    assert len(features) == expected_features == 2 * 5 * 13  # two symbols, five sessions of 13 half hours
    assert set(features["symbol"]) == {"SPY", "QQQ"} and "label_fwd_return_1" in features
    assert features.groupby("symbol")["ts"].apply(lambda ts: ts.is_monotonic_increasing).all()
    assert len(predictions) == n_predictions and set(predictions["run_id"]) == {newest}
    assert result.run_id == "api-bt"
    assert len(result.equity) == equity_rows > 0 and len(result.trades) == trade_rows > 0
    assert result.stats["trades"] > 0 and {"total_return", "sharpe"} <= set(result.stats.index)
    assert counts["n"].sum() == bars
    assert snapshot(backtested) == before


def test_open_is_read_only_sandboxed_and_closes(backtested, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHADUCK_DB", str(backtested))  # open() with no argument reads the variable
    wh = alphaduck.open()
    assert wh.path == backtested
    for statement in ("create table raw.x (a int)", "delete from raw.bars", f"copy raw.bars to '{tmp_path / 'x.csv'}'"):
        with pytest.raises(duckdb.Error):
            wh.sql(statement)
    with pytest.raises(AlphaduckError, match="has no run 'nope'"):
        wh.backtest("nope")
    wh.close()
    with pytest.raises(AlphaduckError, match="is closed"):
        wh.sql("select 1")
    duckdb.connect(str(backtested)).close()  # a writer can open it again
    assert not (tmp_path / "x.csv").exists()


def test_open_an_unbuilt_warehouse_says_what_to_run(warehouse):
    with alphaduck.open(warehouse) as wh, pytest.raises(AlphaduckError, match="no marts.fct_features yet: run `alphaduck build`"):
        wh.features()


# -- alphaduck.toml ------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with a 3-bar CSV, as the current directory, with no config from outside."""
    for name in ("ALPHADUCK_DB", "ALPHADUCK_CONFIG", "ALPHADUCK_MODELS", "ALPHADUCK_REPORTS", "ALPHADUCK_CALENDAR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bars.csv").write_text("\n".join(sample_lines(3)) + "\n")
    return tmp_path


def _ingest(*args, env=None):
    return run_cli("ingest", "file", "bars.csv", "--bar-size", "30min", "-q", *args, env=env)


def test_settings_precedence_is_flag_then_env_then_toml_then_default(project):
    assert setting("db") == setting("db", None) and str(setting("db")) == "data/warehouse.duckdb"
    (project / "alphaduck.toml").write_text('db = "wh/from_toml.duckdb"\nmodels = "m"\ncalendar = "XLON"\n')
    assert setting("db") == project / "wh/from_toml.duckdb"  # relative to the file's folder
    assert setting("models") == project / "m" and setting("calendar") == "XLON"
    assert str(setting("reports")) == "reports"  # not in the file: the default
    assert _ingest(env={"ALPHADUCK_CALENDAR": "XNYS"}).exit_code == 0
    assert (project / "wh/from_toml.duckdb").exists()
    assert _ingest(env={"ALPHADUCK_DB": "from_env.duckdb", "ALPHADUCK_CALENDAR": "XNYS"}).exit_code == 0
    assert (project / "from_env.duckdb").exists()
    assert _ingest("--db", "from_flag.duckdb", env={"ALPHADUCK_DB": "from_env2.duckdb", "ALPHADUCK_CALENDAR": "XNYS"}).exit_code == 0
    assert (project / "from_flag.duckdb").exists() and not (project / "from_env2.duckdb").exists()
    assert not (project / "data").exists()  # the default was never used


def test_the_config_file_can_be_named_and_sets_the_calendar(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("conf") / "team.toml"
    elsewhere.write_text('calendar = "XNYZ"\n')
    result = _ingest("--db", "w.duckdb", env={"ALPHADUCK_CONFIG": str(elsewhere)})
    assert result.exit_code == 2 and "unknown calendar 'XNYZ'" in result.output  # the file's calendar was used


@pytest.mark.parametrize(
    "text, message",
    [
        ('db = "a.duckdb\n', "is not valid TOML"),
        ('dbb = "a.duckdb"\n', "unknown setting 'dbb' (did you mean 'db'?)"),
        ("db = 3\n", "db must be a non-empty string, got 3"),
    ],
    ids=["does not parse", "unknown key", "wrong type"],
)
def test_a_bad_config_file_is_one_line_naming_it(project, text, message):
    (project / "alphaduck.toml").write_text(text)
    result = _ingest()
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "alphaduck.toml" in lines[0] and message in lines[0], result.output
    assert list(project.iterdir()) and not (project / "a.duckdb").exists() and not (project / "data").exists()


def test_the_readme_example_runs(backtested, monkeypatch):
    import re

    from tests.conftest import ROOT

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (example,) = [b for b in blocks if "alphaduck.open" in b]
    monkeypatch.setenv("ALPHADUCK_DB", str(backtested))
    scope: dict = {}
    exec(example, scope)  # noqa: S102 - the README's own code
    assert len(scope["spy"]) > 0 and len(scope["preds"]) > 0 and scope["bt"].run_id == "api-bt"
