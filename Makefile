# ds-preprocessing: one entry point for installing, testing, the demo and the benchmark.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo bench synth-bench clean

install: $(STAMP)

# Reinstall whenever the dependency declarations change.
$(STAMP): pyproject.toml package.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	npm install --silent --no-audit --no-fund
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2

test: lint typecheck pytest

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m dsctl.demo

bench: install
	$(BIN)/python -m job.bench $(if $(ROWS),--rows $(ROWS),)

synth-bench: install
	$(BIN)/python -m dsctl.synth_bench

clean:
	-[ -x $(BIN)/dsctl ] && $(BIN)/dsctl local down
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .dsctl-local .bench
