# syntax=docker/dockerfile:1
# One image for the four services and the bootstrap step:
#   python -m services.gateway | services.identity | services.responder | services.config | services.media
#   python -m shared.bootstrap   (migrations + Kafka topics, one-shot, before the services)
# Build:  docker build -t whatsapp-ai-reply:dev .
# The base is pinned by tag and by the digest of its multi-architecture index: a rebuilt tag
# changes nothing here until the digest is updated on purpose (rebuild regularly for fixes).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# Node for the settings UI's build stage only (nothing of it reaches the runtime image).
# Pinned by exact tag; add its digest (@sha256:…) at the first build on a Docker engine, as
# for PYTHON_IMAGE above (no engine runs where this stage was written).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---------------------------------------------------------------------------------------
# ui: the settings UI built from package-lock.json; only ui/dist is copied on
# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/index.html ui/vite.config.ts ui/tsconfig.json ./
COPY ui/src ./src
# The API client's types are generated, not committed (make ui-openapi writes the document).
COPY ui/openapi ./openapi
RUN npx openapi-typescript openapi/config.json -o src/api/schema.d.ts && npx vite build

# ---------------------------------------------------------------------------------------
# builder: a virtualenv with the runtime dependencies only (never the `dev` extra)
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1

WORKDIR /build
# Only pyproject.toml and uv.lock: this layer (the slow one) is rebuilt when dependencies
# change, not when code changes. uv is the version pyproject.toml requires; `uv sync --frozen`
# installs exactly the locked set (hash-checked) of `[project].dependencies`, without the
# project itself (--no-install-project) and without any extra (so never `dev`).
COPY pyproject.toml uv.lock ./
RUN pip install --no-cache-dir "uv==$(python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['tool']['uv']['required-version'].lstrip('='))")" \
 && uv sync --frozen --no-install-project --no-editable --python /usr/local/bin/python

# ---------------------------------------------------------------------------------------
# runtime: the venv, the code, a non-root user; no compilers, no dev tools
# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="whatsapp-ai-reply" \
      org.opencontainers.image.description="Multi-tenant WhatsApp AI-reply services (gateway, identity, responder, config, media)"

# PYTHONPATH=/app: the code runs from the source tree (not pip-installed) because
# shared.bootstrap finds alembic.ini and migrations/ next to the `shared` package.
# HOME=/tmp: the root filesystem is read-only in production; /tmp is a writable volume.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    LOG_FORMAT=json

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY shared ./shared
COPY services ./services
# The settings UI's static files, served by the config service under /ui/.
COPY --from=ui /ui/dist ./ui/dist
# Byte-compile at build time: at run time the filesystem is read-only.
RUN python -m compileall -q /app

USER 10001:10001

# gateway, config, identity (ops only), responder (ops only), media (ops only)
EXPOSE 8000 8001 8002 8003 8004

# No HEALTHCHECK: each service listens on its own port; docker-compose.yml and the
# Kubernetes probes check /readyz and /healthz of the service they run.
CMD ["python", "-m", "services.gateway"]
