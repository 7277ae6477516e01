# MinIO community edition ships as source only: build the pinned server and mc with the Go toolchain.
# Keep these versions equal to scripts/setup.sh (a test checks that they agree). Both images exist on Docker
# Hub and can be made without it (tests/deploy/docker_here.py); GO_IMAGE and BASE name others.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE=debian:bookworm-slim
FROM ${GO_IMAGE} AS build
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
ARG MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out GOMODCACHE=/cache/mod GOCACHE=/cache/build
# `cacert` (optional build secret): a CA bundle for a network that intercepts TLS. The module and build caches
# are BuildKit cache mounts: a rebuild on this machine downloads and compiles only what changed.
RUN --mount=type=cache,target=/cache --mount=type=secret,id=cacert \
    sh -c 'if [ -f /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    go install github.com/minio/minio@${MINIO_VERSION} && go install github.com/minio/mc@${MC_VERSION}'

FROM ${BASE}
# curl for the healthchecks. The data and queue folders belong to minio: a new named volume takes their owner.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10002 minio \
    && useradd --system --uid 10002 --gid 10002 --home-dir /data --shell /usr/sbin/nologin minio \
    && mkdir -p /data /queue && chown minio:minio /data /queue
COPY --from=build /out/minio /out/mc /usr/local/bin/
EXPOSE 9000 9001
USER 10002:10002
ENTRYPOINT ["minio"]
CMD ["server", "/data", "--console-address", ":9001"]
