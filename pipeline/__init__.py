"""The pipeline end to end: `alphaduck run` calls every stage in order (ingest -> dbt build ->
quality gate -> train -> predict -> backtest). It reads every stage, so it sits after them all."""
