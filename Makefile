# DMVault: `make demo` sets everything up and starts the server and a worker on SQLite with
# demo data; `make test` runs the whole test suite. Both install what they need.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEMO_DIR ?= var/demo
PORT ?= 8000
BENCH_DIR ?= /tmp/dmvault-bench
BENCH_MESSAGES ?= 1000000

.PHONY: install demo test lint bench bench-pg clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# The compiled redaction core: a no-op when it is current (compliance/redaction/build_core.py).
# Without a C compiler the server still runs, with plain-Python redaction and a start-up warning;
# the test command (bin/test) insists on the compiled core.
install: $(VENV)/.installed
	$(PY) -m compliance.redaction.build_core || echo "warning: the redaction core was not compiled (needs gcc and the Python headers); redaction runs as plain Python" >&2

demo: install
	DMVAULT_ENV=demo DMVAULT_DATA_DIR=$(DEMO_DIR) $(PY) manage.py migrate --noinput -v0
	DMVAULT_ENV=demo DMVAULT_DATA_DIR=$(DEMO_DIR) $(PY) manage.py vault init
	DMVAULT_ENV=demo DMVAULT_DATA_DIR=$(DEMO_DIR) $(PY) manage.py demo
	DMVAULT_ENV=demo DMVAULT_DATA_DIR=$(DEMO_DIR) bash bin/serve $(PORT)

test: install
	bash bin/install-browser
	bash bin/test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

bench: install
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	DMVAULT_DATA_DIR=$(BENCH_DIR) $(PY) manage.py migrate --noinput -v0
	DMVAULT_DATA_DIR=$(BENCH_DIR) $(PY) manage.py bench write --messages $(BENCH_MESSAGES)
	DMVAULT_DATA_DIR=$(BENCH_DIR) $(PY) manage.py bench search --messages $(BENCH_MESSAGES)

bench-pg: install
	psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS dmvault_bench' -c 'CREATE DATABASE dmvault_bench'
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/dmvault_bench DMVAULT_DATA_DIR=$(BENCH_DIR)-pg $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/dmvault_bench DMVAULT_DATA_DIR=$(BENCH_DIR)-pg $(PY) manage.py bench write --messages $(BENCH_MESSAGES)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/dmvault_bench DMVAULT_DATA_DIR=$(BENCH_DIR)-pg $(PY) manage.py bench search --messages $(BENCH_MESSAGES)

clean:
	rm -rf $(VENV) var build compliance/redaction/detectors.*.so compliance/redaction/detectors.core-sha256 .pytest_cache .mypy_cache .ruff_cache
