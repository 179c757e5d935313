# syntax=docker/dockerfile:1
# HEAT_STRESS's image, the second way: an image of your own (here plain Debian with the C
# program; in practice the image your model already runs in) with shoal's worker
# installed by pip. It needs Python 3.11 or later and shoal[worker].
#
#   pip wheel --no-deps -w examples/heat-stress/wheels .      # at the repository's root
#   docker build -f examples/heat-stress/pip.Dockerfile -t shoal-heat-stress:0.1.0-pip \
#     examples/heat-stress
#
# With shoal on your package index, the wheel is not needed: pip install "shoal[worker]".

ARG BUILD_IMAGE=gcc:14.2.0-bookworm
ARG BASE_IMAGE=debian:12.10-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY dhw.c ./
RUN gcc -O2 -std=c11 -Wall -Wextra -static -o dhw dhw.c

FROM ${BASE_IMAGE}
# Debian's python3 (3.11), as the distribution patches it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY wheels/ /wheels/
RUN python3 -m venv /opt/shoal \
    && set -- /wheels/shoal-*.whl \
    && /opt/shoal/bin/pip install --no-cache-dir "$1[worker]" \
    && rm -rf /wheels
COPY --from=build /src/dhw /app/bin/dhw
COPY --chmod=0755 run.sh /app/run.sh
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin shoal
USER 10001:10001
WORKDIR /home/shoal
ENV PATH=/opt/shoal/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHOAL_JOB_TYPES=HEAT_STRESS
# The worker: the same command the manager gives shoal's own image.
ENTRYPOINT ["shoal"]
CMD ["worker"]
