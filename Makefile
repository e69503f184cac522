# The two commands of the README's Quick start: `make run` and `make test`.
# Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv resolves and installs in parallel but reads no pip configuration: it is given pip's
# find-links, where a machine may keep wheels for pip (torch's CPU build, on ours).
PIP_FIND_LINKS ?= $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
BREATHVOICE_HOST ?= 127.0.0.1
BREATHVOICE_PORT ?= 8000
export BREATHVOICE_HOST BREATHVOICE_PORT

.PHONY: run test lint typecheck bench venv clean system chromium postgres screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml packages/multi-ws-tts-sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python $(addprefix --find-links ,$(PIP_FIND_LINKS)) \
		-e packages/multi-ws-tts-sdk -e ".[dev,matching,ray]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/breathvoice serve

# The studio's browser tests drive Debian's chromium; the PostgreSQL tests start a throwaway
# server with Debian's initdb and pg_ctl. Install what is missing where we can (root + apt),
# with one apt-get update for both.
HAVE_CHROMIUM = [ -x /usr/bin/chromium ]
HAVE_INITDB = { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1
system:
	@missing=""; $(HAVE_CHROMIUM) || missing="chromium"; \
	$(HAVE_INITDB) || missing="$$missing postgresql"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi
	@$(HAVE_CHROMIUM) || echo "!!! no /usr/bin/chromium: the studio's browser tests will be SKIPPED"
	@$(HAVE_INITDB) || echo "!!! no initdb: the PostgreSQL tests will be SKIPPED"

chromium postgres: system

# The tests run on TEST_WORKERS processes (pytest-xdist), each test file whole on one of them
# (tests/conftest.py): much of the suite waits on servers starting and sockets, not the CPU.
TEST_WORKERS ?= 2
test: $(STAMP) system
	$(BIN)/ruff check src packages/multi-ws-tts-sdk/src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# A picture of each studio screen and of /docs, in docs/images/.
screenshots: $(STAMP) system
	BREATHVOICE_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q -m screenshots tests/test_studio_browser.py

lint: $(STAMP)
	$(BIN)/ruff check src packages/multi-ws-tts-sdk/src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/rest_overhead.py

clean:
	rm -rf $(VENV)
