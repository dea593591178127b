# Two commands on a fresh machine with Python 3.11:  `make demo`  and  `make test`.
# Everything they need is installed into .venv from the pins in constraints.txt.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := dev,prod
STAMP  := $(VENV)/.installed-$(shell (cat pyproject.toml constraints.txt; echo $(EXTRAS)) | cksum | cut -d' ' -f1)

# Embedded defaults: all state lives in .local/ inside the repo (git-ignored).
export RNN_PIPELINE_HOME           ?= $(CURDIR)/.local
export AIRFLOW_HOME                ?= $(CURDIR)/.local/airflow
export AIRFLOW__CORE__DAGS_FOLDER  := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR     ?= LocalExecutor
export MLFLOW_TRACKING_URI         ?= sqlite:///$(CURDIR)/.local/mlflow/mlflow.db
export GX_ANALYTICS_ENABLED        := False
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
# No usage telemetry leaves the machine (MLflow 3 sends it by default).
export MLFLOW_DISABLE_TELEMETRY    := true
export DO_NOT_TRACK                := true
# Bytecode is cached when a module is first imported (Python's default), whatever the machine's
# PYTHONDONTWRITEBYTECODE says: with it set, every process (Airflow task, training run, server) would
# compile each module it imports again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install kernel demo sweep test test-setup system-packages test-fast test-unit test-integration test-e2e test-browser test-production browser focus-validator bench reference-metrics platform-footprint lint format up down clean prod-deps prod-env prod-up prod-down prod-status

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	@# --no-compile: a module is byte-compiled when first imported and cached (PYTHONDONTWRITEBYTECODE is
	@# unexported above), about a third of the installed code; compiling all of it took ~140 s of CPU
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) kernel  ## create .venv and install the pinned dependencies

# The fast decoder's fused C++ step, compiled once per machine (~25 s; cached in ~/.cache/rnn-pipeline).
# Without a compiler the decoder falls back to its slower torch-ops step and says so.
kernel: $(STAMP)  ## compile the fast decoder's fused C++ step for this machine (python -m rnn build-kernel)
	@$(BIN)/python -m rnn build-kernel || echo "continuing without it: the decoder uses its torch-ops step"

demo: $(STAMP) kernel  ## run the pipeline end to end on embedded defaults and print a summary
	$(BIN)/python -m devtools.demo

# The tests run in parallel (pytest-xdist): a module's tests stay on one worker; the production topology's
# tests run on one worker, the browser's on another, each sharing one session (tests/tiers.py).
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS)

# Its setup runs three installs at once (two cores): .venv then the kernel, the FOCUS validator's venv, and
# the Debian packages one apt-get after the other (apt-get holds a lock).
test-setup:
	@$(MAKE) --no-print-directory -j3 kernel focus-validator system-packages

system-packages:
	@$(MAKE) --no-print-directory browser && $(MAKE) --no-print-directory prod-deps

test: test-setup  ## run every tier (what CI runs)
	$(BIN)/python -m pytest $(XDIST)

test-fast: test-unit  ## the quick loop: the unit tier

test-unit: $(STAMP) kernel  ## unit tier: no services, no real training
	$(BIN)/python -m pytest $(XDIST) -m unit

test-integration: $(STAMP) kernel focus-validator  ## integration tier: moto, MLflow, SMTP, the inference server, training in subprocesses
	$(BIN)/python -m pytest $(XDIST) -m integration

test-e2e: $(STAMP) kernel  ## e2e tier: whole DAG runs (dag.test(), airflow dags test)
	$(BIN)/python -m pytest $(XDIST) -m e2e

test-browser: $(STAMP) kernel browser  ## browser tier: the Airflow and MLflow UIs in headless Chromium
	$(BIN)/python -m pytest -m browser

test-production: $(STAMP) kernel prod-deps  ## production tier: the production topology (Postgres, Redis, Celery, MLflow server)
	$(BIN)/python -m pytest -m production

# Headless Chromium for the real-browser test (Debian packages). Installed when possible (root + apt);
# otherwise that one test is skipped and says why (under CI=true it fails instead).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium + chromium-driver for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null) \
	  || echo "could not install chromium: the browser test will be skipped"; \
	else echo "chromium not found and not root: the browser test will be skipped"; fi

