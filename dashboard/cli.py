"""`alphaduck dashboard`: start the Dash app over the warehouse."""

from __future__ import annotations

from pathlib import Path

import click

from alphaduck import options
from alphaduck.settings import MODELS_DIR


@click.command(
    name="dashboard",
    epilog="""\b
Examples:
  alphaduck dashboard                       # then open http://127.0.0.1:8050
  alphaduck dashboard --port 8060 --db /data/warehouse.duckdb
""",
)
@options.db
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for the network).")
@click.option("--port", default=8050, show_default=True)
@click.option("--models", "models_dir", type=click.Path(path_type=Path), default=MODELS_DIR, show_default=True)
def dashboard(db: str, host: str, port: int, models_dir: Path) -> None:
    """Browse backtests, symbols, models and data quality in a browser (read-only)."""
    import logging

    from dashboard.app import create_app

    app = create_app(db, models_dir)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
    click.echo(f"alphaduck dashboard on http://{host}:{port} (warehouse {db}, read-only); Ctrl+C stops it")
    app.run(host=host, port=port, debug=False)
