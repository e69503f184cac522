# The two commands of the README's Quick start: `make run` and `make test`.
# Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BREATHVOICE_HOST ?= 127.0.0.1
BREATHVOICE_PORT ?= 8000
export BREATHVOICE_HOST BREATHVOICE_PORT

.PHONY: run test lint typecheck bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml packages/multi-ws-tts-sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e packages/multi-ws-tts-sdk -e ".[dev,matching]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/breathvoice serve

test: $(STAMP)
	$(BIN)/ruff check src packages/multi-ws-tts-sdk/src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src packages/multi-ws-tts-sdk/src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/rest_overhead.py

clean:
	rm -rf $(VENV)
