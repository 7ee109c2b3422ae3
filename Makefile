# ds-preprocessing: one entry point for installing, testing, the demo and the benchmark.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every Python dependency, pinned with hashes (README: Dependencies). `make lock` regenerates it.
LOCK   := requirements/dev.lock

.PHONY: install lock test lint typecheck pytest demo bench report-check synth-bench clean

install: $(STAMP)

# Rebuild the virtualenv from scratch whenever the lock (or anything else declaring dependencies) changes, so it
# holds exactly the lock: --require-hashes refuses anything unpinned or altered, --no-deps anything not listed.
# pip installs only the locked uv (requirements/uv.txt, derived from the lock); uv installs the rest, in parallel.
$(STAMP): $(LOCK) requirements/uv.txt pyproject.toml package.json
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/uv.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
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

# Every data shape at 10M rows (ROWS to change), then at 1M rows (the fixed start-up), each against its own floor.
bench: install
	$(BIN)/python -m job.bench --rows $(or $(ROWS),10000000)
	$(BIN)/python -m job.bench --rows 1000000 --no-peer

# Not part of test: renders a run's report.html in headless Chromium (Debian package chromium), screenshots it to
# .report-check/report.png and fails on console errors or failed loads.
report-check: install
	$(BIN)/python -m job.report_check --work .report-check

synth-bench: install
	$(BIN)/python -m dsctl.synth_bench

# Re-resolve pyproject.toml's ranges from PyPI (network) with the locked uv, keeping every current pin that still
# fits; UPGRADE=polars (or UPGRADE=all) moves that package (or everything) to the newest allowed version. Then
# derive the image's job/requirements.txt from the new lock. The next `make install` rebuilds .venv from it.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--quiet --custom-compile-command "make lock" --output-file $(LOCK) \
		$(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))
	$(BIN)/python tools/lock.py

clean:
	-[ -x $(BIN)/dsctl ] && $(BIN)/dsctl local down
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .dsctl-local .bench .report-check
