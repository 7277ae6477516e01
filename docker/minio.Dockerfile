# MinIO community edition ships as source only: build the pinned server and mc with the Go toolchain.
# Keep these versions equal to scripts/setup.sh (a test checks that they agree).
FROM golang:1.24-bookworm AS build
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
ARG MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=/out
RUN go install github.com/minio/minio@${MINIO_VERSION} && go install github.com/minio/mc@${MC_VERSION}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/minio /out/mc /usr/local/bin/
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
CMD ["server", "/data", "--console-address", ":9001"]
