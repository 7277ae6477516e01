"""MinIO's desired state for GourmetGram (buckets, webhook subscription), planned and applied idempotently."""
