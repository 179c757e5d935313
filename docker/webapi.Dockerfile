# syntax=docker/dockerfile:1
# The web API: `shoal webapi` (gunicorn) on port 8000, plus `shoal db upgrade`,
# `shoal db users create` and `shoal db api-keys create` for its database.
#
#   docker build -f docker/webapi.Dockerfile -t shoal-webapi .
#   docker run -p 8000:8000 -e DATABASE_URL=... -e SHOAL_JWT_PRIVATE_KEY_FILE=... shoal-webapi
#
# Listens on $SHOAL_WEBAPI_BIND (0.0.0.0:8000); gunicorn's own GUNICORN_CMD_ARGS
# (--bind=...) overrides it. If you move the port, set SHOAL_HEALTHCHECK_URL too.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY shoal_cli ./shoal_cli
COPY webapi ./webapi
COPY manager ./manager
COPY worker ./worker
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .
# Only the web API's extra: Flask, SQLAlchemy, psycopg2, gunicorn, boto3 (S3).
ARG EXTRAS=webapi
RUN python -m venv /opt/venv \
    && set -- /wheels/shoal-*.whl \
    && /opt/venv/bin/pip install --no-cache-dir "$1[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="shoal-webapi" \
      org.opencontainers.image.description="shoal's web API" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    SHOAL_WEBAPI_BIND=0.0.0.0:8000 \
    SHOAL_HEALTHCHECK_URL=http://127.0.0.1:8000/api/health
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --create-home --home-dir /home/shoal \
       --shell /usr/sbin/nologin shoal
COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/shoal-entrypoint
USER 10001:10001
WORKDIR /home/shoal
EXPOSE 8000
# 200 from /api/health means the database answers too; no curl in a slim image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(os.environ['SHOAL_HEALTHCHECK_URL'], timeout=4).status != 200)"]
ENTRYPOINT ["shoal-entrypoint"]
CMD ["webapi"]
