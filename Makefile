# jobs_ui: `make demo` runs the demo site, `make test` runs every check CI runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml means re-install.
STAMP := $(VENV)/.installed

# Prints the first Python >= 3.12: PATH first (python3.13, python3.12, python3,
# every PATH entry for each name), then $(pyenv root)/versions newest first.
# Each candidate is run, because a pyenv shim can exist and still fail.
FIND_PYTHON = \
	ok() { "$$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }; \
	IFS=: read -r -a dirs <<< "$${PATH:-}"; \
	for name in python3.13 python3.12 python3; do \
		for dir in "$${dirs[@]}"; do \
			cand="$${dir:-.}/$$name"; \
			if [ -x "$$cand" ] && ok "$$cand"; then echo "$$cand"; exit 0; fi; \
		done; \
	done; \
	root="$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}")"; \
	for cand in $$(ls -d "$$root"/versions/*/bin/python3 2>/dev/null | sort -r -V); do \
		if ok "$$cand"; then echo "$$cand"; exit 0; fi; \
	done; \
	exit 1

NO_PYTHON = \
	echo >&2 "error: no Python >= 3.12 found."; \
	echo >&2 "  Looked for python3.13, python3.12 and python3 on PATH, and in \$$(pyenv root)/versions."; \
	echo >&2 "  Install Python 3.12 or newer, then run make again, for example:"; \
	echo >&2 "    Debian 13 / Ubuntu 24.04:  apt-get install python3 python3-venv"; \
	echo >&2 "    pyenv:                     pyenv install 3.13"

.PHONY: help venv python demo demo-worker test lint chromium clean

help:
	@echo "make demo    run the demo site on http://127.0.0.1:8000/ (creates .venv, migrates, prints demo users)"
	@echo "make demo-worker  in a second terminal: a worker process for the demo's worker jobs"
	@echo "make test    lint, then pytest on PostgreSQL and SQLite, then the browser tests"
	@echo "make lint    ruff check, ruff format --check, mypy"
	@echo "make venv    create .venv and install the package with its test extra"
	@echo "make python  print the Python >= 3.12 that .venv would be created with"
	@echo "make clean   remove .venv, build output, caches and local databases"

python:
	@py="$$( $(FIND_PYTHON) )" || { $(NO_PYTHON); exit 1; }; \
	echo "$$py"; "$$py" -V

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -x $(BIN)/python ] && $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		echo "Using $(VENV) ($$($(BIN)/python -V))"; \
	else \
		py="$$( $(FIND_PYTHON) )" || { $(NO_PYTHON); exit 1; }; \
		echo "Creating $(VENV) with $$py ($$("$$py" -V))"; \
		rm -rf $(VENV); \
		"$$py" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,demo]"
	@touch $@

demo: venv
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/python manage.py migrate
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/python manage.py demo_users
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/python manage.py runserver 127.0.0.1:8000

# In a second terminal, beside `make demo`: a worker process for the demo's worker jobs.
demo-worker: venv
	DJANGO_SETTINGS_MODULE=demo.settings $(BIN)/python manage.py jobs_ui_worker --label demo-worker

# The browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" -eq 0 ]; then \
			echo "Installing Chromium (Debian package)"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo >&2 "error: /usr/bin/chromium is missing; install it with: sudo apt-get install -y chromium"; \
			exit 1; \
		fi; \
	fi

test: venv chromium
	@$(BIN)/python -V
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest
	JOBS_UI_TEST_DB=sqlite $(BIN)/pytest
	@# Browser journeys through the demo site (Debian's Chromium, headless); screenshots in artifacts/screenshots/.
	$(BIN)/pytest playwright/

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy jobs_ui tests demo

clean:
	rm -rf $(VENV) build dist artifacts test-results htmlcov .mypy_cache .ruff_cache .pytest_cache
	rm -f .coverage .coverage.* db.sqlite3 tests.sqlite3 test-*.sqlite3
	rm -rf *.sqlite3.jobs_ui-wakeups
	rm -rf *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
