# ddas-worker container image (multi-stage).
#
#   docker build -t ddas-worker \
#     --build-arg DDAS_REVISION="$(git describe --tags --always --dirty)" \
#     --build-arg DDAS_SOURCE_URL="$(git remote get-url origin)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" .
#   docker build --target testkit -t ddas-worker-testkit .     # CBS stub + openssl
#
# Stages:
#   build    Debian 12 with the -dev packages; compiles ddas-worker and the
#            CBS stub (Release) and installs ddas-worker with the project's
#            own install rules (cmake --install, prefix /usr, /etc) into
#            /stage: the same files, in the same places, as the package.
#   base     debian:12-slim with the runtime libraries only and the
#            unprivileged user ddas (uid/gid 10001).
#   testkit  base + the CBS stub (tests/stubs/cbs-stub) + openssl, bash and
#            curl: the test PKI (tests/pki/make-pki) and the stub of
#            docker-compose.yml. Test tooling: never deploy it.
#   runtime  base + the installed tree of ddas-worker (/usr/bin/ddas-worker,
#            /usr/share/ddas-worker/schemas, the example
#            /etc/ddas-worker/worker.conf). The last stage, so the default.
#
# Reproducible: SOURCE_DATE_EPOCH (the last commit's time) is the time of
# every installed file and, with BuildKit, of the image; nothing built
# records the build time. The commit comes in as DDAS_REVISION, since .git
# stays out of the build context (.dockerignore).
#
# HEALTHCHECK: `ddas-worker healthcheck` asks the worker's own admin
# endpoint (admin.listen of the configuration, GET /healthz); the image
# needs no HTTP client for it.

ARG SOURCE_DATE_EPOCH=0
ARG DDAS_VERSION=0.1.0
ARG DDAS_REVISION=unknown
ARG DDAS_SOURCE_URL=

# ---- build -------------------------------------------------------------------
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libjansson-dev libssl-dev libcurl4-openssl-dev librdkafka-dev \
      libmicrohttpd-dev \
      libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore keeps build directories, bench data and .git out
COPY . .
ARG SOURCE_DATE_EPOCH
ARG DDAS_REVISION
ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} DDAS_GIT_DESCRIBE=${DDAS_REVISION}
# DDAS_TESTS=ON because the CBS stub is part of the tests; only the two
# programs and the (compressed) man pages are built: cmake --install needs
# every file it installs built first. The install puts ddas-worker where
# the package does.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDDAS_TESTS=ON \
      -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc \
 && cmake --build /build -j"$(nproc)" --target ddas-worker cbs-stub man-pages \
 && DESTDIR=/stage cmake --install /build \
 && find /stage -exec touch -h -d "@${SOURCE_DATE_EPOCH}" {} +

# ---- base: what both run-time images share -------------------------------------
FROM debian:12-slim AS base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libjansson4 libssl3 libcurl4 librdkafka1 libmicrohttpd12 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ddas \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin ddas

# ---- testkit: the CBS stub and the test PKI generator (compose only) ------------
FROM base AS testkit
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openssl curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/cbs-stub \
 && chown 10001:10001 /var/lib/cbs-stub
COPY --from=build /build/tests/stubs/cbs-stub /usr/local/bin/cbs-stub
USER 10001:10001
CMD ["cbs-stub", "--help"]

# ---- runtime: ddas-worker (default target) ----------------------------------
FROM base AS runtime
ARG DDAS_VERSION
ARG DDAS_REVISION
ARG DDAS_SOURCE_URL
LABEL org.opencontainers.image.title="ddas-worker" \
      org.opencontainers.image.description="Delivers Dutch debt-assistance data (DDAS) from Kafka to CBS" \
      org.opencontainers.image.version="${DDAS_VERSION}" \
      org.opencontainers.image.revision="${DDAS_REVISION}" \
      org.opencontainers.image.source="${DDAS_SOURCE_URL}" \
      org.opencontainers.image.licenses="EUPL-1.2"
# the installed tree: program, schemas (found relative to the program),
# example configuration, man pages, licence
COPY --from=build /stage/ /
# the configuration is mounted over /etc/ddas-worker/worker.conf (no
# secrets in it: use *_file keys or DDAS_* variables for those)
USER 10001:10001
# admin endpoint (admin.listen = 0.0.0.0:9464): /healthz, /readyz, /metrics
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["ddas-worker", "healthcheck", "-c", "/etc/ddas-worker/worker.conf"]
# SIGTERM drains: the current delivery is finished or abandoned, durable
# offsets are committed, the worker leaves the group and exits 0
STOPSIGNAL SIGTERM
ENTRYPOINT ["ddas-worker"]
CMD ["run", "-c", "/etc/ddas-worker/worker.conf"]
