# Two set-up commands (see README): `make run` serves the service, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-dev migrate serve demo-users demo-data bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "需要 Python 3.11 或更高版本"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python -m hotline migrate

demo-users: install
	$(BIN)/python -m hotline users demo

## demo-data: on first start only, a year of demo tickets handled up to today, so that queues,
## callbacks and the dashboard have work and figures (skipped once any ticket exists)
demo-data: install
	$(BIN)/python -m hotline demo generate --tickets 3000 --if-empty --quiet

serve: install
	$(BIN)/python -m hotline serve --host $(HOST) --port $(PORT)

## run: install, migrate (rulebook + working calendar), create demo users and (first time) demo tickets, serve on http://127.0.0.1:8000
run: migrate demo-users demo-data serve

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, types, layer contracts, then the whole pytest suite (includes the alembic check)
test: lint
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python bench/dispatcher.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
