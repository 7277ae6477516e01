"""minio_config against the real server: idempotent, keeps other subscriptions, guards against loops."""

from __future__ import annotations

import json

import pytest
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.notificationconfig import NotificationConfig, QueueConfig
from minio.versioningconfig import SUSPENDED, VersioningConfig

from classifier_fn.pipeline.startup_check import UnsafeSubscription, check
from gourmetgram.store import Store
from minio_config import current
from minio_config.apply import ConfigureError, configure
from minio_config.desired import ARN, EVENTS, Desired, Subscription
from minio_config.identities import identities
from tests.stack import AUDIT_ARN

pytestmark = pytest.mark.integration


def rules(stack, bucket="incoming"):
    return Store.connect(stack.settings).subscriptions(bucket)


def test_second_run_changes_nothing(stack):
    assert configure(stack.settings, echo=lambda line: None) == []
    [ours] = [r for r in rules(stack) if r.arn == ARN]
    assert set(ours.events) == set(EVENTS)
    # The stack's configure created each component's user, with its own policy alone and its secret set.
    adm = current.admin(stack.settings)
    for identity in identities(stack.settings):
        info = json.loads(adm.user_info(identity.user))
        assert info["status"] == "enabled" and info["policyName"] == identity.policy_name
        assert current.secret_works(stack.settings, identity.user, identity.password)


def test_an_unrelated_subscription_is_kept_and_a_widened_one_repaired(stack):
    mc = current.client(stack.settings)
    # GIVEN someone widened ours to ObjectCreated:* (tagging would loop) and added an audit rule
    mc.set_bucket_notification(
        "incoming",
        NotificationConfig(
            queue_config_list=[
                QueueConfig(queue=ARN, events=["s3:ObjectCreated:*"], config_id="widened"),
                QueueConfig(queue=AUDIT_ARN, events=["s3:ObjectRemoved:*"], config_id="audit"),
            ]
        ),
    )
    try:
        # THEN the function's start-up check refuses to run
        with pytest.raises(UnsafeSubscription, match="PutTagging|ObjectCreated:\\*"):
            check(stack.settings, Store.connect(stack.settings))
        # WHEN configure runs
        lines = []
        steps = configure(stack.settings, echo=lines.append)
        # THEN ours is exact again, the audit rule is still there, and the check passes
        assert len(steps) == 1 and "replace subscription" in lines[0]
        by_arn = {r.arn: r for r in rules(stack)}
        assert set(by_arn[ARN].events) == set(EVENTS)
        assert by_arn[AUDIT_ARN].events == ("s3:ObjectRemoved:*",)
        assert check(stack.settings, Store.connect(stack.settings)).subscribed
    finally:
        configure(stack.settings, echo=lambda line: None)


def test_a_bucket_the_function_writes_to_must_not_notify_it(stack):
    mc = current.client(stack.settings)
    mc.set_bucket_notification(
        "production",
        NotificationConfig(
            queue_config_list=[QueueConfig(queue=ARN, events=["s3:ObjectCreated:Put"], config_id="loop")]
        ),
    )
    try:
        with pytest.raises(UnsafeSubscription, match="'production' notifies the function"):
            check(stack.settings, Store.connect(stack.settings))
    finally:
        mc.delete_bucket_notification("production")


def test_a_server_without_the_webhook_target_gets_instructions(stack):
    want = Desired(
        ("incoming-elsewhere",), Subscription("incoming-elsewhere", "arn:minio:sqs::MISSING:webhook", EVENTS)
    )
    try:
        with pytest.raises(ConfigureError, match="MINIO_NOTIFY_WEBHOOK_ENDPOINT_GOURMETGRAM"):
            configure(stack.settings, echo=lambda line: None, want=want)
    finally:
        current.client(stack.settings).remove_bucket("incoming-elsewhere")


def test_quarantine_expiry_is_applied_idempotently_beside_other_rules(stack):
    mc = current.client(stack.settings)
    mc.set_bucket_lifecycle(
        "quarantine",
        LifecycleConfig(
            [Rule(ENABLED, rule_filter=Filter(prefix="tmp/"), rule_id="operator-tmp", expiration=Expiration(days=1))]
        ),
    )
    expiring = stack.settings.replace(quarantine_expiry_days=30)
    try:
        assert [type(s).__name__ for s in configure(expiring, echo=lambda line: None)] == ["SetExpiry"]
        assert configure(expiring, echo=lambda line: None) == []
        rules = {r.rule_id: r.expiration.days for r in mc.get_bucket_lifecycle("quarantine").rules}
        assert rules == {"operator-tmp": 1, "gourmetgram-quarantine-expiry": 30}
        # Back to the default: our rule goes, the operator's stays.
        assert len(configure(stack.settings, echo=lambda line: None)) == 1
        assert [r.rule_id for r in mc.get_bucket_lifecycle("quarantine").rules] == ["operator-tmp"]
    finally:
        mc.delete_bucket_lifecycle("quarantine")


def test_versioning_on_incoming_is_applied_idempotently(stack):
    mc = current.client(stack.settings)
    assert mc.get_bucket_versioning("incoming").status == "Enabled"  # the stack's configure turned it on
    assert all(mc.get_bucket_versioning(b).status_string == "Off" for b in ("production", "quarantine", "events"))
    # GIVEN someone suspended it (new uploads would get no version of their own)
    mc.set_bucket_versioning("incoming", VersioningConfig(SUSPENDED))
    try:
        # THEN the function's start-up check names it (a problem, not a refusal)
        report = check(stack.settings, Store.connect(stack.settings))
        assert report.subscribed and [p for p in report.problems if "versioning" in p] == [
            "versioning is suspended on 'incoming': the same bytes uploaded twice under one key within a second "
            "count as one photo, and a delete may race a newer upload under the same key; run `gourmetgram "
            "configure` (it turns versioning on)"
        ]
        # WHEN configure runs, THEN it turns it on again, printing the mc equivalent, and a second run does nothing
        lines = []
        assert [type(s).__name__ for s in configure(stack.settings, echo=lines.append)] == ["EnableVersioning"]
        assert "turn versioning on for incoming" in lines[0] and "mc version enable local/incoming" in lines[0]
        assert mc.get_bucket_versioning("incoming").status == "Enabled"
        assert configure(stack.settings, echo=lambda line: None) == []
    finally:
        mc.set_bucket_versioning("incoming", VersioningConfig(ENABLED))
