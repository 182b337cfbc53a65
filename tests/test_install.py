"""Reproducible installs (issue 13.10): the venv follows requirements/constraints.txt, pip's
dependency check is clean and one distribution owns the eventkit package both IB clients use."""

from __future__ import annotations

import importlib.metadata as metadata
import os
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
    installs = [line for line in makefile.splitlines() if re.search(r"\$\(INSTALL\) .*-e '\.\[test\]'", line)]
    assert installs and all("-c $(CONSTRAINTS)" in line for line in installs), installs
    assert re.search(r"^INSTALL := requirements/install.py$", makefile, re.M)
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
    assert "$(INSTALL) -c $(CONSTRAINTS) -e ." in recipe and "[test]" not in recipe and "eventkit" not in recipe


def test_uv_is_told_what_pip_is_told(tmp_path):
    """uv reads none of pip's configuration: the installer passes it pip's index, mirrors,
    wheel folders, constraints and certificates (a pip.conf and PIP_* variables here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("install", ROOT / "requirements" / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    (tmp_path / "pip.conf").write_text(
        "[global]\nindex-url = https://mirror.example/simple\nextra-index-url = file:///a/simple file:///b/simple\n"
        "constraint = /etc/c.txt\ncert = /etc/ca.pem\nfind-links = /ignored\n"
        "[install]\ntrusted-host = mirror.example\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": str(tmp_path / "pip.conf"), "PIP_FIND_LINKS": "/opt/wheels /opt/more",
            "PIP_DEFAULT_TIMEOUT": "90"}  # fmt: skip
    settings = install.pip_settings(env)
    args, uv_env = install.uv_arguments(settings)
    pairs = list(zip(args[::2], args[1::2]))
    assert ("--index-url", "https://mirror.example/simple") in pairs
    assert [v for k, v in pairs if k == "--extra-index-url"] == ["file:///a/simple", "file:///b/simple"]
    # the environment wins over the file, as in pip
    assert [v for k, v in pairs if k == "--find-links"] == ["/opt/wheels", "/opt/more"]
    assert ("--constraint", "/etc/c.txt") in pairs and ("--allow-insecure-host", "mirror.example") in pairs
    assert ("--index-strategy", "unsafe-best-match") in pairs
    assert uv_env == {"SSL_CERT_FILE": "/etc/ca.pem", "UV_HTTP_TIMEOUT": "90"}
    # pip compiles each module's bytecode unless told not to; so does uv then
    assert "--compile-bytecode" in args
    assert "--compile-bytecode" not in install.uv_arguments(install.pip_settings(env | {"PIP_NO_COMPILE": "1"}))[0]


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
