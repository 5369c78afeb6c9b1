# syntax=docker/dockerfile:1
# The article-moderation service: `docker build -t article-moderation .`, then `docker run article-moderation`
# (runs `moderation run`; any other subcommand can be given instead, e.g. `... keygen --help`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: make the wheel and a venv holding it and its dependencies (no compilers reach the runtime) ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, from the lock file: exact versions, each file checked against its sha256 (`make lock`
# writes it from pyproject.toml). Editing code does not invalidate this layer.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY service ./service
# The service itself without dependencies: they are all in the venv already, at the locked versions.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl

# --- runtime: the venv, the default rules, a non-root user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODERATION_KEYS_DIR=/keys \
    MODERATION_HTTP_HOST=0.0.0.0 \
    MODERATION_HTTP_PORT=9108
# /keys, /signing, /review-signing and /accounts exist and belong to the user, so named volumes mounted there inherit that owner and
# keygen (same user) can write them while the key files keep strict modes.
RUN groupadd --system --gid 10001 moderation \
 && useradd --system --uid 10001 --gid moderation --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin moderation \
 && mkdir -p /app /keys /signing /review-signing /accounts \
 && chown moderation:moderation /keys /signing /review-signing /accounts \
 && chmod 700 /keys /signing /review-signing /accounts
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Default publish rules at /app/config/rules.yaml (MODERATION_RULES_PATH=config/rules.yaml, relative to /app).
COPY config/ /app/config/
USER 10001:10001
EXPOSE 9108
# Liveness from /healthz; the slim image has no curl, so the check uses the Python that is already there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MODERATION_HTTP_PORT', '9108') + '/healthz', timeout=4)"]
ENTRYPOINT ["moderation"]
CMD ["run"]
