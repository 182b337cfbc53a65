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

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ml", "backtest")


def warehouse_path(db: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the warehouse file: explicit argument, then $ALPHADUCK_DB, then the default."""
    if db:
        return Path(db)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


@functools.cache
def project_vars(root: Path = PROJECT_ROOT) -> dict:
    """The dbt project's vars as its dbt_project.yml sets them (the defaults a build starts
    from; what a build actually used is recorded in marts.feature_builds)."""
    import yaml

    return dict(yaml.safe_load((Path(root) / "dbt_project.yml").read_text()).get("vars") or {})
