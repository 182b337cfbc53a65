"""`make install`'s installer: uv, told what pip is told, else pip itself.

uv installs the pinned '.[test]' set into a fresh venv in about 30 s where pip takes about
72 s (2 cores, empty caches), but it reads none of pip's configuration (pip.conf, PIP_*
variables), which is where a machine names its package index, mirrors, wheel folders,
constraints and certificate bundle. This passes pip's effective settings to uv. Should uv
not install or not succeed, pip installs the same arguments, so nothing depends on uv.

    .venv/bin/python requirements/install.py -c requirements/constraints.txt -e '.[test]'
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

UV = "uv==0.13.9"
# pip's settings by precedence: its environment variables, then the install and global sections
_SCOPES = (":env:", "install", "global")


def pip_settings(env: dict[str, str] | None = None) -> dict[str, str]:
    """pip's effective configuration, one value per option (`pip config list`, in ``env``)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, env=env)
    found: dict[tuple[str, str], str] = {}
    for line in listed.stdout.splitlines():
        key, sep, value = line.partition("=")
        scope, _, option = key.rpartition(".")
        if sep and scope in _SCOPES:
            found[scope, option] = ast.literal_eval(value)
    settings = {}
    for scope in reversed(_SCOPES):
        settings |= {option: value for (where, option), value in found.items() if where == scope}
    return settings


def _switched_on(settings: dict[str, str], option: str) -> bool:
    """Whether a pip switch (no-index, no-compile) is set, as pip reads its true values."""
    return settings.get(option, "").lower() in ("1", "true", "yes", "on")


def uv_arguments(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv pip install's options and environment for pip's ``settings``."""
    args = ["--index-strategy", "unsafe-best-match"]  # pip weighs every index alike
    env = {}
    if "index-url" in settings:
        args += ["--index-url", settings["index-url"]]
    for option, flag in (("extra-index-url", "--extra-index-url"), ("find-links", "--find-links"),
                         ("constraint", "--constraint"), ("trusted-host", "--allow-insecure-host")):  # fmt: skip
        for value in settings.get(option, "").split():
            args += [flag, value]
    if _switched_on(settings, "no-index"):
        args.append("--no-index")
    # pip writes every module's bytecode as it installs, uv does not: without it each process
    # compiles what it imports again: dbt, pandas, DuckDB, scikit-learn, LightGBM and alphaduck
    # took 7.2-8.3 s to import instead of 3.0-3.9 s (with PYTHONDONTWRITEBYTECODE set, nothing
    # is ever cached)
    if not _switched_on(settings, "no-compile"):
        args.append("--compile-bytecode")
    if "cert" in settings:
        env["SSL_CERT_FILE"] = settings["cert"]
    if "default-timeout" in settings:
        env["UV_HTTP_TIMEOUT"] = settings["default-timeout"]
    return args, env


def main(argv: list[str]) -> int:
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    uv = [os.path.join(os.path.dirname(sys.executable), "uv"), "pip", "install", "--quiet", "--python", sys.executable]
    if subprocess.run([*pip, UV]).returncode == 0:
        args, env = uv_arguments(pip_settings())
        if subprocess.run([*uv, *args, *argv], env={**os.environ, **env}).returncode == 0:
            return 0
        print("install: uv did not install; pip tries the same", file=sys.stderr)
    subprocess.run([*pip, "--upgrade", "pip"])
    return subprocess.run([*pip, *argv]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