# Postgres and Redis for the production topology without Docker (Debian packages), as for Chromium.
prod-deps:  ## install postgresql + redis-server for prod-up and tests/production (root + apt)
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing$$missing for the production topology"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null) \
	  || echo "could not install$$missing: tests/production will be skipped"; \
	else echo "$$missing not found and not root: install them (apt-get install$$missing); tests/production will be skipped"; fi

prod-env: $(STAMP)  ## generate the production secrets once (.local/prod/secrets.env, mode 0600)
	$(BIN)/python -m devtools.production secrets

prod-up: $(STAMP) prod-deps  ## docker-compose.yaml's topology as processes on 127.0.0.1 (prints URLs, credentials)
	$(BIN)/python -m devtools.production up

prod-down:  ## stop what `make prod-up` started (data and secrets stay in .local/prod)
	@test -x $(BIN)/python && $(BIN)/python -m devtools.production down || true

prod-status:  ## which production components run
	@$(BIN)/python -m devtools.production status

# The FinOps Foundation's FOCUS validator checks the FOCUS export (tests/costing/report/test_focus.py). It
# needs Python >= 3.12 and pins numpy<2 / pandas<3, so it gets a venv of its own from
# constraints-focus-validator.txt. No such Python: that test is skipped and says why (fails under CI=true).
FOCUS_VENV  := .venv-focus-validator
FOCUS_STAMP := $(FOCUS_VENV)/.installed-$(shell cksum < constraints-focus-validator.txt | cut -d' ' -f1)
FOCUS_PYTHON ?= $(shell for p in python3.12 python3.13 $$(ls -d $$HOME/.pyenv/versions/3.1[23]*/bin/python3.1[23] 2>/dev/null); do \
  "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)

focus-validator: $(FOCUS_STAMP)  ## the FOCUS validator's own venv (.venv-focus-validator)

$(FOCUS_STAMP): constraints-focus-validator.txt
	@if [ -z "$(FOCUS_PYTHON)" ]; then echo "no Python >= 3.12 found: the FOCUS validator test will be skipped"; exit 0; fi; \
	rm -rf $(FOCUS_VENV) && $(FOCUS_PYTHON) -m venv $(FOCUS_VENV) \
	&& $(FOCUS_VENV)/bin/python -m pip install --quiet --no-compile -c constraints-focus-validator.txt focus-validator \
	&& touch $@

sweep: $(STAMP) kernel  ## a small rnn_sweep on embedded defaults (6 trials, 2 rounds): the front and the recommendation
	$(BIN)/python -m devtools.sweep

bench: $(STAMP) kernel  ## speed and memory benchmarks
	$(BIN)/python -m devtools.bench

# What `python -m costing scenarios` prices without a tracking store. Re-run it alone on the machine when
# the decoder or the metrics schema changes (tests/test_reference_metrics.py says so): a few minutes of CPU.
reference-metrics: $(STAMP) kernel  ## re-measure include/reference_metrics.json: train, fast-decoder bench, the DAG's load test, cold starts
	$(BIN)/python -m devtools.reference_metrics

# What a self-hosted platform (docker-compose.yaml's services) was measured to use, for the cost model's
# sizing. Re-run it alone on the machine after changing the deployment: 3-4 minutes.
platform-footprint: $(STAMP) kernel prod-deps  ## re-measure include/platform_footprint.json: each service's peak RSS and CPU over one retraining run
	$(BIN)/python -m devtools.platform_footprint

lint: $(STAMP)  ## ruff (incl. Airflow AIR rules), formatting, and the import contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)  ## apply ruff's formatting and import order to the whole tree
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

up: $(STAMP)  ## start Airflow standalone + MLflow UI on 127.0.0.1 (prints URLs and login)
	$(BIN)/python -m devtools.services up

down:  ## stop what `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m devtools.services down || true

clean: down prod-down  ## delete local state (.local/): runs, MLflow store, Airflow DB, the production topology
	rm -rf .local
