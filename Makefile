# The two commands a newcomer needs: `make up` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: up test test-fast lint typecheck asyncapi asyncapi-check infra demo-groq bench clean help

help:
	@echo "make up        start Kafka, PostgreSQL, migrations and the four services (Ctrl-C stops)"
	@echo "make test      lint, types, contract check and the whole test suite"
	@echo "make test-fast the same without the slow fault-injection tests"
	@echo "make lint      ruff (lint + format check) and mypy"
	@echo "make asyncapi  regenerate docs/asyncapi.json from the event contracts"
	@echo "make infra     only Kafka and PostgreSQL, in the foreground"
	@echo "make demo-groq a fake Groq server on 127.0.0.1:8090 (demo without a Groq key)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

up: $(STAMP)
	$(PY) -m devstack.up

infra: $(STAMP)
	$(PY) -m devstack.infra start

demo-groq: $(STAMP)
	$(PY) -m fakes.groq --port 8090

# Benchmarks (not part of `make test`): docs/benchmarks.md; BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

asyncapi: $(STAMP)
	$(PY) -m shared.contracts.asyncapi

asyncapi-check: $(STAMP)
	$(PY) -m shared.contracts.asyncapi --check

test: lint asyncapi-check
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: lint asyncapi-check
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
