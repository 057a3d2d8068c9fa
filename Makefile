# The two commands a newcomer needs: `make up` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# uv installs the venv from uv.lock (every transitive dependency, with hashes). Its version is
# the one pyproject.toml requires ([tool.uv] required-version); it lives in its own small venv
# under .cache/ because `uv sync` removes from .venv whatever the lock does not name.
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"$$/\1/p' pyproject.toml)
UV_DIR := .cache/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
export UV_PYTHON_DOWNLOADS := never
# Jaeger v2 for `make traces-ui`, built with the Go toolchain from the Go module proxy into
# .cache/ (once; several minutes). v1.75.0 is the Go module version of the Jaeger v2.12.0
# release: the module keeps its v1 tags because its path has no /v2.
JAEGER_VERSION := v1.75.0
JAEGER := .cache/jaeger-$(JAEGER_VERSION)/jaeger
GO_ENV := GOPATH=$(abspath .cache/go) GOCACHE=$(abspath .cache/go-build) GOFLAGS="$(GOFLAGS) -modcacherw" GOTOOLCHAIN=local
CHECK_PYTHON := $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=python3.11)")'

.PHONY: up test test-fast lint lock traces-ui typecheck asyncapi asyncapi-check infra demo-groq bench clean help

help:
	@echo "make up        start Kafka, PostgreSQL, migrations and the four services (Ctrl-C stops)"
	@echo "make test      lint, types, contract check and the whole test suite"
	@echo "make test-fast the same without the slow fault-injection tests"
	@echo "make lint      ruff (lint + format check), mypy, and uv.lock agrees with pyproject.toml"
	@echo "make lock      rewrite uv.lock after a change of pyproject.toml"
	@echo "make asyncapi  regenerate docs/asyncapi.json from the event contracts"
	@echo "make infra     only Kafka and PostgreSQL, in the foreground"
	@echo "make demo-groq a fake Groq server on 127.0.0.1:8090 (demo without a Groq key)"
	@echo "make traces-ui Jaeger (built once with Go) on 127.0.0.1:16686; a make up started after it sends spans there"

$(UV):
	@$(CHECK_PYTHON)
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Re-synced whenever pyproject.toml or uv.lock changes; --frozen: install the lock as it is,
# never re-resolve (`make lint` fails when the two disagree). --compile-bytecode: as pip did;
# with PYTHONDONTWRITEBYTECODE set nothing else writes .pyc, and every start of each service
# would compile its imports again (about twice as slow to import).
$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(CHECK_PYTHON)
	$(UV) sync --frozen --extra dev --compile-bytecode --python $(PYTHON) --quiet
	@touch $(STAMP)

lock: | $(UV)
	$(UV) lock

up: $(STAMP)
	$(PY) -m devstack.up

infra: $(STAMP)
	$(PY) -m devstack.infra start

demo-groq: $(STAMP)
	$(PY) -m fakes.groq --port 8090

# `go install module@version` refuses Jaeger (its go.mod has a replace directive), so the
# module is downloaded and built as the main module, in its own folder of the module cache.
$(JAEGER):
	@command -v go >/dev/null || { echo "make traces-ui needs the Go toolchain (go 1.24 or newer)"; exit 2; }
	$(GO_ENV) go mod download github.com/jaegertracing/jaeger@$(JAEGER_VERSION)
	@mkdir -p $(dir $(JAEGER))
	cd "$$($(GO_ENV) go mod download -json github.com/jaegertracing/jaeger@$(JAEGER_VERSION) | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
	  && $(GO_ENV) go build -trimpath -o $(abspath $(JAEGER)) ./cmd/jaeger

traces-ui: $(JAEGER) $(STAMP)
	$(PY) -m devstack.jaeger --binary $(JAEGER)

# Benchmarks (not part of `make test`): docs/benchmarks.md; BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(UV) lock --check --quiet
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
