# harlit: `make install`, `make test`, `make demo`. `make help` lists every target.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: help install test test-slow test-all demo lint format bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install:  ## create .venv and install harlit (editable) with the dev tools, SLURM and Optuna plugins
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev,slurm,optuna]'

test:  ## the fast test suite (about 10 minutes on 2 CPU cores)
	$(PY) -m pytest -m "not slow"

test-slow:  ## only the heavier end-to-end tests
	$(PY) -m pytest -m slow

test-all:  ## every test
	$(PY) -m pytest

demo:  ## the three synthetic stages and a Top-1/Top-5/F1 table (no download)
	$(PY) -m harlit.demo

lint:  ## ruff lint and format check, and the import contracts (layers, no cycles)
	$(PY) -m ruff check harlit tests experiments
	$(PY) -m ruff format --check harlit tests experiments
	$(VENV)/bin/lint-imports

format:  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff check --fix harlit tests experiments
	$(PY) -m ruff format harlit tests experiments

bench:  ## training throughput: pipeline vs model-only ceiling (the others: python -m harlit.bench --help)
	$(PY) -m harlit.bench train
