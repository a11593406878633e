# Watchkeeper: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= examples/watchkeeper.yml

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed  ## start scheduler, executor, reporter and API (embedded Redis unless REDIS_URL)
	@echo "Watchkeeper: API on http://127.0.0.1:8080 (health: /healthz, runs: /api/v1/runs/ID) - Ctrl-C stops"
	$(BIN)/watchkeeper up -c $(CONFIG)

test: $(VENV)/.installed-dev  ## the whole test suite (private Redis and PostgreSQL where needed)
	$(BIN)/pytest

lint: $(VENV)/.installed-dev  ## ruff and strict mypy
	$(BIN)/ruff check services shared tests bench
	$(BIN)/ruff format --check services shared tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed-dev  ## every benchmark in bench/, each printing ratios to its baseline
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
