# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is
# installed from the package index by the rules below.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# dbt and GX phone home by default; this machine (and CI) has no internet.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: install browser demo test smoke bench clean

# Headless Chromium for the report and dashboard tests: Debian's packages (a test tool's own
# browser download would need the internet)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
CHROMEDRIVER := /usr/bin/chromedriver

# the end-to-end run `make test` finishes with, on a scratch warehouse
SMOKE_DB := data/smoke.duckdb

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMEDRIVER):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver \
	  || ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver)

browser: $(CHROMEDRIVER)

# the pipeline on the bundled sample; the strategy goes long on the model's top-fifth scores
# (a threshold from its validation window, so nothing is tuned on the test window)
demo: install
	$(BIN)/alphaduck run --ingest sample --n-iter 6 --n-splits 3 --param long_quantile=0.8
	$(BIN)/alphaduck sql --example
	@echo "Browse runs, symbols, the model and data quality: $(BIN)/alphaduck dashboard  (then open http://127.0.0.1:8050)"

test: install browser
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory smoke

# The pipeline as a user runs it, on the bundled sample in a scratch warehouse: ingest ->
# dbt build -> gate -> train -> predict -> backtest -> report, then every quality suite
# (predictions included), then the look-ahead and warm-up check of the features it built
# (~20 s). pytest has run dbt's unit tests already.
smoke: install
	rm -rf $(SMOKE_DB) $(SMOKE_DB).wal reports/smoke models/smoke
	$(BIN)/alphaduck run --db $(SMOKE_DB) --ingest sample --n-iter 2 --n-splits 2 \
	  --param long_quantile=0.8 --models models/smoke --reports reports/smoke
	$(BIN)/alphaduck check --db $(SMOKE_DB) --suite all --docs reports/smoke/data_docs -q
	$(BIN)/alphaduck lookahead --db $(SMOKE_DB)

bench: install
	$(BIN)/python benchmarks/ingest_bench.py
	$(BIN)/python benchmarks/feature_bench.py
	$(BIN)/python benchmarks/train_bench.py
	$(BIN)/python benchmarks/walk_forward_bench.py
	$(BIN)/python benchmarks/backtest_bench.py
	$(BIN)/python benchmarks/stats_bench.py

clean:
	rm -rf $(VENV) data/warehouse.duckdb data/warehouse.duckdb.wal target logs
