"""The dashboard cannot block `run` (issue 13 item 9): a writer waits a bounded time
($ALPHADUCK_LOCK_WAIT) for readers, saying so, and readers that give way (the dashboard's
per-request connections) stop opening the file while a writer waits. The lock error names
the process holding the file, a read-only holder included."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time

from tests.conftest import PYTHON, ROOT, run_cli, snapshot


@contextlib.contextmanager
def reading(db, seconds: float = 60):
    """Another process holding the warehouse open read-only (a notebook); yields its pid."""
    holder = subprocess.Popen(
        [PYTHON, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print('ok', flush=True); time.sleep(float(sys.argv[2]))", str(db), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_waits_for_a_reader_to_let_go(warehouse, tmp_path):
    csv = tmp_path / "spy.csv"
    csv.write_text("ts,open,high,low,close,volume\n2023-03-31,400,410,395,409,1000000\n")
    with reading(warehouse, seconds=1.5) as holder:
        started = time.perf_counter()
        result = run_cli("ingest", "file", csv, "--symbol", "SPY", "--db", warehouse, "-q", env={"ALPHADUCK_LOCK_WAIT": "30"})
        waited = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert f"is locked by process {holder.pid} (python -c import duckdb" in result.output
    assert "waiting up to 30 s ($ALPHADUCK_LOCK_WAIT)" in result.output
    assert 0.5 < waited < 20


def test_when_the_wait_runs_out_the_read_only_holder_is_named(warehouse, tmp_path):
    before = snapshot(warehouse)
    with reading(warehouse) as holder:
        result = run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", warehouse, env={"ALPHADUCK_LOCK_WAIT": "0.5"})
    assert result.exit_code == 2
    error = result.output.strip().splitlines()[-1]
    assert error.startswith(f"Error: warehouse {warehouse} is locked by process {holder.pid} (python -c import duckdb")
    assert "waited 0.5 s, $ALPHADUCK_LOCK_WAIT" in error
    assert snapshot(warehouse) == before
    assert not list(warehouse.parent.glob("*.writer-waiting.*"))  # the writer's notice is gone with it


DASHBOARD_LIKE = """
import json, os, sys, time
from dashboard import queries as q
db, stop, limit = sys.argv[1], sys.argv[2], time.monotonic() + 120
reads = refused = 0
print("ok", flush=True)
while time.monotonic() < limit:
    try:
        with q.reader(db) as con:   # the dashboard's per-request connection
            con.execute("select count(*), max(ts) from raw.bars").fetchall()
        reads += 1
    except q.NotReady:
        refused += 1
    if os.path.exists(stop):
        break
    time.sleep(0.01)  # ~50 requests a second, each opening and closing its own connection
print(json.dumps({"reads": reads, "refused": refused}))
"""


def test_a_busy_dashboard_does_not_block_build_or_ingest(warehouse, tmp_path):
    """A process opens, reads and closes the warehouse back to back, as a dashboard under
    load does; `alphaduck build` and `alphaduck ingest` still get to write."""
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([PYTHON, "-c", DASHBOARD_LIKE, str(warehouse), str(stop)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True) for _ in range(1)]  # fmt: skip
    try:
        assert all(r.stdout.readline().strip() == "ok" for r in readers)
        time.sleep(1.0)  # let them get busy
        env = {"ALPHADUCK_LOCK_WAIT": "30"}
        built = run_cli("build", "--db", warehouse, "-q", env=env)
        ingested = run_cli("ingest", "sample", "--dataset", "spy-daily", "--db", warehouse, "-q", env=env)
        time.sleep(0.5)  # and they read again once the writers are done
    finally:
        stop.touch()
        summaries = [json.loads(r.communicate(timeout=60)[0].strip().splitlines()[-1]) for r in readers]
    assert built.exit_code == 0, built.output
    assert ingested.exit_code == 0, ingested.output
    assert all(s["reads"] >= 3 for s in summaries), summaries  # it kept answering around the writers
    assert run_cli("sql", "--db", warehouse, "select count(*) from marts.fct_features").exit_code == 0
