"""Every Prometheus metric of the function, defined once, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhook = Counter(
            "gourmetgram_webhook_requests_total", "Webhook requests by result", ["result"], registry=r
        )
        self.nudge = Counter(
            "gourmetgram_nudge_requests_total", "Nudges from the frontend by result", ["result"], registry=r
        )
        self.nudge_held = Counter(
            "gourmetgram_nudge_held_total",
            "Waiting nudges by how their photo's item ended (timeout: not within the wait)",
            ["finished"],
            registry=r,
        )
        self.items = Counter(
            "gourmetgram_items_total", "Items worked, by final status and lane", ["status", "lane"], registry=r
        )
        self.batch_size = Histogram(
            "gourmetgram_batch_size", "Images per forward pass", buckets=(1, 2, 4, 8, 16, 32), registry=r
        )
        self.batch_seconds = Histogram("gourmetgram_batch_seconds", "Forward pass duration", registry=r)
        self.latency = Histogram(
            "gourmetgram_upload_to_outcome_seconds",
            "Upload to done record",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.queue_depth = Gauge("gourmetgram_queue_depth", "Items waiting, by lane", ["lane"], registry=r)
        self.s3_requests = Counter(
            "gourmetgram_s3_requests_total", "S3 requests sent by the function", ["operation"], registry=r
        )
        self.jetstream = Counter(
            "gourmetgram_jetstream_messages_total", "Stream messages settled, by how", ["settled"], registry=r
        )
        self.reconciled = Counter("gourmetgram_reconciler_queued_total", "Objects queued by the reconciler", registry=r)
        self.registry_requests = Counter(
            "gourmetgram_model_registry_requests_total",
            "S3 requests of the model follower (aliases read, models fetched), apart from the photos'",
            ["operation"],
            registry=r,
        )
        self.model_swaps = Counter(
            "gourmetgram_model_swaps_total", "Models swapped in between batches, by alias", ["alias"], registry=r
        )
        self.models_refused = Counter(
            "gourmetgram_models_refused_total", "Models that failed their check and never served", ["alias"], registry=r
        )
        self.shadow = Counter(
            "gourmetgram_shadow_predictions_total",
            "Photos of the challenger's shadow, by what became of them (labelled; over_backlog and outside_share: "
            "left out by the budget; failed)",
            ["result"],
            registry=r,
        )

    def on_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def on_shadow(self, result: str, count: int) -> None:
        self.shadow.labels(result=result).inc(count)
