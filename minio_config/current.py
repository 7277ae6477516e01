"""Reads what MinIO has now: buckets, the queue subscriptions of each bucket, our users and policies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from minio import Minio
from minio.credentials import StaticProvider
from minio.error import MinioAdminException, S3Error
from minio.lifecycleconfig import LifecycleConfig
from minio.minioadmin import MinioAdmin
from minio.notificationconfig import NotificationConfig

from gourmetgram.settings import Settings
from gourmetgram.store import QueueRule, minio_client, queue_rules
from minio_config.desired import EXPIRY_RULE_ID
from minio_config.identities import Identity


@dataclass(frozen=True)
class Current:
    buckets: frozenset[str]
    rules: dict[str, tuple[QueueRule, ...]]  # bucket -> its queue (webhook) rules
    expiry_days: dict[str, int | None] = field(default_factory=dict)  # bucket -> days of our rule, if any
    versioning: dict[str, str] = field(default_factory=dict)  # bucket -> "Enabled", "Suspended" or "Off"


@dataclass(frozen=True)
class UserState:
    enabled: bool
    secret_works: bool  # MinIO accepted a request signed with the configured secret
    policies: tuple[str, ...]  # every policy attached to the user


@dataclass(frozen=True)
class IdentityState:
    policy: dict | None  # the stored document of the identity's policy; None: no such policy
    user: UserState | None  # None: no such user


def client(settings: Settings, user: str | None = None, password: str | None = None) -> Minio:
    """An S3 client with the settings' credentials, or with `user` and `password` (built as the Store's)."""
    return minio_client(settings, user, password, timeout_s=30.0)


def admin(settings: Settings) -> MinioAdmin:
    url = urlsplit(settings.minio_url)
    return MinioAdmin(
        endpoint=url.netloc,
        credentials=StaticProvider(settings.minio_user, settings.minio_password),
        secure=url.scheme == "https",
    )


def admin_error_code(exc: MinioAdminException) -> str:
    """The S3-style code of a refused admin call ("XMinioAdminNoSuchUser", "AccessDenied", ...)."""
    try:
        return json.loads(exc._body).get("Code", "")  # noqa: SLF001 (the SDK keeps the body only there)
    except (ValueError, AttributeError):
        return ""


def _missing_is_none(call, missing_code: str):
    try:
        return call()
    except MinioAdminException as exc:
        if admin_error_code(exc) == missing_code:
            return None
        raise


def secret_works(settings: Settings, user: str, password: str) -> bool:
    """Whether MinIO accepts requests signed with this secret. A secret cannot be read back, so sign a
    harmless ListBuckets: AccessDenied or any answer at all proves it; only a wrong key or signature says no.
    (A HEAD would not do: MinIO's HEAD errors have no body, and the SDK calls them all AccessDenied.)"""
    try:
        client(settings, user, password).list_buckets()
    except S3Error as exc:
        return exc.code not in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    return True


def read_identity(adm: MinioAdmin, settings: Settings, identity: Identity) -> IdentityState:
    doc = _missing_is_none(lambda: adm.policy_info(identity.policy_name), "XMinioAdminNoSuchPolicy")
    info = _missing_is_none(lambda: adm.user_info(identity.user), "XMinioAdminNoSuchUser")
    user = None
    if info is not None:
        info = json.loads(info)
        enabled = info.get("status") == "enabled"
        policies = tuple(p for p in (info.get("policyName") or "").split(",") if p)
        user = UserState(enabled, enabled and secret_works(settings, identity.user, identity.password), policies)
    return IdentityState(json.loads(doc) if doc is not None else None, user)


def read_notification(mc: Minio, bucket: str) -> NotificationConfig:
    try:
        return mc.get_bucket_notification(bucket)
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            return NotificationConfig()
        raise


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


def read(
    mc: Minio, buckets: tuple[str, ...], expiry_bucket: str | None = None, versioned: tuple[str, ...] = ()
) -> Current:
    existing = frozenset(b.name for b in mc.list_buckets())
    rules = {b: queue_rules(read_notification(mc, b)) for b in buckets if b in existing}
    days = {}
    if expiry_bucket and expiry_bucket in existing:
        days[expiry_bucket] = expiry_days(read_lifecycle(mc, expiry_bucket), EXPIRY_RULE_ID)
    versioning = {b: mc.get_bucket_versioning(b).status_string for b in versioned if b in existing}
    return Current(existing, rules, days, versioning)
