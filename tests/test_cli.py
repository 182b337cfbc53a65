"""The command-line surface: help with examples everywhere, lazy stages, one warehouse setting."""

from __future__ import annotations

import re
import subprocess

import click
import pytest
import yaml

from alphaduck.cli import main
from alphaduck.settings import DB_ENV_VAR, DEFAULT_DB
from tests.conftest import PYTHON, ROOT, run_cli, sample_lines


def _commands(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*prefix, name))


ALL = list(_commands(main, click.Context(main)))


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = run_cli(*path, "--help")
    assert result.exit_code == 0
    command = dict(ALL)[path]
    if not isinstance(command, click.Group):
        assert "Examples:" in result.output
        assert f"alphaduck {' '.join(path)}" in result.output


def test_root_help_lists_the_stages_and_an_example():
    result = run_cli("--help")
    assert "ingest" in result.output and "Examples:" in result.output


HEAVY = ("lightgbm", "great_expectations", "bt", "sklearn", "dbt")


@pytest.mark.parametrize(
    "args", [["ingest", "file", "--help"], ["check", "--help"], ["build", "--help"], ["sql", "--help"], ["lookahead", "--help"]]
)
def test_commands_do_not_import_the_heavy_stages_until_they_run(args):
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom alphaduck.cli import main\n"
        f"r = CliRunner().invoke(main, {args!r})\nassert r.exit_code == 0, r.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_warehouse_comes_from_the_environment_variable(tmp_path):
    lines = sample_lines(5)
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "from_env.duckdb"
    result = run_cli("ingest", "file", path, "--bar-size", "30min", "-q", env={DB_ENV_VAR: str(db)})
    assert result.exit_code == 0, result.output
    assert db.exists()


def test_dbt_profile_opens_the_same_file_as_alphaduck():
    profile = yaml.safe_load((ROOT / "profiles.yml").read_text())
    path = profile["alphaduck"]["outputs"]["dev"]["path"]
    assert re.fullmatch(rf"{{{{ env_var\('{DB_ENV_VAR}', '{re.escape(str(DEFAULT_DB))}'\) }}}}", path), path


def test_unknown_bar_size_suggests_one(tmp_path):
    result = run_cli("ingest", "ibkr", "SPY", "--bar-size", "30 minz", "--port", "9")
    assert result.exit_code == 2
    assert "unknown bar size '30 minz'" in result.output


def test_unknown_calendar_suggests_one(tmp_path):
    result = run_cli("ingest", "sample", "--calendar", "XNYZ", "--db", tmp_path / "w.duckdb")
    assert result.exit_code == 2
    assert "unknown calendar 'XNYZ'" in result.output
    assert not (tmp_path / "w.duckdb").exists()
