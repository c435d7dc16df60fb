# ddas-worker container image (multi-stage).
#
#   docker build -t ddas-worker .                              # the runtime image
#   docker build --target testkit -t ddas-worker-testkit .     # CBS stub + openssl
#
# Stages:
#   build    Debian 12 with the -dev packages; compiles ddas-worker and the
#            CBS stub (Release).
#   base     debian:12-slim with the runtime libraries only, the shipped DDAS
#            schemas and the unprivileged user ddas (uid/gid 10001).
#   testkit  base + the CBS stub (tests/stubs/cbs-stub) + openssl, bash and
#            curl: the test PKI (tests/pki/make-pki) and the stub of
#            docker-compose.yml. Test tooling: never deploy it.
#   runtime  base + ddas-worker. The last stage, so the default target.
#
# No HEALTHCHECK: the image has no HTTP client on purpose. Probe the admin
# endpoint from outside instead (admin.listen, GET /healthz and /readyz):
# Kubernetes httpGet probes, or see deploy/README.md for compose.

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
# .dockerignore keeps build directories, bench/data and .git out
COPY . .
# DDAS_TESTS=ON because the CBS stub is part of the tests; only the two
# programs are built. The compiled-in schema directory is where the image
# keeps them (DDAS_SCHEMA_DIR below says the same at run time).
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDDAS_TESTS=ON \
      -DDDAS_SCHEMA_DIR=/usr/share/ddas-worker/schemas \
 && cmake --build /build -j"$(nproc)" --target ddas-worker cbs-stub

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
# the official DDAS schemas, loaded at run time (a new DDAS version is a new
# file here)
COPY config/schemas/ /usr/share/ddas-worker/schemas/
ENV DDAS_SCHEMA_DIR=/usr/share/ddas-worker/schemas

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
COPY --from=build /build/ddas-worker /usr/local/bin/ddas-worker
# the configuration is mounted here (worker.conf; no secrets in it: use
# *_file keys or DDAS_* variables for those)
RUN mkdir -p /etc/ddas-worker
USER 10001:10001
# admin endpoint (admin.listen = 0.0.0.0:9464): /healthz, /readyz, /metrics
EXPOSE 9464
# SIGTERM drains: the current delivery is finished or abandoned, durable
# offsets are committed, the worker leaves the group and exits 0
STOPSIGNAL SIGTERM
ENTRYPOINT ["ddas-worker"]
CMD ["run", "-c", "/etc/ddas-worker/worker.conf"]
