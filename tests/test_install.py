"""Reproducible installs (issue 13.10): the venv follows requirements/constraints.txt, pip's
dependency check is clean and one distribution owns the eventkit package both IB clients use."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PYTHON, ROOT

CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_every_installed_package_is_the_pinned_version():
    pins = _pins()
    assert {"duckdb", "dbt-core", "lightgbm", "ib-async", "ib-insync", "aeventkit"} <= set(pins)
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {name: (installed[name], pin) for name, pin in pins.items() if name in installed and installed[name] != pin}
    assert not differ, f"installed != {CONSTRAINTS.name} (run `make install`, or `make lock` after a pyproject change): {differ}"


def test_the_make_targets_install_from_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if re.search(r"pip install .*-e '\.\[test\]'", line)]
    assert installs and all("-c $(CONSTRAINTS)" in line for line in installs), installs
    assert re.search(r"^lock:", makefile, re.M)


def test_pip_check_is_clean_and_one_distribution_owns_eventkit():
    check = subprocess.run([PYTHON, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    owners = [d.metadata["Name"] for d in metadata.distributions()
              if any(str(f).replace("\\", "/") == "eventkit/__init__.py" for f in d.files or ())]  # fmt: skip
    assert owners == ["aeventkit"], owners


def test_both_ib_clients_import_and_share_one_event_type():
    import eventkit
    import ib_async
    import ib_insync

    assert ib_async.Event is ib_insync.Event is eventkit.Event
    assert ib_insync.IB().connectedEvent.__class__ is eventkit.Event


def test_make_demo_installs_the_runtime_dependencies_only():
    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^demo: (.*)$", makefile, re.M).group(1).split()
    assert demo == ["install-runtime"]
    recipe = re.search(r"^\$\(RUNTIME_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "-c $(CONSTRAINTS) -e ." in recipe and "[test]" not in recipe and "eventkit" not in recipe


def test_alphaduck_outside_the_repo_finds_its_dbt_project(tmp_path, warehouse):
    """From another directory the dbt project is the one beside the package: a typo in a dbt
    var is checked against its dbt_project.yml (before: the same, but a missing project was a
    dbt error several lines long, after the warehouse got its stage tables)."""
    alphaduck = ROOT / ".venv" / "bin" / "alphaduck"
    command = [str(alphaduck)] if alphaduck.exists() else [PYTHON, "-m", "alphaduck"]
    proc = subprocess.run([*command, "build", "--db", str(warehouse), "--var", "label_horizn=5"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert "did you mean label_horizon?" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert list(tmp_path.iterdir()) == [warehouse]  # no target/ or logs/ left in the current directory


def test_a_missing_dbt_project_says_where_it_looked(tmp_path, warehouse):
    from alphaduck.build import dbt_build
    from alphaduck.errors import AlphaduckError
    from tests.conftest import snapshot

    before = snapshot(warehouse)
    try:
        dbt_build(warehouse, project_dir=tmp_path / "elsewhere")
    except AlphaduckError as exc:
        message = exc.message
    else:
        raise AssertionError("built without a dbt project")
    assert message.startswith(f"no dbt project: looked for dbt_project.yml in {tmp_path / 'elsewhere'}")
    assert snapshot(warehouse) == before
