"""The quality gate (`alphaduck check`): green on the real sample, red on planted faults,
naming every bad bar, symbol or feature; Data Docs written; results recorded."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import run_cli, snapshot


def execute(db, *statements: str) -> None:
    con = duckdb.connect(str(db))
    for sql in statements:
        con.execute(sql)
    con.close()


def query(db, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def check(db, *args: str, docs=None):
    docs_args = ["--docs", docs] if docs else ["--no-docs"]
    return run_cli("check", "--db", db, *docs_args, *args)


@pytest.fixture
def predicted_copy(predicted, tmp_path):
    """A private copy of the sample with a model trained on it and its predictions."""
    db, models, _ = predicted
    copy = tmp_path / "predicted.duckdb"
    shutil.copy(db, copy)
    return copy


def test_the_sample_passes_every_suite_and_the_run_is_recorded(predicted_copy, tmp_path):
    docs = tmp_path / "docs"
    result = check(predicted_copy, docs=docs)
    assert result.exit_code == 0, result.output
    assert "gate passed: 29 passed, 0 failed" in result.output
    model = query(predicted_copy, "select run_id, train_window from ml.train_runs")[0]
    window = "..".join(f"{d:%Y-%m-%d}" for d in model[1])
    assert f"against {window} (training window of model {model[0]})" in " ".join(result.output.split())
    # Data Docs: an index linking one validation page per suite
    index = (docs / "index.html").read_text()
    pages = sorted(p.relative_to(docs).parts[1] for p in (docs / "validations").rglob("*.html"))
    assert set(pages) == {"raw", "features", "drift", "predictions"}
    assert "validations/raw" in index and "validations/features" in index
    runs = query(predicted_copy, "select success, suites from ml.gate_runs order by checked_at desc limit 1")
    assert runs == [(True, ["raw", "features", "drift", "predictions"])]
    assert query(predicted_copy, "select count(*), bool_and(success) from ml.gate_results where run_id = "
                 "(select run_id from ml.gate_runs order by checked_at desc limit 1)") == [(29, True)]


def test_a_suite_that_cannot_run_fails_and_says_why(sample_copy, predicted, tmp_path, monkeypatch):
    """No model trained on this warehouse: drift cannot run, so the gate fails (exit 1) and
    says what to do, even with another warehouse's registry in the working directory (which
    it used to read, comparing with a window of 0 rows and passing 187/187). Predictions
    that do not exist fail the same way."""
    _, models, _ = predicted
    monkeypatch.chdir(models.parent)  # ./models/latest is the other warehouse's model
    result = check(sample_copy, "--suite", "drift", "--no-record")
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "FAIL drift.features 30min: cannot run: 30min: no model trained on this warehouse at 30min" in out
    assert "gate FAILED: 0 passed, 0 failed, 1 could not run" in out
    missing = check(sample_copy, "--suite", "predictions", "--no-record")
    assert missing.exit_code == 1 and "FAIL predictions: cannot run: ml.predictions is empty" in " ".join(missing.output.split())
    # a reference window with no rows in this warehouse cannot be compared with either
    empty = check(sample_copy, "--suite", "drift", "--no-record", "--reference", "2019-01-01..2019-12-31")
    assert empty.exit_code == 1 and "has no warmed-up feature rows in this warehouse" in " ".join(empty.output.split())


def test_drift_is_per_bar_size_with_each_its_own_reference(predicted_copy, tmp_path):
    """A daily series beside the 30-minute sample: the model's reference serves its own bar
    size only; the daily one has none, so it fails instead of being pooled in."""
    assert run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", predicted_copy, "-q").exit_code == 0
    assert run_cli("build", "--db", predicted_copy, "-q").exit_code == 0
    result = check(predicted_copy, "--suite", "drift", "--no-record")
    out = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "FAIL drift.features 1d: cannot run: 1d: no model trained on this warehouse at 1d" in out
    assert "drift 30min: last 20 sessions" in out and "KS statistic" in out


def test_planted_bad_bars_and_a_stale_symbol_fail_and_are_named(sample_copy):
    high_below_low = pd.Timestamp("2025-09-17 17:00", tz="UTC")
    spike = pd.Timestamp("2025-11-04 15:30", tz="UTC")
    execute(
        sample_copy,
        # high below low on one AAPL bar
        f"update raw.bars set high = low - 0.5, open = low - 0.25, close = low - 0.25 "
        f"where symbol = 'AAPL' and ts = '{high_below_low}'",
        # one MSFT close 50% above the bars around it (a bad tick)
        f"update raw.bars set close = close * 1.5, high = close * 1.5 where symbol = 'MSFT' and ts = '{spike}'",
        # XOM stopped updating three sessions before the others
        "delete from raw.bars where symbol = 'XOM' and ts >= '2026-03-05'",
    )
    before = snapshot(sample_copy)
    result = check(sample_copy, "--suite", "raw", "--no-record", "-q")
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
    assert "FAIL raw.bars: high >= low (every bar): AAPL 30min 2025-09-17 17:00 (high=238.9, low=239.4)" in failures
    assert "FAIL raw.bars: no spike (jump+revert, wick) (|move| <= 0.2): MSFT 30min 2025-11-04 15:30 (is_spike=True)" in failures
    assert "FAIL raw.symbols: sessions behind newest (<= 1): XOM 30min (sessions_behind=3)" in failures
    # the bad AAPL bar also breaks the other OHLC rules; nothing else is blamed (not the
    # spike's neighbours, whose moves are large too, nor any other symbol)
    blamed = {line.split(": ", 2)[2].split(" (")[0] for line in failures}
    assert blamed == {"AAPL 30min 2025-09-17 17:00", "MSFT 30min 2025-11-04 15:30", "XOM 30min"}
    assert len(failures) == 7
    assert snapshot(sample_copy) == before  # --no-record: the gate only read


def test_thresholds_can_be_set_and_unknown_ones_are_refused(sample_copy):
    execute(sample_copy, "delete from raw.bars where symbol = 'XOM' and ts >= '2026-03-05'")
    assert check(sample_copy, "--suite", "raw", "--no-record").exit_code == 1
    relaxed = check(sample_copy, "--suite", "raw", "--no-record", "--threshold", "max_sessions_behind=3")
    assert relaxed.exit_code == 0, relaxed.output
    unknown = check(sample_copy, "--threshold", "max_session_behind=3")
    assert unknown.exit_code == 2
    assert "unknown threshold 'max_session_behind'; did you mean max_sessions_behind?" in unknown.output


def test_features_with_nulls_missing_rows_or_bad_labels_fail(sample_copy):
    execute(
        sample_copy,
        "update marts.fct_features set rsi = null where symbol = 'SPY' and bar_seq = 1000",
        "update marts.fct_features set stoch_k = 101 where symbol = 'QQQ' and bar_seq = 1200",
        "delete from marts.fct_features where symbol = 'TSLA' and bar_seq = 5",
        "update marts.fct_features set label_fwd_return_1 = null, label_direction_1 = null where symbol = 'NVDA' and bar_seq = 900",
    )
    result = check(sample_copy, "--suite", "features", "--no-record")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "FAIL features.table: rows = staging rows (equal): 64151 (staging_rows=64152)" in out
    assert "FAIL features.columns: no nulls after warm-up (0 per feature): rsi (nulls_after_warmup=1)" in out
    assert "FAIL features.columns: max <= upper bound (bounded features): stoch_k" in out
    assert "FAIL features.labels: labels null only at tail (0 per series): NVDA 30min" in out


def test_drift_in_the_latest_sessions_is_caught_per_feature(predicted_copy):
    assert check(predicted_copy, "--suite", "drift", "--no-record").exit_code == 0
    execute(
        predicted_copy,
        "update marts.fct_features set a158_klen = a158_klen * 4 "
        "where session_date >= (select max(session_date) - interval 20 day from marts.fct_features)",
    )
    result = check(predicted_copy, "--suite", "drift", "--no-record")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert re.search(r"FAIL drift.features 30min: KS statistic \(<= 0.4\): 30min a158_klen \(ks=0\.\d+\)", out)
    assert "drift 30min: last 20 sessions" in out
    # a reference window can be given instead of the model's training window
    given = check(predicted_copy, "--suite", "drift", "--no-record", "--reference", "2025-08-01..2025-12-31")
    assert "against 2025-08-01..2025-12-31 (given)" in " ".join(given.output.split())


def test_predictions_are_checked_when_present(sample_copy):
    execute(
        sample_copy,
        "insert into ml.predictions (run_id, symbol, bar_size, ts, proba_up, predicted_direction, created_at) "
        "select 'run1', symbol, bar_size, ts, 0.5 + 0.4 * sin(bar_seq), 1, now() "
        "from marts.fct_features where warmup_complete and symbol in ('SPY', 'QQQ') and session_date >= '2026-02-01'",
    )
    assert check(sample_copy, "--suite", "predictions", "--no-record").exit_code == 0
    execute(
        sample_copy,
        "update ml.predictions set proba_up = 1.25 where symbol = 'SPY' and ts = '2026-02-02 15:00:00+00'",
        # a second row for one key: only possible without the table's primary key
        "create or replace table ml.predictions as select * from ml.predictions union all "
        "select * from ml.predictions where symbol = 'QQQ' and ts = '2026-02-03 15:00:00+00'",
        "delete from ml.predictions where symbol = 'SPY' and ts = '2026-02-05 15:00:00+00'",
    )
    result = check(sample_copy, "--suite", "predictions", "--no-record")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "FAIL predictions.rows: 0 <= proba_up <= 1 (every prediction): run1 SPY 2026-02-02 15:00 (proba_up=1.25)" in out
    assert "FAIL predictions.rows: one per key and run (unique): run1 QQQ 2026-02-03 15:00" in out
    assert "FAIL predictions.coverage: coverage of scored span (>= 1): run1 SPY 30min" in out


def test_an_unbuilt_warehouse_fails_with_the_command_to_run(tmp_path):
    db = tmp_path / "raw_only.duckdb"
    assert run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", db, "-q").exit_code == 0
    assert check(db, "--no-record", "--suite", "raw").exit_code == 0
    result = check(db, "--no-record")
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "FAIL features: cannot run: no marts.fct_features, staging.stg_bars yet: run `alphaduck build` first" in out
    nothing = check(tmp_path / "none.duckdb")
    assert nothing.exit_code == 2 and "run `alphaduck ingest` first" in nothing.output


def offline_chromium():
    """Headless Chromium that cannot reach any host: every name resolves to nothing, no proxy."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


