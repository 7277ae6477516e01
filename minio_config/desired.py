"""What MinIO should look like, built from Settings. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gourmetgram import bus, model_registry, names
from gourmetgram.names import SUBSCRIBED_EVENTS as EVENTS
from gourmetgram.names import TARGET_ID
from gourmetgram.names import WEBHOOK_ARN as ARN  # noqa: F401 (the default transport's ARN, for callers)
from gourmetgram.settings import Settings

OUR_ARNS = frozenset(names.TRANSPORT_ARNS.values())  # a rule of ours names one of these (one transport at a time)

CONFIG_ID = "gourmetgram-classifier"


@dataclass(frozen=True)
class Subscription:
    bucket: str
    arn: str
    events: tuple[str, ...]
    config_id: str = CONFIG_ID
    prefix: str | None = None  # only keys under it notify

    @property
    def others(self) -> frozenset[str]:
        """Our ARNs of the other transport: a rule naming one is removed (every photo would come twice)."""
        return OUR_ARNS - {self.arn}


# An alias change in `models` reaches the function through the same target as the photos' events, so a new
# champion is followed at once (the function also checks every 30 s, in case the event is lost). Only the
# aliases notify: adding a model file changes nothing the function serves. Every creation event counts here:
# the function never writes to `models`, so no event of this rule can come from the function itself.
MODELS_CONFIG_ID = "gourmetgram-model-aliases"
MODELS_EVENTS = ("s3:ObjectCreated:*",)
MODELS_PREFIX = "aliases/"

EXPIRY_RULE_ID = "gourmetgram-quarantine-expiry"


@dataclass(frozen=True)
class Expiry:
    bucket: str
    days: int | None  # None: no expiry rule of ours (keep forever)
    rule_id: str = EXPIRY_RULE_ID


@dataclass(frozen=True)
class Desired:
    buckets: tuple[str, ...]
    subscription: Subscription
    expiry: Expiry | None = None
    # Buckets with versioning on: in `incoming`, the function deletes exactly the version it read, in one
    # request (MinIO ignores If-Match on DeleteObject), so a newer upload under the same key survives.
    versioned: tuple[str, ...] = ()
    # Subscriptions besides the photos' one (the models bucket's aliases).
    more_subscriptions: tuple[Subscription, ...] = ()

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return (self.subscription, *self.more_subscriptions)


def desired(settings: Settings) -> Desired:
    return Desired(
        buckets=(*settings.buckets, model_registry.BUCKET),
        subscription=Subscription(settings.bucket_incoming, settings.transport_arn, EVENTS),
        expiry=Expiry(settings.bucket_quarantine, settings.quarantine_expiry_days or None),
        # `models`: a model file or an alias overwritten by mistake can be brought back (`mc cp --version-id`).
        versioned=(settings.bucket_incoming, model_registry.BUCKET),
        more_subscriptions=(
            Subscription(model_registry.BUCKET, settings.transport_arn, MODELS_EVENTS, MODELS_CONFIG_ID, MODELS_PREFIX),
        ),
    )


def webhook_env(settings: Settings, queue_dir: str | None) -> dict[str, str]:
    """The environment that makes a MinIO server load the webhook target at start."""
    env = {
        f"MINIO_NOTIFY_WEBHOOK_ENABLE_{TARGET_ID}": "on",
        f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{TARGET_ID}": settings.webhook_endpoint,
        f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{TARGET_ID}": settings.webhook_token,
    }
    if queue_dir:
        env[f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{TARGET_ID}"] = queue_dir
    return env


def nats_env(settings: Settings, address: str | None = None) -> dict[str, str]:
    """The environment that makes a MinIO server load the NATS target at start, publishing with JetStream (a
    publish returns once the stream has stored the event). `address` (host:port) defaults to the first of
    NATS_URL: MinIO takes one, and learns the rest of a cluster from it. Every node of a distributed MinIO must
    get the same values (MinIO refuses to form the cluster otherwise). No queue_dir: an event that cannot be
    published is dropped at once and the reconciler finds its photo, where a queue_dir would hold every event
    for MinIO's 3-second store loop."""
    return {
        f"MINIO_NOTIFY_NATS_ENABLE_{TARGET_ID}": "on",
        f"MINIO_NOTIFY_NATS_ADDRESS_{TARGET_ID}": address or bus.address(settings.nats_servers[0]),
        f"MINIO_NOTIFY_NATS_SUBJECT_{TARGET_ID}": names.STREAM_SUBJECT,
        f"MINIO_NOTIFY_NATS_JETSTREAM_{TARGET_ID}": "on",
        f"MINIO_NOTIFY_NATS_TOKEN_{TARGET_ID}": settings.effective_nats_token,
    }
