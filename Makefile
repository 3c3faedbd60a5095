# Two commands do all set-up on a fresh machine:
#   make run   - serve the whole API on http://127.0.0.1:8080 (embedded SQLite + local task queue)
#   make test  - lint, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint format bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(RUN_STAMP) $@

run: $(RUN_STAMP)
	$(BIN)/python -m functions.local

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.api_latency
	$(BIN)/python -m bench.create_to_ready

clean:
	rm -rf $(VENV) .data
