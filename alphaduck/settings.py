"""The one place for settings every stage shares."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"

# profiles.yml reads the same variable with the same default, so dbt and Python
# always open the same file.
DB_ENV_VAR = "ALPHADUCK_DB"
DEFAULT_DB = Path("data") / "warehouse.duckdb"

# what the pipeline writes besides the warehouse (git-ignored), relative to where it runs
MODELS_DIR = Path("models")
REPORTS_DIR = Path("reports")
DATA_DOCS_DIR = REPORTS_DIR / "data_docs"

DEFAULT_CALENDAR = "XNYS"
DEFAULT_TZ = "America/New_York"
# every seeded step (searches, sampling, bootstraps) starts from this unless told
DEFAULT_SEED = 7

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ml", "backtest")

# The storage format new warehouse files are written in: DuckDB 2 writes a format DuckDB 1.x
# refuses by default; v1.1.0 is read by every current 1.x client (tests/test_clients.py).
STORAGE_VERSION = "v1.1.0"
# Options every DuckDB database alphaduck (and dbt, through profiles.yml's config_options,
# which must equal this: tested) opens with: no extension is ever downloaded or loaded
# behind our back (a SQLite file would otherwise pull the sqlite extension from the internet).
DUCKDB_CONFIG = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "storage_compatibility_version": STORAGE_VERSION,
}

# How long a command waits for another process to let go of the warehouse before it gives
# up, in seconds (DuckDB allows one writer, or any number of readers, per file).
LOCK_WAIT_ENV_VAR = "ALPHADUCK_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 60.0


# One optional file for the settings people repeat. Each setting resolves as: the flag (or
# argument), then its environment variable, then alphaduck.toml, then the default below.
CONFIG_FILE = "alphaduck.toml"
CONFIG_ENV_VAR = "ALPHADUCK_CONFIG"  # names the file; else ./alphaduck.toml, else the repo root's


@dataclasses.dataclass(frozen=True)
class Setting:
    env_var: str
    default: object
    is_path: bool = True  # a relative path in alphaduck.toml is relative to that file


SETTINGS = {
    "db": Setting(DB_ENV_VAR, DEFAULT_DB),
    "models": Setting("ALPHADUCK_MODELS", MODELS_DIR),
    "reports": Setting("ALPHADUCK_REPORTS", REPORTS_DIR),
    "calendar": Setting("ALPHADUCK_CALENDAR", DEFAULT_CALENDAR, is_path=False),
}


def config_file() -> Path | None:
    """The alphaduck.toml in use: $ALPHADUCK_CONFIG, else the current directory's, else the repo root's."""
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        return Path(named)
    for folder in (Path.cwd(), PROJECT_ROOT):
        if (folder / CONFIG_FILE).is_file():
            return folder / CONFIG_FILE
    return None


def load_config(path: Path | None = None) -> dict[str, object]:
    """The settings alphaduck.toml sets (paths resolved against its folder); a file that does
    not parse, an unknown key or a value of the wrong type is one line naming the file."""
    import difflib
    import tomllib

    from alphaduck.errors import AlphaduckError

    path = path or config_file()
    if path is None:
        return {}
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlphaduckError(f"config file {path} (${CONFIG_ENV_VAR}) does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AlphaduckError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, object] = {}
    for key, value in table.items():
        if key not in SETTINGS:
            hint = difflib.get_close_matches(key, SETTINGS, n=1)
            known = f"did you mean {hint[0]!r}?" if hint else f"known: {', '.join(SETTINGS)}"
            raise AlphaduckError(f"config file {path}: unknown setting {key!r} ({known})")
        if not isinstance(value, str) or not value.strip():
            raise AlphaduckError(f"config file {path}: {key} must be a non-empty string, got {value!r}")
        values[key] = Path(path).parent / value if SETTINGS[key].is_path else value
    return values


def setting(name: str, flag: object = None) -> object:
    """A setting's value: ``flag`` if given, else its environment variable, else alphaduck.toml,
    else its default (paths come back as Path)."""
    spec = SETTINGS[name]
    if flag not in (None, ""):
        chosen = flag
    else:
        chosen = os.environ.get(spec.env_var) or load_config().get(name) or spec.default
    return Path(chosen) if spec.is_path else chosen


def default_of(name: str):
    """A click ``default=`` for a setting's option: alphaduck.toml, else the default (click
    itself gives the flag, then the environment variable, precedence)."""
    return lambda: str(load_config().get(name) or SETTINGS[name].default)


def warehouse_path(db: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the warehouse file: explicit argument (a path, or a Warehouse), then
    $ALPHADUCK_DB, then alphaduck.toml, then the default."""
    if hasattr(db, "path"):  # an alphaduck.warehouse.Warehouse
        return db.path
    return setting("db", db)


def dbt_project_dir(project_dir: str | os.PathLike[str] | None = None) -> Path:
    """The dbt project: the one given, else the one beside the alphaduck package (the repo an
    editable install points at, wherever the command runs from); refused in one line that
    says where it looked."""
    project = Path(project_dir or PROJECT_ROOT).resolve()
    if not (project / "dbt_project.yml").is_file():
        from alphaduck.errors import AlphaduckError

        raise AlphaduckError(
            f"no dbt project: looked for dbt_project.yml in {project} (alphaduck uses the one beside its "
            "package: install it with `pip install -e <alphaduck checkout>`)"
        )
    return project


def dbt_artifacts_dir(kind: str, project: Path = PROJECT_ROOT) -> Path:
    """Where dbt writes its ``"target"`` artifacts (manifest.json, run_results.json) or its
    ``"logs"`` for builds alphaduck runs, and where it reads them back: dbt's own
    $DBT_TARGET_PATH / $DBT_LOG_PATH (relative to the project, as dbt reads them), else
    <project>/target and <project>/logs."""
    variable = {"target": "DBT_TARGET_PATH", "logs": "DBT_LOG_PATH"}[kind]
    configured = os.environ.get(variable)
    return project / configured if configured else project / kind


@functools.cache
def project_vars(root: Path = PROJECT_ROOT) -> dict:
    """The dbt project's vars as its dbt_project.yml sets them (the defaults a build starts
    from; what a build actually used is recorded in marts.feature_builds)."""
    import yaml

    return dict(yaml.safe_load((dbt_project_dir(root) / "dbt_project.yml").read_text()).get("vars") or {})
