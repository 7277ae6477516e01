"""Reads what MinIO has now: buckets and the queue subscriptions of each bucket."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error
from minio.notificationconfig import NotificationConfig

from gourmetgram.settings import Settings


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


def read(mc: Minio, buckets: tuple[str, ...]) -> Current:
    existing = frozenset(b.name for b in mc.list_buckets())
    rules = {b: rules_of(read_notification(mc, b)) for b in buckets if b in existing}
    return Current(existing, rules)
