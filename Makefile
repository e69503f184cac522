# The two commands of the README's Quick start: `make run` and `make test`.
# Both create .venv on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BREATHVOICE_HOST ?= 127.0.0.1
BREATHVOICE_PORT ?= 8000
export BREATHVOICE_HOST BREATHVOICE_PORT

.PHONY: run test lint typecheck bench venv clean chromium postgres screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml packages/multi-ws-tts-sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e packages/multi-ws-tts-sdk -e ".[dev,matching,ray]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/breathvoice serve

# The studio's browser tests drive Debian's chromium; install it where we can (root + apt).
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi
	@[ -x /usr/bin/chromium ] || echo "!!! no /usr/bin/chromium: the studio's browser tests will be SKIPPED"

# The PostgreSQL tests start a throwaway server with Debian's initdb and pg_ctl.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
		&& command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; fi
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
		|| echo "!!! no initdb: the PostgreSQL tests will be SKIPPED"

test: $(STAMP) chromium postgres
	$(BIN)/ruff check src packages/multi-ws-tts-sdk/src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# A picture of each studio screen and of /docs, in docs/images/.
screenshots: $(STAMP) chromium
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
