"""What MinIO should look like, built from Settings. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gourmetgram.names import SUBSCRIBED_EVENTS as EVENTS
from gourmetgram.names import TARGET_ID
from gourmetgram.names import WEBHOOK_ARN as ARN
from gourmetgram.settings import Settings

CONFIG_ID = "gourmetgram-classifier"


@dataclass(frozen=True)
class Subscription:
    bucket: str
    arn: str
    events: tuple[str, ...]
    config_id: str = CONFIG_ID


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


def desired(settings: Settings) -> Desired:
    return Desired(buckets=settings.buckets, subscription=Subscription(settings.bucket_incoming, ARN, EVENTS),
                   expiry=Expiry(settings.bucket_quarantine, settings.quarantine_expiry_days or None),
                   versioned=(settings.bucket_incoming,))


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
