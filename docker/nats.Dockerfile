# NATS server with JetStream, built from source at the version scripts/setup.sh pins (a test checks that they
# agree). nats-server v2.15 needs Go 1.26. Both images exist on Docker Hub and can be made without it
# (tests/deploy/docker_here.py); GO_IMAGE and BASE name others.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE=debian:bookworm-slim
FROM ${GO_IMAGE} AS build
ARG NATS_VERSION=v2.15.2
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out GOMODCACHE=/cache/mod GOCACHE=/cache/build
# `cacert` (optional build secret): a CA bundle for a network that intercepts TLS; caches as minio.Dockerfile.
RUN --mount=type=cache,target=/cache --mount=type=secret,id=cacert \
    sh -c 'if [ -f /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    go install github.com/nats-io/nats-server/v2@${NATS_VERSION}'

FROM ${BASE}
# curl for the healthcheck. The JetStream store belongs to nats: a new named volume takes its owner.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10003 nats \
    && useradd --system --uid 10003 --gid 10003 --home-dir /data --shell /usr/sbin/nologin nats \
    && mkdir -p /data && chown nats:nats /data
COPY --from=build /out/nats-server /usr/local/bin/
EXPOSE 4222 6222 8222
USER 10003:10003
ENTRYPOINT ["nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
