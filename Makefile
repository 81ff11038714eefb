# Quickstart: `make demo` runs the example pipelines against the embedded devserver,
# `make test` runs the whole suite. Both set up .venv themselves (idempotently).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")

.PHONY: install test demo bench protos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m examples.demo

bench: install
	$(BIN)/python -m benchmarks.run_all

protos: install
	bash protos/generate.sh

clean:
	rm -rf $(VENV) build *.egg-info
