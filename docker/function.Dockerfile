# The classifier function: torch (CPU is enough), the model mounted from the host at /models.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gourmetgram ./gourmetgram
COPY classifier_fn ./classifier_fn
COPY ingest ./ingest
COPY minio_config ./minio_config
RUN pip install --no-cache-dir .
# Few malloc arenas: worker threads decoding big photos otherwise fragment memory into gigabytes.
ENV BIND_HOST=0.0.0.0 FUNCTION_PORT=8080 MODEL_PATH=/models/food11.pth MALLOC_ARENA_MAX=2
EXPOSE 8080
USER nobody
CMD ["gourmetgram", "serve-fn"]
