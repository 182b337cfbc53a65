# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is
# installed from the package index by the rules below.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# dbt and GX phone home by default; this machine (and CI) has no internet.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: install demo test smoke bench clean

# the end-to-end run `make test` finishes with, on a scratch warehouse
SMOKE_DB := data/smoke.duckdb

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/alphaduck ingest sample
	$(BIN)/alphaduck build
	$(BIN)/alphaduck check
	$(BIN)/alphaduck train
	$(BIN)/alphaduck predict
	$(BIN)/alphaduck sql --example

test: install
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory smoke

# The pipeline as a user runs it, on the bundled sample: ingest, dbt build (unit tests
# included), the quality gate over every suite.
smoke: install
	rm -f $(SMOKE_DB) $(SMOKE_DB).wal
	$(BIN)/alphaduck ingest sample --db $(SMOKE_DB) -q
	$(BIN)/alphaduck build --db $(SMOKE_DB) --unit-tests
	$(BIN)/alphaduck check --db $(SMOKE_DB) --suite all --docs reports/smoke_data_docs -q

bench: install
	$(BIN)/python benchmarks/ingest_bench.py
	$(BIN)/python benchmarks/feature_bench.py
	$(BIN)/python benchmarks/train_bench.py

clean:
	rm -rf $(VENV) data/warehouse.duckdb data/warehouse.duckdb.wal target logs
