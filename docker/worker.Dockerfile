# syntax=docker/dockerfile:1
# A worker: `shoal worker` claims jobs from the web API, runs them, uploads the files.
# Carries only shoal[worker] (boto3, geographiclib): no Flask, SQLAlchemy or psycopg2.
#
#   docker build -f docker/worker.Dockerfile -t shoal-worker .
#   docker run -e SHOAL_API_URL=... -e SHOAL_API_KEY=... shoal-worker worker --job-types TEST
#
# It is also the base image for your own job types (see docs/custom-job-types.md):
# a package that registers `shoal.job_types` (the spec) and `shoal.handlers` (the
# code) entry points, installed into the image's virtualenv:
#
#   FROM shoal-worker:0.1.0
#   USER root
#   COPY reef-jobs /src/reef-jobs
#   RUN pip install --no-cache-dir /src/reef-jobs && rm -rf /src/reef-jobs
#   USER 10001:10001
#   ENV SHOAL_JOB_TYPES=SUITABILITY
#
# (`pip` is the virtualenv's, first on PATH; the virtualenv belongs to root, so the
# install runs as root and the worker goes back to the unprivileged user.)

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
ARG EXTRAS=worker
RUN python -m venv /opt/venv \
    && set -- /wheels/shoal-*.whl \
    && /opt/venv/bin/pip install --no-cache-dir "$1[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="shoal-worker" \
      org.opencontainers.image.description="shoal's job runner, and the base of custom job images" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --create-home --home-dir /home/shoal \
       --shell /usr/sbin/nologin shoal
COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/shoal-entrypoint
USER 10001:10001
WORKDIR /home/shoal
ENTRYPOINT ["shoal-entrypoint"]
CMD ["worker"]
