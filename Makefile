# Everything a fresh machine needs comes from pyproject.toml + constraints.txt (the lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install (and the parser's C fast path, built in place) is redone when any of these change.
INSTALL_INPUTS := pyproject.toml constraints.txt setup.py cloudinsights_dagster/flowlogs/_fastparse.c
STAMP := $(VENV)/.installed-$(shell cat $(INSTALL_INPUTS) | cksum | cut -d' ' -f1)
CLOUDINSIGHTS_HOME ?= $(CURDIR)/.cloudinsights
DAGSTER_HOME ?= $(CLOUDINSIGHTS_HOME)/dagster
# Only the demo and the UI share the local instance; tests make their own.
LOCAL := CLOUDINSIGHTS_HOME="$(CLOUDINSIGHTS_HOME)" DAGSTER_HOME="$(DAGSTER_HOME)"

.PHONY: setup demo test ui browser-deps bench bench-scale bench-intake bench-burst bench-table bench-inventory lint format validate clean sanitize fuzz

$(STAMP): $(INSTALL_INPUTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,deploy,demo]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# The demo writes its own instance settings (telemetry off, events to a log file) when missing.
demo: setup
	$(LOCAL) $(BIN)/python -m cloudinsights_dagster.demo

# tests/browser drives Debian's chromium through chromedriver: installed here when missing (as
# root, from the distribution's packages; nothing is downloaded when the tests run).
browser-deps:
	@test -x /usr/bin/chromedriver -a -x /usr/bin/chromium || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test: setup browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

# The parser's C fast path under AddressSanitizer + UBSan, with the parse tests and the fuzz
# profile of their Hypothesis property (~3 min).
sanitize: setup
	scripts/sanitize.sh

# The Hypothesis property of the fast path at 5,000 files (the test suite runs 150).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n 0 tests/unit/test_flowlog_fastparse.py -k any_text

# The UI over the demo's instance, its fake AWS rebuilt and fed; Ctrl-C stops all of it.
ui: setup
	$(LOCAL) $(BIN)/python -m cloudinsights_dagster.demo.ui --port 3000

bench: setup
	$(BIN)/python bench/run_all.py

# Flow-log runs as users run them: sensor intake, run fixed cost, per-object and per-record cost.
bench-scale: setup
	mkdir -p bench-out
	$(BIN)/python bench/bench_flowlog_runs.py --json-out bench-out/flowlog_runs.json

# One flowlog_queue_sensor tick over 1,000 and 5,000 queued notifications (moto, SQLite).
bench-intake: setup
	$(BIN)/python bench/bench_intake.py

# 10,000 objects (5% notified twice, 1% bad) through the sensor and runs, two at a time: loss,
# duplicate rows, upload-to-rows latency, and the locations a 2-core machine sustains.
bench-burst: setup
	mkdir -p bench-out
	$(BIN)/python bench/bench_burst.py --json-out bench-out/flowlog_burst.json

# The documented flow-record queries in DuckDB: table vs raw gzip text, 200 locations' day.
bench-table: setup
	mkdir -p bench-out
	$(BIN)/python bench/bench_table.py --json-out bench-out/bench_table.json

validate: setup
	$(BIN)/dagster definitions validate -w workspace.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .cloudinsights .pytest_cache

# Inventory runs as the schedule starts them (a process per run, moto, SQLite): fixed cost,
# CPU per location, AWS requests and AssumeRole per location.
.PHONY: bench-inventory
bench-inventory: setup
	mkdir -p bench-out
	$(BIN)/python bench/bench_inventory_runs.py --json-out bench-out/inventory_runs.json
