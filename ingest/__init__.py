"""Ingest: IBKR, CSV/Parquet and the bundled sample -> raw.bars, raw.ingest_runs, raw.trading_sessions."""
