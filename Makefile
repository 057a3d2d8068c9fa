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

.PHONY: up test test-fast lint lock traces-ui typecheck asyncapi asyncapi-check infra demo-groq bench clean help \
	ui ui-check ui-openapi ui-screenshots chromium

help:
	@echo "make up        start Kafka, PostgreSQL, migrations and the four services (Ctrl-C stops)"
	@echo "make test      lint, types, contract check and the whole test suite"
	@echo "make test-fast the same without the slow fault-injection tests"
	@echo "make lint      ruff (lint + format check), mypy, and uv.lock agrees with pyproject.toml"
	@echo "make lock      rewrite uv.lock after a change of pyproject.toml"
	@echo "make asyncapi  regenerate docs/asyncapi.json from the event contracts"
	@echo "make infra     only Kafka and PostgreSQL, in the foreground"
	@echo "make demo-groq a fake Groq server on 127.0.0.1:8090 (demo without a Groq key)"
	@echo "make ui        build the settings UI (ui/, served by the config service under /ui/)"
	@echo "make ui-openapi regenerate ui/openapi/config.json (and the git-ignored ui/src/api/schema.d.ts)"
	@echo "make ui-screenshots run the browser tests and save the pages' screenshots in docs/ui/"
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

# The UI is built first when its sources changed; without npm the services still start.
up: $(STAMP)
	@$(MAKE) --no-print-directory ui || echo "settings UI not built (see above): /ui/ answers 503"
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

test: lint asyncapi-check ui-check ui chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: lint asyncapi-check ui-check ui chromium
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache ui/node_modules ui/dist

# -- the settings UI (ui/): Node.js and npm from the machine, packages from package-lock.json --
UI_STAMP := ui/node_modules/.installed
UI_SCHEMA := ui/src/api/schema.d.ts
UI_SOURCES := $(filter-out $(UI_SCHEMA),$(shell find ui/src ui/public -type f 2>/dev/null)) \
  $(UI_SCHEMA) ui/index.html ui/vite.config.ts ui/tsconfig.json
NPM_CHECK := command -v npm >/dev/null || { echo "the settings UI needs Node.js 20+ and npm (apt-get install nodejs npm)"; exit 2; }

$(UI_STAMP): ui/package.json ui/package-lock.json
	@$(NPM_CHECK)
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $(UI_STAMP)

# The API client's types: generated (git-ignored) from the config service's OpenAPI document,
# which the Python code writes (`make ui-openapi`) and `make ui-check` keeps fresh.
$(UI_SCHEMA): ui/openapi/config.json $(UI_STAMP)
	cd ui && npx openapi-typescript openapi/config.json -o src/api/schema.d.ts

ui/dist/index.html: $(UI_STAMP) $(UI_SOURCES)
	@echo "settings UI: sources changed, building ui/dist (served at /ui/ by the config service)"
	cd ui && npx vite build --logLevel warn
	@touch $@

ui: ui/dist/index.html

ui-openapi: $(STAMP) $(UI_STAMP)
	$(PY) -m services.config.entrypoints.openapi_doc
	@$(MAKE) --no-print-directory $(UI_SCHEMA)

# The OpenAPI document must match the config service, as docs/asyncapi.json must match the
# contracts; the types generated from it must type-check the UI; then lint and the unit tests.
ui-check: $(STAMP) $(UI_STAMP)
	$(PY) -m services.config.entrypoints.openapi_doc --check
	@$(MAKE) --no-print-directory $(UI_SCHEMA)
	cd ui && npm run --silent lint && npx tsc --noEmit && npx vitest run --reporter=dot

# Debian's Chromium for the browser tests (never a browser downloaded by a test tool).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 2; fi; }

ui-screenshots: $(STAMP) ui chromium
	UI_SCREENSHOTS=docs/ui $(VENV)/bin/pytest -q tests/browser $(PYTEST_ARGS)
