# The frontend and the one-shot configuration job (`configure`, which also creates the JetStream stream): every
# pinned dependency of pyproject.toml but torch (a test checks the list), so a small image.
# Debian's own Python 3.11 in a venv: `debian:bookworm-slim` exists on Docker Hub and can be made without it
# (tests/deploy/docker_here.py: debootstrap). BASE names another Debian-like base.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && groupadd --system --gid 10001 gourmetgram \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin gourmetgram
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# `cacert` (optional build secret): a CA bundle for a network that intercepts TLS; absent, pip uses its own.
# The wheels are kept in a BuildKit cache mount (pip's own HTTP cache cannot be relied on: some registries'
# answers forbid caching): a rebuild of this step on the same machine downloads only wheels it lacks.
RUN --mount=type=cache,target=/wheels --mount=type=secret,id=cacert \
    sh -c 'if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    set -- numpy==2.4.6 pillow==13.0.0 starlette==1.10.0 uvicorn==0.54.0 flask==3.1.3 waitress==3.0.2 \
        minio==7.2.20 prometheus-client==0.26.0 click==8.5.1 nats-py==2.16.0 matplotlib==3.11.2 pillow-heif==1.8.1; \
    pip download --disable-pip-version-check --quiet --dest /wheels "$@" \
    && pip install --disable-pip-version-check --no-index --find-links /wheels "$@"'
# The project itself, last: a code change rebuilds this layer only. Bound, not copied: no source layer.
RUN --mount=type=bind,target=/src,rw --mount=type=cache,target=/wheels --mount=type=secret,id=cacert \
    sh -c 'if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    pip download --disable-pip-version-check --quiet --dest /wheels "setuptools>=68" \
    && pip install --disable-pip-version-check --no-deps --no-index --find-links /wheels /src'
ENV BIND_HOST=0.0.0.0 WEB_PORT=5000 MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 5000
USER 10001:10001
CMD ["gourmetgram", "serve-web"]
