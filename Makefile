# The two commands in README.md: `make run` (product with demo data) and `make test`.
# Both install what they need into .venv first. Python 3.12 (pgserver ships 3.12 wheels).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON_FOR_VENV ?= $(shell for candidate in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	if $$candidate -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then command -v $$candidate || echo $$candidate; break; fi; done)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install install-dev run test test-fast lint format bench messages test-deps clean-var

$(BIN)/uv:
	@test -n "$(PYTHON_FOR_VENV)" || { echo "Python 3.12 is needed (python3.12 on PATH or under pyenv)."; exit 1; }
	$(PYTHON_FOR_VENV) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

install: $(BIN)/uv
	$(BIN)/uv sync --frozen --inexact --no-dev --python $(BIN)/python --quiet

install-dev: $(BIN)/uv
	$(BIN)/uv sync --frozen --inexact --python $(BIN)/python --quiet

run: install
	$(BIN)/python -m config.launcher

# Debian's chromium drives the browser tests (Playwright cannot download its own here);
# the upload tests scan files with a real clamd (given a local EICAR signature, no download).
test-deps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v clamd >/dev/null || test -x /usr/sbin/clamd || missing="$$missing clamav-daemon"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

test: install-dev test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-dev
	$(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: install-dev
	DEBUG=true $(BIN)/python manage.py makemessages -l sv --ignore=.venv --ignore=var
	DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv

bench: install-dev
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench

clean-var:
	rm -rf var
