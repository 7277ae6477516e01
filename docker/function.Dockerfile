# The classifier function: every pinned dependency of pyproject.toml (a test checks the list), torch on CPU,
# the model mounted from the host at /models. PyPI's torch wheel depends on NVIDIA's CUDA libraries: 3.2 GB of
# the image (about 5 GB), unused on CPU, but torch does not import without them (measured: libcublasLt not
# found). Its triton (0.9 GB, GPU kernels for torch.compile) is never loaded here, so it is removed in the
# same step, leaving no layer.
# Debian's own Python 3.11 in a venv, as web.Dockerfile (BASE names another Debian-like base).
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
    set -- torch==2.14.1 numpy==2.4.6 pillow==13.0.0 starlette==1.10.0 uvicorn==0.54.0 flask==3.1.3 waitress==3.0.2 \
        minio==7.2.20 prometheus-client==0.26.0 click==8.5.1 nats-py==2.16.0 matplotlib==3.11.2 pillow-heif==1.8.1; \
    pip download --disable-pip-version-check --quiet --dest /wheels "$@" \
    && pip install --disable-pip-version-check --no-index --find-links /wheels "$@" \
    && pip uninstall --yes triton'
# The project itself, last: a code change rebuilds this layer only. Bound, not copied: no source layer.
RUN --mount=type=bind,target=/src,rw --mount=type=cache,target=/wheels --mount=type=secret,id=cacert \
    sh -c 'if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    pip download --disable-pip-version-check --quiet --dest /wheels "setuptools>=68" \
    && pip install --disable-pip-version-check --no-deps --no-index --find-links /wheels /src'
# glibc's allocator as `up` sets it (gourmetgram_tools/spawn.py FUNCTION_MALLOC_ENV; a test checks they agree).
ENV BIND_HOST=0.0.0.0 FUNCTION_PORT=8080 MODEL_PATH=/models/food11.pth MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864 MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 8080
USER 10001:10001
CMD ["gourmetgram", "serve-fn"]
