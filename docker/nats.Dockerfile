# NATS server with JetStream, built from source at the version scripts/setup.sh pins (a test checks that they
# agree). nats-server v2.15 needs Go 1.26.
FROM golang:1.26-bookworm AS build
ARG NATS_VERSION=v2.15.2
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out
RUN go install github.com/nats-io/nats-server/v2@${NATS_VERSION}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/nats-server /usr/local/bin/
EXPOSE 4222 6222 8222
ENTRYPOINT ["nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
