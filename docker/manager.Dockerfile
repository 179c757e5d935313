# syntax=docker/dockerfile:1
# The manager: `shoal manager` scales workers with the queue. Carries only
# shoal[manager] (boto3 for ECS, prometheus-client): no Flask, SQLAlchemy or psycopg2.
#
#   docker build -f docker/manager.Dockerfile -t shoal-manager .
#
# On the local compute backend the manager starts workers as its own child
# processes (`shoal worker` on the same Python), so that image needs the worker's
# extra as well:
#
#   docker build -f docker/manager.Dockerfile --build-arg EXTRAS=manager,worker \
#     -t shoal-manager-local .
#
# Run it with an init (`docker run --init`, compose `init: true`) so that exited
# workers are reaped even if the manager dies first.

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
ARG EXTRAS=manager
RUN python -m venv /opt/venv \
    && set -- /wheels/shoal-*.whl \
    && /opt/venv/bin/pip install --no-cache-dir "$1[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="shoal-manager" \
      org.opencontainers.image.description="shoal's worker autoscaler" \
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
CMD ["manager"]
