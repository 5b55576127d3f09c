# hookline — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.install-stamp
# pytest processes (pytest-xdist): every test has its own ports, files and PostgreSQL database.
TEST_WORKERS ?= 2

.PHONY: install run test lint bench clean help demo

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hookline needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install hookline with its test tools

run: install  ## install, then serve on SQLite at http://127.0.0.1:8080
	@echo '(the hookline command: `. $(BIN)/activate` puts it on your PATH, in this shell or another)'
	$(BIN)/hookline serve

demo: install  ## install, then run `hookline demo`: simulated upstreams, hookline and a subscriber, in seconds
	$(BIN)/hookline demo

test: install  ## install, then run the whole test suite (PostgreSQL tests run when CI=true)
	$(BIN)/ruff check hookline receiver dispatcher upstream simulator tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: install  ## run the benchmarks and print figures against same-run baselines (a few minutes)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:  ## remove the virtualenv and local data
	rm -rf $(VENV) hookline-data .pytest_cache .mypy_cache .ruff_cache
