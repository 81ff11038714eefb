# Quickstart: `make demo` runs the example pipelines against the embedded devserver,
# `make test` runs the lint gate (`make lint`: ruff, ruff format --check, mypy), then the whole
# suite, then `make test-compat` (the Airflow provider on the oldest supported Airflow, 3.0.x, in
# its own .venv-airflow30). All set up their venvs themselves (idempotently).
# `make lint-report` counts the gate's findings per package and rule without failing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

# The oldest supported Airflow, in a venv of its own (it cannot share .venv with 3.3 and Dagster).
# Airflow 3.0.x declares no upper bound on its web stack, and FastAPI >= 0.132 no longer parses
# bodies sent without a JSON content type, which is how 3.0's in-process execution API client
# (dag.test()) talks: every task start fails with a 422. Pin the FastAPI/Cadwyn of its day.
AIRFLOW30_VERSION := 3.0.6
AIRFLOW30_PINS := fastapi==0.116.1 cadwyn==5.4.4
VENV30 := .venv-airflow30
BIN30 := $(VENV30)/bin
STAMP30 := $(VENV30)/.installed-$(shell (cat pyproject.toml; echo "$(AIRFLOW30_VERSION) $(AIRFLOW30_PINS)") | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

# The official Flyte 2 SDK in a venv of its own: the devserver runs SDK-deployed tasks with its
# Python (tests/devserver/sdk). It is never a dependency of this package.
SDK_VERSION := 2.12.1
VENV_SDK := .venv-sdk
STAMP_SDK := $(VENV_SDK)/.installed-flyte-$(SDK_VERSION)

.PHONY: install install-compat install-sdk install-browser lint lint-report test test-compat test-pythons demo bench protos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# What the lint gate checks (mypy's files and options are in pyproject.toml, [tool.mypy]).
LINT_PATHS := flyte_remote_core flyte_airflow flyte_dagster benchmarks tools tests examples

# Every check runs, so one run shows all problems; the target fails if any check failed.
lint: install
	@status=0; \
	echo "ruff check $(LINT_PATHS)"; $(BIN)/ruff check $(LINT_PATHS) || status=1; \
	echo "ruff format --check $(LINT_PATHS)"; $(BIN)/ruff format --check --output-format concise $(LINT_PATHS) || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	exit $$status

lint-report: install
	$(BIN)/python tools/lint_report.py

$(VENV_SDK)/bin/python:
	$(PYTHON) -m venv $(VENV_SDK)
	$(VENV_SDK)/bin/python -m pip install --quiet --upgrade pip

$(STAMP_SDK): $(VENV_SDK)/bin/python
	$(VENV_SDK)/bin/python -m pip install --quiet 'flyte==$(SDK_VERSION)'
	rm -f $(VENV_SDK)/.installed-*
	touch $(STAMP_SDK)

install-sdk: $(STAMP_SDK)

# The console tests (tests/devserver/console) drive Debian's headless Chromium through its
# chromedriver; installed only when missing (CI starts from scratch; we run as root there).
install-browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  apt-get update && apt-get install -y chromium chromium-driver; \
	fi

test: lint install-sdk install-browser
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(MAKE) test-compat

$(BIN30)/python:
	$(PYTHON) -m venv $(VENV30)
	$(BIN30)/python -m pip install --quiet --upgrade pip

$(STAMP30): $(BIN30)/python pyproject.toml
	$(BIN30)/python -m pip install --quiet -e '.[devserver,dev]' 'apache-airflow==$(AIRFLOW30_VERSION)' $(AIRFLOW30_PINS)
	rm -f $(VENV30)/.installed-*
	touch $(STAMP30)

install-compat: $(STAMP30)

test-compat: install-compat
	$(BIN30)/python -m pytest -q -p no:cacheprovider tests/flyte_airflow_compat

# The suite on other Python minors, each in build/py<minor> (not part of `make test`). Takes the
# first python<minor> that runs: on PATH, else a pyenv build ($PYENV_ROOT/versions/<minor>.*).
# requires-python declares only what CI tests, so the install here has to override it; widen
# requires-python once a minor passes here in CI.
PYTHONS ?= 3.12 3.13
test-pythons:
	@set -e; for v in $(PYTHONS); do \
	  py=$$(for c in $$(command -v python$$v) \
	             $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1); do \
	          $$c -c '' 2>/dev/null && echo $$c && break; done); \
	  [ -n "$$py" ] || { echo "no working python$$v (on PATH or in pyenv)"; exit 1; }; \
	  [ -x build/py$$v/bin/python ] || $$py -m venv build/py$$v; \
	  build/py$$v/bin/python -m pip install --quiet --upgrade pip; \
	  build/py$$v/bin/python -m pip install --quiet --ignore-requires-python -e '.[all,dev]'; \
	  echo "== Python $$v"; build/py$$v/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
	done

demo: install
	$(BIN)/python -m examples.demo

# Every benchmark, then docs/BENCHMARKS.md regenerated from this run (side by side with the SDK).
# Bytecode first: pip compiled the SDK's modules when it installed them, and an editable install
# compiles ours on every fresh process instead (about 80 ms of a devserver start) when
# PYTHONDONTWRITEBYTECODE is set, as it is on our machines. compileall skips what is current.
bench: install install-sdk
	$(BIN)/python -m compileall -q flyte_remote_core flyte_airflow flyte_dagster
	$(BIN)/python -m benchmarks.run_all

protos: install
	bash protos/generate.sh

clean:
	rm -rf $(VENV) $(VENV30) $(VENV_SDK) build *.egg-info
