"""Applies a plan to a live MinIO: bucket configuration and admin calls, with root credentials. Besides the
Store, only `minio_config` sends requests to MinIO (`current` reads, this module writes)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import MinioAdminException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.minioadmin import MinioAdmin
from minio.notificationconfig import NotificationConfig, PrefixFilterRule, QueueConfig
from minio.versioningconfig import VersioningConfig

from gourmetgram import names
from gourmetgram.settings import Settings, SettingsError
from minio_config import current
from minio_config.config_error import MinioConfigError
from minio_config.desired import TARGET_ID, Desired, Expiry, Subscription, desired
from minio_config.identities import identities
from minio_config.plan import (
    AttachPolicy,
    CreateBucket,
    EnableVersioning,
    PutPolicy,
    SetExpiry,
    SetUser,
    Step,
    Subscribe,
    plan,
    plan_identities,
)
from minio_config.stream_apply import NatsUnavailable, StreamConflict, configure_stream

log = logging.getLogger(__name__)


class ConfigureError(MinioConfigError):
    """MinIO refused the configuration; the message says what to do."""


def configure(
    settings: Settings,
    echo: Callable[[str], None] = print,
    alias: str = "local",
    dry_run: bool = False,
    want: Desired | None = None,
) -> list:
    """Bring MinIO (and with EVENT_TRANSPORT=jetstream, the stream and its consumer in NATS) to the desired state
    (by default the one `settings` describe); a second run does nothing. Returns the steps taken."""
    try:
        wanted_identities = identities(settings)
    except SettingsError as exc:
        raise ConfigureError(str(exc)) from None
    mc = current.client(settings)
    adm = current.admin(settings)
    try:  # the admin reads first: with a component's credentials, this is where it says "root needed"
        have = {i.component: current.read_identity(adm, settings, i) for i in wanted_identities}
    except MinioAdminException as exc:
        if _denied(exc):
            raise _admin_refused(exc, settings) from None
        raise
    want = want or desired(settings)
    steps = plan(want, current.read(mc, want.buckets, want.expiry.bucket if want.expiry else None, want.versioned))
    steps += plan_identities(wanted_identities, have)
    # The stream first: MinIO publishes into it as soon as the subscription exists.
    stream_steps = _configure_stream(settings, echo, dry_run) if settings.jetstream else []
    if not steps and not stream_steps:
        echo("MinIO already configured: nothing to do" + (" (nor in NATS)" if settings.jetstream else ""))
    for step in steps:
        echo(f"{'would ' if dry_run else ''}{step.describe()}\n  {step.mc(alias)}")
        if not dry_run:
            _apply(mc, adm, step, settings)
    return [*stream_steps, *steps]


def _configure_stream(settings: Settings, echo: Callable[[str], None], dry_run: bool) -> list:
    try:
        return configure_stream(settings, echo, dry_run)
    except (NatsUnavailable, StreamConflict) as exc:
        raise ConfigureError(str(exc)) from None


def _denied(exc: MinioAdminException) -> bool:
    return current.admin_error_code(exc) in (
        "AccessDenied",
        "XMinioAdminNoAccess",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    )


def _admin_refused(exc: MinioAdminException, settings: Settings) -> ConfigureError:
    return ConfigureError(
        f"MinIO refused an admin call to user {settings.minio_user!r} ({current.admin_error_code(exc)}): "
        f"`configure` creates the components' users and policies, so it needs MinIO's root credentials in "
        f"MINIO_USER/MINIO_PASSWORD (the components' own identities cannot do this, by design)"
    )


def _apply(mc: Minio, adm: MinioAdmin, step: Step, settings: Settings) -> None:
    if isinstance(step, (PutPolicy, SetUser, AttachPolicy)):
        try:
            _apply_identity(adm, step)
        except MinioAdminException as exc:
            if _denied(exc):
                raise _admin_refused(exc, settings) from None
            raise
    elif isinstance(step, CreateBucket):
        try:
            mc.make_bucket(step.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    elif isinstance(step, EnableVersioning):
        mc.set_bucket_versioning(step.bucket, VersioningConfig(ENABLED))
    elif isinstance(step, Subscribe):
        _subscribe(mc, step.subscription, settings)
    elif isinstance(step, SetExpiry):
        _set_expiry(mc, step.expiry)


def _apply_identity(adm: MinioAdmin, step: PutPolicy | SetUser | AttachPolicy) -> None:
    i = step.identity
    if isinstance(step, PutPolicy):
        adm.policy_add(i.policy_name, policy=i.policy)  # replaces a policy of that name
    elif isinstance(step, SetUser):
        adm.user_add(i.user, i.password)  # also enables it; its attached policies stay
    else:
        if step.detach:
            adm.detach_policy(list(step.detach), user=i.user)
        if step.attach:
            try:
                adm.attach_policy([i.policy_name], user=i.user)
            except MinioAdminException as exc:  # attached meanwhile (another configure): nothing to do
                if current.admin_error_code(exc) != "XMinioAdminPolicyChangeAlreadyApplied":
                    raise


def _set_expiry(mc: Minio, expiry: Expiry) -> None:
    # The lifecycle document is replaced whole: keep every rule that is not ours.
    config = current.read_lifecycle(mc, expiry.bucket)
    rules = [r for r in (config.rules if config else []) if r.rule_id != expiry.rule_id]
    if expiry.days is not None:
        rules.append(
            Rule(
                ENABLED, rule_filter=Filter(prefix=""), rule_id=expiry.rule_id, expiration=Expiration(days=expiry.days)
            )
        )
    if rules:
        mc.set_bucket_lifecycle(expiry.bucket, LifecycleConfig(rules))
    else:
        mc.delete_bucket_lifecycle(expiry.bucket)


def _subscribe(mc: Minio, sub: Subscription, settings: Settings) -> None:
    # PutBucketNotification replaces the whole document: keep every rule that is not ours.
    config = current.read_notification(mc, sub.bucket)
    others = [q for q in config.queue_config_list if q.queue != sub.arn and q.queue not in sub.others]
    ours = QueueConfig(
        queue=sub.arn,
        events=list(sub.events),
        config_id=sub.config_id,
        prefix_filter_rule=PrefixFilterRule(sub.prefix) if sub.prefix else None,
    )
    merged = NotificationConfig(
        cloud_func_config_list=config.cloud_func_config_list,
        queue_config_list=others + [ours],
        topic_config_list=config.topic_config_list,
    )
    try:
        mc.set_bucket_notification(sub.bucket, merged)
    except S3Error as exc:
        if ("ARN" in str(exc.message) or exc.code == "InvalidArgument") and settings.jetstream:
            raise ConfigureError(
                f"MinIO has no NATS target {sub.arn}. Start MinIO (every node, the same values) with\n"
                f"  MINIO_NOTIFY_NATS_ENABLE_{TARGET_ID}=on\n"
                f"  MINIO_NOTIFY_NATS_ADDRESS_{TARGET_ID}=<host:port of a NATS server>\n"
                f"  MINIO_NOTIFY_NATS_SUBJECT_{TARGET_ID}={names.STREAM_SUBJECT}\n"
                f"  MINIO_NOTIFY_NATS_JETSTREAM_{TARGET_ID}=on\n"
                f"  MINIO_NOTIFY_NATS_TOKEN_{TARGET_ID}=<NATS_TOKEN>\n"
                f"then configure again.\nMinIO said: {exc.message}"
            ) from exc
        if "ARN" in str(exc.message) or exc.code == "InvalidArgument":
            raise ConfigureError(
                f"MinIO has no webhook target {sub.arn}. Start MinIO with\n"
                f"  MINIO_NOTIFY_WEBHOOK_ENABLE_{TARGET_ID}=on\n"
                f"  MINIO_NOTIFY_WEBHOOK_ENDPOINT_{TARGET_ID}={settings.webhook_endpoint}\n"
                f"  MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{TARGET_ID}=<WEBHOOK_TOKEN>\n"
                f"  MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{TARGET_ID}=/data/.webhook-queue\n"
                f"or run `mc admin config set local notify_webhook:{TARGET_ID} endpoint=... auth_token=... "
                f"queue_dir=...` and `mc admin service restart local`, then configure again.\n"
                f"MinIO said: {exc.message}"
            ) from exc
        raise
