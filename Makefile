# Two commands do all set-up on a fresh machine:
#   make run   - serve the whole API on http://127.0.0.1:8080 (embedded SQLite + local task queue)
#   make test  - lint, then the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_WORKERS ?= 2

.PHONY: run demo test lint typecheck format bench clean diagram browser-deps

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt client/pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(RUN_STAMP) $@

run: $(RUN_STAMP)
	$(BIN)/python -m functions.local

# While `make run` serves: deploy a model in the sandbox (a simulated Runpod, no key, no GPU, no network),
# watch it become ready, call it and delete it. The key `make run` generated (.data/api_key) is used.
CLIENT_STAMP := $(VENV)/.client-installed
$(CLIENT_STAMP): client/pyproject.toml | $(RUN_STAMP)
	$(BIN)/pip install --disable-pip-version-check -q click==8.5.1 rich==15.0.0 -e ./client
	touch $@

demo: $(CLIENT_STAMP)
	$(BIN)/dorch demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy --strict over shared/ (pyproject.toml [tool.mypy]).
typecheck: $(DEV_STAMP)
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint typecheck worker-test browser-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# The console's browser test (tests/browser) drives Debian's chromium through chromedriver: installed when
# missing (apt-get; sudo only when not root). Run that test alone with `$(BIN)/pytest -m browser`.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.api_latency
	$(BIN)/python -m bench.create_to_ready
	$(BIN)/python -m bench.long_requests
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.placement

clean:
	rm -rf $(VENV) .data

# docs/packages.svg and docs/packages.txt: the packages and their imports, read from the code.
diagram: $(RUN_STAMP)
	$(BIN)/python -m scripts.package_diagram

# ---- Google Cloud: emulated production and infra checks (issue 3) ---------------------------------
.PHONY: emulate side-venvs gateway-spec source-zip infra-check

# Tools whose pins clash with ours get their own environments (.venv-checkov, .venv-tasks-emulator).
side-venvs: $(DEV_STAMP)
	$(BIN)/python scripts/side_venv.py checkov
	$(BIN)/python scripts/side_venv.py tasks-emulator

# The API on the production adapters (Firestore + Cloud Tasks) against local emulators; Ctrl-C stops it.
emulate: $(RUN_STAMP)
	$(BIN)/python scripts/emulate.py

# Regenerate the API Gateway's OpenAPI document from functions/routes.py.
gateway-spec: $(RUN_STAMP)
	$(BIN)/python scripts/gateway_spec.py

# The functions' source bundle Terraform uploads (build/function-source.zip).
source-zip: $(RUN_STAMP)
	$(BIN)/python scripts/build_source.py

# Offline infra checks (also part of `make test`, through tests/test_infra.py).
infra-check: $(DEV_STAMP)
	terraform fmt -check -recursive infra
	$(BIN)/python scripts/side_venv.py checkov
	.venv-checkov/bin/checkov -d infra --framework terraform --skip-download --quiet --compact
	$(BIN)/pytest -q -p no:xdist tests/test_infra.py

# ---- The inference container (issue 6) ---------------------------------------------------------------
# Its heavy dependencies (torch, diffusers, transformers, runpod) live in .venv-worker, never in .venv.
.PHONY: worker-venv worker-test worker-image
WORKER_VENV := .venv-worker
WORKER_STAMP := $(WORKER_VENV)/.installed
WORKER_IMAGE ?= deployment-orchestrator-worker:dev

$(WORKER_VENV)/bin/python:
	$(PYTHON) -m venv $(WORKER_VENV)

# torch first, alone and pinned: nothing installed after it may pull another build (GBs of CUDA packages).
$(WORKER_STAMP): worker/requirements.txt worker/requirements-test.txt | $(WORKER_VENV)/bin/python
	$(WORKER_VENV)/bin/pip install --disable-pip-version-check -q "$$(grep -E '^torch==' worker/requirements.txt)"
	$(WORKER_VENV)/bin/pip install --disable-pip-version-check -q -r worker/requirements-test.txt
	$(WORKER_VENV)/bin/python -c "import torch, sys; v = torch.__version__; print('torch', v); sys.exit(not v.startswith('2.13.0'))"
	touch $@

worker-venv: $(WORKER_STAMP)

# The worker's tests in its own environment: CPU torch, tiny models built locally, the fake Hub.
worker-test: $(WORKER_STAMP)
	$(WORKER_VENV)/bin/python -m pytest tests/worker

# Needs a Docker engine (none on the development machines; tests/worker/test_image.py skips the build there).
worker-image:
	docker build -t $(WORKER_IMAGE) worker
