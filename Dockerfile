# The Watchman's image for docker-compose.yml: one image, the role is the command
# (`produce`, `worker`, `project`, or `run` for the embedded daemon).
#
# Build stage: systemd-python is a C extension (journald reader) and needs gcc, pkg-config and the
# libsystemd headers; they stay here, the runtime image only gets the built wheels.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc pkg-config libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY producers producers
COPY processors processors
COPY projections projections
COPY watchman watchman
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsystemd0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels the-watchman && rm -rf /wheels
# Not root: the producer reads host logs mounted read-only (world-readable, as apt and dpkg write
# them); the data directory is a volume that this user owns.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/watchman --create-home watchman
ENV WATCHMAN_DATA_DIR=/var/lib/watchman \
    PYTHONUNBUFFERED=1
USER watchman
WORKDIR /var/lib/watchman
VOLUME ["/var/lib/watchman"]
# 9650 `run`, 9651 `produce`, 9652 `worker`, 9653 `project`: the admin API (/health, /admin/metrics)
EXPOSE 9650 9651 9652 9653
ENTRYPOINT ["watchman"]
CMD ["--help"]
