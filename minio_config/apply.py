"""Applies a plan to a live MinIO. The one module besides the Store that talks to MinIO directly."""

from __future__ import annotations

import logging
from collections.abc import Callable

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.notificationconfig import NotificationConfig, QueueConfig

from gourmetgram.settings import Settings
from minio_config import current
from minio_config.desired import TARGET_ID, Desired, Expiry, Subscription, desired
from minio_config.plan import CreateBucket, SetExpiry, Step, Subscribe, plan

log = logging.getLogger(__name__)


class ConfigureError(Exception):
    """MinIO refused the configuration; the message says what to do."""


def configure(settings: Settings, echo: Callable[[str], None] = print, alias: str = "local",
              dry_run: bool = False, want: Desired | None = None) -> list[Step]:
    """Bring MinIO to the desired state (by default the one `settings` describe); a second run does nothing."""
    mc = current.client(settings)
    want = want or desired(settings)
    steps = plan(want, current.read(mc, want.buckets, want.expiry.bucket if want.expiry else None))
    if not steps:
        echo("MinIO already configured: nothing to do")
    for step in steps:
        echo(f"{'would ' if dry_run else ''}{step.describe()}\n  {step.mc(alias)}")
        if not dry_run:
            _apply(mc, step, settings)
    return steps


def _apply(mc: Minio, step: Step, settings: Settings) -> None:
    if isinstance(step, CreateBucket):
        try:
            mc.make_bucket(step.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    elif isinstance(step, Subscribe):
        _subscribe(mc, step.subscription, settings)
    elif isinstance(step, SetExpiry):
        _set_expiry(mc, step.expiry)


def _set_expiry(mc: Minio, expiry: Expiry) -> None:
    # The lifecycle document is replaced whole: keep every rule that is not ours.
    config = current.read_lifecycle(mc, expiry.bucket)
    rules = [r for r in (config.rules if config else []) if r.rule_id != expiry.rule_id]
    if expiry.days is not None:
        rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=expiry.rule_id,
                          expiration=Expiration(days=expiry.days)))
    if rules:
        mc.set_bucket_lifecycle(expiry.bucket, LifecycleConfig(rules))
    else:
        mc.delete_bucket_lifecycle(expiry.bucket)


def _subscribe(mc: Minio, sub: Subscription, settings: Settings) -> None:
    # PutBucketNotification replaces the whole document: keep every rule that is not ours.
    config = current.read_notification(mc, sub.bucket)
    others = [q for q in config.queue_config_list if q.queue != sub.arn]
    ours = QueueConfig(queue=sub.arn, events=list(sub.events), config_id=sub.config_id)
    merged = NotificationConfig(cloud_func_config_list=config.cloud_func_config_list,
                                queue_config_list=others + [ours], topic_config_list=config.topic_config_list)
    try:
        mc.set_bucket_notification(sub.bucket, merged)
    except S3Error as exc:
        if "ARN" in str(exc.message) or exc.code == "InvalidArgument":
            raise ConfigureError(
                f"MinIO has no webhook target {sub.arn}. Start MinIO with\n"
                f"  MINIO_NOTIFY_WEBHOOK_ENABLE_{TARGET_ID}=on\n"
                f"  MINIO_NOTIFY_WEBHOOK_ENDPOINT_{TARGET_ID}={settings.webhook_endpoint}\n"
                f"  MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{TARGET_ID}=<WEBHOOK_TOKEN>\n"
                f"  MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{TARGET_ID}=/data/.webhook-queue\n"
                f"or run `mc admin config set local notify_webhook:{TARGET_ID} endpoint=... auth_token=... "
                f"queue_dir=...` and `mc admin service restart local`, then configure again.\n"
                f"MinIO said: {exc.message}") from exc
        raise
