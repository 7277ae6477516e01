"""One photo from event to outcome: MinIO's events parsed, admission, the queue, the claim, the worker, held
nudges, the reconciler and the start-up check."""
