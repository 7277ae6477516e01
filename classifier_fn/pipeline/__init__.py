"""One photo from event to outcome: MinIO's events parsed, admission, the queue, the claim, the worker, the
nudges that wait for their photo, the reconciler and the start-up check."""
