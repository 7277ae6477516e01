# The classifier function: torch (CPU is enough), the model mounted from the host at /models.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gourmetgram ./gourmetgram
COPY classifier_fn ./classifier_fn
COPY ingest ./ingest
COPY minio_config ./minio_config
RUN pip install --no-cache-dir .
# glibc's allocator as `up` sets it (gourmetgram/cli/spawn.py FUNCTION_MALLOC_ENV; a test checks they agree).
ENV BIND_HOST=0.0.0.0 FUNCTION_PORT=8080 MODEL_PATH=/models/food11.pth MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864
EXPOSE 8080
USER nobody
CMD ["gourmetgram", "serve-fn"]
