# Two commands for a newcomer: `make demo` and `make test`.
# Each is self-sufficient on a fresh machine: it creates .venv and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= models

CLIENTS := .venv-clients
KSERVE := kserve==0.21.0

.PHONY: demo test browser postgres $(CLIENTS)

demo: $(STAMP)
	$(BIN)/skbundle demo --out $(DEMO_OUT)

test: $(STAMP) browser postgres $(CLIENTS)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

# Browser tests drive Debian's Chromium (the machine has no other way to get a browser).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The registry's PostgreSQL tests start a real server (tests/postgres.py): Debian's package.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "installing Debian's postgresql for the registry tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The KServe SDK pins pandas < 3, so the v2 client tests run it from an environment of its own
# (tests/clients/kserve_infer.py, started by tests/test_v2_clients.py).
$(CLIENTS): $(CLIENTS)/.installed

$(CLIENTS)/.installed: Makefile
	test -x $(CLIENTS)/bin/python || $(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --quiet --upgrade pip
	$(CLIENTS)/bin/python -m pip install --quiet '$(KSERVE)'
	touch $@
