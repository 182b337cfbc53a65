"""Every generic test in dbt_project/tests/generic/ catches the row its seed fixture plants
(dbt-utils' integration_tests pattern): the real `dbt build` of the fixtures in
dbt_project/seeds/generic_test_fixtures/, each test's failing-row count read from dbt's own
run_results.json and compared with the count its YAML says it must return."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import ROOT, run_dbt

GENERIC_TESTS = ROOT / "dbt_project" / "tests" / "generic"
FIXTURES = "path:dbt_project/seeds/generic_test_fixtures"


def generic_test_names() -> set[str]:
    found = set()
    for path in GENERIC_TESTS.glob("*.sql"):
        found |= set(re.findall(r"{%-?\s*test\s+(\w+)\s*\(", path.read_text()))
    return found


@pytest.fixture(scope="module")
def fixture_build(loaded_warehouse, tmp_path_factory):
    """The fixtures built and tested once: (dbt's output, {test name: (generic test,
    expected failures, status, failures)})."""
    db = tmp_path_factory.mktemp("generic") / "fixtures.duckdb"
    shutil.copy(loaded_warehouse, db)
    target = db.with_suffix(".target")
    result = run_dbt(
        "build", "--select", FIXTURES, "--vars", '{"generic_test_fixtures": true}', db=db, target=target
    )
    manifest = json.loads((target / "manifest.json").read_text())
    run = json.loads((target / "run_results.json").read_text())
    tests = {}
    for node_result in run["results"]:
        node = manifest["nodes"][node_result["unique_id"]]
        if node["resource_type"] == "test":
            expected = node["config"]["meta"]["expected_failures"]
            generic = node["test_metadata"]["name"]
            tests[node["name"]] = (generic, expected, node_result["status"], node_result["failures"])
    return result, tests


def test_every_generic_test_has_a_fixture_row_it_must_catch(fixture_build):
    _, tests = fixture_build
    names = generic_test_names()
    assert len(names) >= 6
    caught = {
        generic for generic, expected, status, failures in tests.values() if expected > 0 and status == "fail"
    }
    assert caught == names, f"generic tests with no fixture row that fails: {sorted(names - caught)}"


def test_each_fixture_test_returns_the_rows_it_must(fixture_build):
    result, tests = fixture_build
    wrong = {
        name: (expected, failures)
        for name, (_, expected, _, failures) in tests.items()
        if failures != expected
    }
    assert not wrong, f"(expected, actual) failing rows: {wrong}"
    assert sum(expected == 0 for _, expected, _, _ in tests.values()) >= len(generic_test_names())
    # dbt itself reports the planted rows: the build fails, naming each test that caught one
    assert result.returncode == 1
    for name, (_, expected, _, _) in tests.items():
        assert (f"Failure in test {name} " in result.stdout) == (expected > 0), name