# what a page shows once its scripts ran: the rows bootstrap-table drew, and each status icon
# with the width its Font Awesome glyph gives it (0 when the web font did not load)
RENDERED = """
const rows = Array.from(document.querySelectorAll('table[data-toggle="table"] tbody tr'))
    .map(r => [r.innerText.replace(/\\s+/g, ' ').trim(), r.getAttribute('data-href')]);  // a row opens its results page
const icons = Array.from(document.querySelectorAll('i.fas')).map(i => [i.className, i.getBoundingClientRect().width]);
return {rows: rows, icons: icons, font: document.fonts.check('900 16px "Font Awesome 6 Free"'),
        styled: getComputedStyle(document.body).fontFamily};
"""


def test_data_docs_work_offline(sample_copy, tmp_path):
    """With the network off, the index lists every validation run and a results page shows
    each expectation with its status icon (GX's own pages load all of that from CDNs)."""
    import time

    docs = tmp_path / "docs"
    execute(sample_copy, "update raw.bars set high = low - 0.5 where symbol = 'AAPL' and ts = '2025-09-17 17:00:00+00'")
    assert check(sample_copy, "--suite", "raw", "--no-record", docs=docs).exit_code == 1
    index_file = docs / "index.html"
    page_file = next((docs / "validations" / "raw" / "bars").rglob("*.html"))
    for html_file in (index_file, page_file):
        html = html_file.read_text()
        assert not re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="https?://', html), html_file  # loads nothing remote
    driver = offline_chromium()
    try:
        def rendered(uri: str) -> dict:
            driver.get(uri)
            started = time.perf_counter()
            while time.perf_counter() - started < 15:
                seen = driver.execute_script(RENDERED)
                if seen["rows"] and seen["font"]:
                    break
                time.sleep(0.1)
            return seen

        index = rendered(index_file.as_uri())
        page = rendered(page_file.as_uri())
        page_text = driver.find_element("tag name", "body").text
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert not errors, [e["message"] for e in errors]  # nothing failed to load
    runs = [href for _, href in index["rows"] if href and href.startswith("validations/")]  # (and the suites table)
    assert sorted(h.split("/")[2] for h in runs) == ["bars", "sessions", "splits", "symbols"], index["rows"]  # one validation run each
    assert page_file.relative_to(docs).as_posix() in runs
    assert index["font"] and index["icons"] and all(width > 0 for _, width in index["icons"]), index["icons"]
    statuses = [name for name, width in page["icons"] if width > 0 and ("fa-check-circle" in name or "fa-times" in name)]
    assert len(statuses) == len(page["icons"]) > 5, page["icons"]  # every expectation's status is drawn
    assert any("fa-times" in name for name in statuses) and any("fa-check-circle" in name for name in statuses)
    assert "high" in page_text and "239.4" in page_text  # the planted bar (low 239.4) among the unexpected values
    assert "Bootstrap" not in index["styled"] and "serif" in index["styled"].lower()  # bootstrap's font stack applied


def gx_templates() -> str:
    import great_expectations

    folder = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    return "\n".join(p.read_text() for p in sorted(folder.glob("*.j2")))


def test_every_cdn_file_gx_loads_is_vendored_unchanged():
    """Each <script>/<link> GX's templates load from the network has a vendored copy (or is a
    chart library our pages never call); where GX pins a hash, the copy has that hash."""
    import base64
    import hashlib

    from quality.offline_docs import CDN_FILES, UNUSED_SCRIPTS, VENDORED

    templates = gx_templates()
    loaded = set(re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(https?://[^"]+)"', templates))
    unused = {url for url in loaded if UNUSED_SCRIPTS.search(f'<script src="{url}"></script>')}
    assert loaded - unused <= set(CDN_FILES), sorted(loaded - unused - set(CDN_FILES))
    assert all((VENDORED / local).is_file() for local in CDN_FILES.values())
    pinned = re.findall(r'src="(https?://[^"]+)"\s+integrity="sha384-([^"]+)"', templates)
    assert len(pinned) == 2
    for url, digest in pinned:
        assert base64.b64encode(hashlib.sha384((VENDORED / CDN_FILES[url]).read_bytes()).digest()).decode() == digest, url
