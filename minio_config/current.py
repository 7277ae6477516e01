"""Reads what MinIO has now: buckets and the queue subscriptions of each bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error
from minio.lifecycleconfig import LifecycleConfig
from minio.notificationconfig import NotificationConfig

from gourmetgram.settings import Settings
from minio_config.desired import EXPIRY_RULE_ID


@dataclass(frozen=True)
class QueueRule:
    arn: str
    events: tuple[str, ...]
    config_id: str | None
    prefix: str | None
    suffix: str | None


@dataclass(frozen=True)
class Current:
    buckets: frozenset[str]
    rules: dict[str, tuple[QueueRule, ...]]  # bucket -> its queue (webhook) rules
    expiry_days: dict[str, int | None] = field(default_factory=dict)  # bucket -> days of our rule, if any


def client(settings: Settings) -> Minio:
    url = urlsplit(settings.minio_url)
    return Minio(url.netloc, access_key=settings.minio_user, secret_key=settings.minio_password,
                 secure=url.scheme == "https")


def read_notification(mc: Minio, bucket: str) -> NotificationConfig:
    try:
        return mc.get_bucket_notification(bucket)
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            return NotificationConfig()
        raise


def rules_of(config: NotificationConfig) -> tuple[QueueRule, ...]:
    return tuple(
        QueueRule(q.queue or "", tuple(q.events), q.config_id,
                  q.prefix_filter_rule.value if q.prefix_filter_rule else None,
                  q.suffix_filter_rule.value if q.suffix_filter_rule else None)
        for q in config.queue_config_list
    )


def read_lifecycle(mc: Minio, bucket: str) -> LifecycleConfig | None:
    try:
        return mc.get_bucket_lifecycle(bucket)
    except S3Error as exc:
        if exc.code in ("NoSuchBucket", "NoSuchLifecycleConfiguration"):
            return None
        raise


def expiry_days(config: LifecycleConfig | None, rule_id: str) -> int | None:
    for rule in config.rules if config else []:
        if rule.rule_id == rule_id and rule.expiration is not None:
            return rule.expiration.days
    return None


def read(mc: Minio, buckets: tuple[str, ...], expiry_bucket: str | None = None) -> Current:
    existing = frozenset(b.name for b in mc.list_buckets())
    rules = {b: rules_of(read_notification(mc, b)) for b in buckets if b in existing}
    days = {}
    if expiry_bucket and expiry_bucket in existing:
        days[expiry_bucket] = expiry_days(read_lifecycle(mc, expiry_bucket), EXPIRY_RULE_ID)
    return Current(existing, rules, days)
