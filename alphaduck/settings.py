"""The one place for settings every stage shares."""

from __future__ import annotations

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


def warehouse_path(db: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the warehouse file: explicit argument (a path, or a Warehouse), then
    $ALPHADUCK_DB, then the default."""
    if hasattr(db, "path"):  # an alphaduck.warehouse.Warehouse
        return db.path
    if db:
        return Path(db)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


@functools.cache
def project_vars(root: Path = PROJECT_ROOT) -> dict:
    """The dbt project's vars as its dbt_project.yml sets them (the defaults a build starts
    from; what a build actually used is recorded in marts.feature_builds)."""
    import yaml

    return dict(yaml.safe_load((Path(root) / "dbt_project.yml").read_text()).get("vars") or {})
