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

.PHONY: setup demo test ui bench bench-scale bench-intake lint format validate clean

$(STAMP): $(INSTALL_INPUTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,deploy]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p "$(DAGSTER_HOME)"
	cp deploy/dagster-local.yaml "$@"

demo: setup $(DAGSTER_HOME)/dagster.yaml
	$(LOCAL) $(BIN)/python -m cloudinsights_dagster.demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadfile

ui: setup $(DAGSTER_HOME)/dagster.yaml
	$(LOCAL) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	$(BIN)/python bench/run_all.py

# Flow-log runs as users run them: sensor intake, run fixed cost, per-object and per-record cost.
bench-scale: setup
	mkdir -p bench-out
	$(BIN)/python bench/bench_flowlog_runs.py --json-out bench-out/flowlog_runs.json

# One flowlog_queue_sensor tick over 1,000 and 5,000 queued notifications (moto, SQLite).
bench-intake: setup
	$(BIN)/python bench/bench_intake.py

validate: setup
	$(BIN)/dagster definitions validate -w workspace.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
