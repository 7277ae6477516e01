# The frontend and the one-shot configuration job (which also creates the JetStream stream: nats-py): no torch
# needed, so a small image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gourmetgram ./gourmetgram
COPY classifier_fn ./classifier_fn
COPY ingest ./ingest
COPY minio_config ./minio_config
RUN pip install --no-cache-dir flask==3.1.3 waitress==3.0.2 minio==7.2.20 pillow==13.0.0 \
        click==8.5.1 nats-py==2.16.0 && pip install --no-cache-dir --no-deps .
ENV BIND_HOST=0.0.0.0 WEB_PORT=5000
EXPOSE 5000
USER nobody
CMD ["gourmetgram", "serve-web"]
