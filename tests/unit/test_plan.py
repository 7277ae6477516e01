import dataclasses
import json

import pytest

from gourmetgram.settings import Settings
from minio_config.current import Current, IdentityState, QueueRule, UserState
from minio_config.desired import ARN, EVENTS, Subscription, desired
from minio_config.identities import identities
from minio_config.plan import (
    AttachPolicy,
    CreateBucket,
    EnableVersioning,
    PutPolicy,
    SetExpiry,
    SetUser,
    Subscribe,
    plan,
    plan_identities,
)

WANT = desired(Settings())
OURS = QueueRule(ARN, EVENTS, "gourmetgram-classifier", None, None)
OTHER = QueueRule("arn:minio:sqs::AUDIT:webhook", ("s3:ObjectCreated:*",), "audit", None, None)
ALL_BUCKETS = frozenset({"incoming", "production", "quarantine", "events", "models"})
VERSIONED = {"incoming": "Enabled", "models": "Enabled"}
MODELS_RULE = QueueRule(ARN, ("s3:ObjectCreated:*",), "gourmetgram-model-aliases", "aliases/", None)
MODELS_RULES = {"models": (MODELS_RULE,)}  # the models bucket as configure leaves it


def buckets_configured(rules=(OURS, OTHER), days=None, versioning=None) -> Current:
    """A server where `configure` ran (with these subscriptions, expiry days and versioning on `incoming`)."""
    return Current(
        ALL_BUCKETS, {**MODELS_RULES, "incoming": rules}, days or {}, VERSIONED if versioning is None else versioning
    )


def test_a_fresh_server_gets_five_buckets_and_the_subscriptions():
    steps = plan(WANT, Current(frozenset(), {}))
    assert [s.bucket for s in steps if isinstance(s, CreateBucket)] == [
        "incoming",
        "production",
        "quarantine",
        "events",
        "models",
    ]
    [sub, models] = [s for s in steps if isinstance(s, Subscribe)]
    assert sub.subscription.events == EVENTS and not sub.replaces and sub.subscription.prefix is None
    # The models bucket's aliases notify the same target: an alias change reaches the function at once.
    assert models.subscription == Subscription(
        "models", ARN, ("s3:ObjectCreated:*",), "gourmetgram-model-aliases", "aliases/"
    )


def test_a_configured_server_needs_nothing():
    assert plan(WANT, buckets_configured()) == []


@pytest.mark.parametrize("status", ["Off", "Suspended"])
def test_versioning_is_turned_on_for_incoming_and_models_alone(status):
    assert WANT.versioned == ("incoming", "models")
    [step] = plan(WANT, buckets_configured(versioning={"incoming": status, "models": "Enabled"}))
    assert step == EnableVersioning("incoming") and step.mc("local") == "mc version enable local/incoming"
    [step] = plan(WANT, buckets_configured(versioning={"incoming": "Enabled", "models": status}))
    assert step == EnableVersioning("models") and step.mc("local") == "mc version enable local/models"
    assert (
        step.describe() == "turn versioning on for models (a model or an alias written by mistake can be brought back)"
    )
    fresh = plan(WANT, Current(frozenset(), {}))
    assert [type(s).__name__ for s in fresh][:7] == ["CreateBucket"] * 5 + ["EnableVersioning"] * 2


def test_a_wider_subscription_of_ours_is_replaced_and_others_are_left_alone():
    wide = QueueRule(ARN, ("s3:ObjectCreated:*",), "x", None, None)
    [step] = plan(WANT, buckets_configured((wide, OTHER)))
    assert isinstance(step, Subscribe) and step.replaces


def test_exactly_the_four_creation_events_and_never_the_mc_put_shorthand():
    assert set(EVENTS) == {
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
    }
    text = "\n".join(s.mc("local") for s in plan(WANT, Current(frozenset(), {})))
    assert "mc mb --ignore-existing local/incoming" in text
    assert "--event put" not in text and "mc event list local/incoming" in text


def test_quarantine_expiry_is_off_by_default_and_planned_when_asked():
    assert WANT.expiry.days is None  # nothing is ever deleted unless an operator asks
    assert not [s for s in plan(WANT, buckets_configured((OURS,))) if isinstance(s, SetExpiry)]
    want = desired(Settings(quarantine_expiry_days=30))
    [step] = plan(want, buckets_configured((OURS,)))
    assert isinstance(step, SetExpiry) and "after 30 days" in step.describe()
    assert step.mc("local").startswith("mc ilm rule add --expire-days 30 local/quarantine")
    assert plan(want, buckets_configured((OURS,), {"quarantine": 30})) == []
    [removal] = plan(WANT, buckets_configured((OURS,), {"quarantine": 30}))
    assert removal.mc("local") == "mc ilm rule rm --id gourmetgram-quarantine-expiry local/quarantine"


IDENTITIES = identities(Settings())


def stored(policy: dict) -> dict:
    """A policy as MinIO gives it back: actions and resources sorted."""
    return {
        **policy,
        "Statement": [
            {**st, "Action": sorted(st["Action"]), "Resource": sorted(st["Resource"])} for st in policy["Statement"]
        ],
    }


def configured(**changes) -> dict[str, IdentityState]:
    """The state of a server where `configure` ran, with `changes` for one component ("web")."""
    have = {i.component: IdentityState(stored(i.policy), UserState(True, True, (i.policy_name,))) for i in IDENTITIES}
    if changes:
        have["web"] = IdentityState(**{"policy": have["web"].policy, "user": have["web"].user, **changes})
    return have


def test_a_fresh_server_gets_a_policy_and_a_user_per_component_with_the_policy_attached():
    steps = plan_identities(IDENTITIES, {})
    assert [(type(s).__name__, s.identity.component) for s in steps] == [
        ("PutPolicy", "function"),
        ("SetUser", "function"),
        ("AttachPolicy", "function"),
        ("PutPolicy", "web"),
        ("SetUser", "web"),
        ("AttachPolicy", "web"),
    ]
    text = "\n".join(s.mc("local") for s in steps)
    assert "mc admin policy create local gourmetgram-web /dev/stdin" in text
    assert 'mc admin user add local gourmetgram-web "$WEB_MINIO_PASSWORD"' in text
    assert "mc admin policy attach local gourmetgram-function --user gourmetgram-function" in text
    for identity in IDENTITIES:  # no secret is ever printed
        assert identity.password not in text and identity.password not in "\n".join(s.describe() for s in steps)


def test_a_configured_server_needs_no_identity_step():
    assert plan_identities(IDENTITIES, configured()) == []


def test_a_wrong_secret_is_set_again_and_a_disabled_user_enabled():
    [step] = plan_identities(IDENTITIES, configured(user=UserState(True, False, ("gourmetgram-web",))))
    assert isinstance(step, SetUser) and step.reason == "secret" and step.identity.component == "web"
    assert "set the secret of user gourmetgram-web" in step.describe()
    [step] = plan_identities(IDENTITIES, configured(user=UserState(False, False, ("gourmetgram-web",))))
    assert isinstance(step, SetUser) and step.reason == "disabled"


def test_a_policy_with_other_rights_is_replaced():
    policy = stored(IDENTITIES[1].policy)
    policy["Statement"][0]["Action"].append("s3:DeleteObject")
    [step] = plan_identities(IDENTITIES, configured(policy=policy))
    assert isinstance(step, PutPolicy) and step.replaces and "replace policy gourmetgram-web" in step.describe()


def test_more_policies_on_our_user_are_detached_and_a_missing_one_attached():
    [step] = plan_identities(IDENTITIES, configured(user=UserState(True, True, ("readwrite", "gourmetgram-web"))))
    assert isinstance(step, AttachPolicy) and not step.attach and step.detach == ("readwrite",)
    assert step.mc("local") == "mc admin policy detach local readwrite --user gourmetgram-web"
    [step] = plan_identities(IDENTITIES, configured(user=UserState(True, True, ("consoleAdmin",))))
    assert step.attach and step.detach == ("consoleAdmin",)
    assert step.mc("local").splitlines() == [
        "mc admin policy detach local consoleAdmin --user gourmetgram-web",
        "mc admin policy attach local gourmetgram-web --user gourmetgram-web",
    ]


def test_jetstream_subscribes_to_the_nats_target_and_removes_our_webhook_rule():
    # GIVEN a server whose incoming notifies our webhook target (the default transport), and someone else's
    want = desired(Settings(event_transport="jetstream"))
    assert want.subscription.arn == "arn:minio:sqs::GOURMETGRAM:nats"
    # WHEN the transport is JetStream
    [step, models] = plan(want, buckets_configured())
    # THEN one step puts our NATS rule and removes our webhook rule (every photo would come twice), and says so
    assert isinstance(step, Subscribe) and step.drops == (ARN,) and not step.replaces
    assert f"mc event rm local/incoming {ARN}" in step.mc("local") and "remove incoming ->" in step.describe()
    assert models.subscription.bucket == "models" and models.drops == (ARN,)  # the aliases' events move too
    # AND once done, nothing is left to do
    nats = QueueRule(want.subscription.arn, EVENTS, "gourmetgram-classifier", None, None)
    nats_models = dataclasses.replace(MODELS_RULE, arn=want.subscription.arn)
    done = Current(ALL_BUCKETS, {"incoming": (nats, OTHER), "models": (nats_models,)}, {}, VERSIONED)
    assert plan(want, done) == []
    # AND back on the webhook, the NATS rules go
    [back, back_models] = plan(WANT, done)
    assert back.drops == back_models.drops == ("arn:minio:sqs::GOURMETGRAM:nats",)


# --- what `configure` prints for each step (its --dry-run is the operator's whole view of the plan) ----------

SUB_EVENTS = (
    "s3:ObjectCreated:Put, s3:ObjectCreated:Post, s3:ObjectCreated:Copy, s3:ObjectCreated:CompleteMultipartUpload"
)


def test_a_new_subscription_is_described_and_shown_as_its_api_call():
    [step] = plan(WANT, Current(ALL_BUCKETS, MODELS_RULES, {}, VERSIONED))
    assert step.describe() == f"add subscription incoming -> {ARN} on {SUB_EVENTS}"
    assert step.mc("local").splitlines() == [
        "# mc cannot subscribe to exact event names; the step is PutBucketNotification on incoming:",
        f"#   <QueueConfiguration><Id>gourmetgram-classifier</Id><Queue>{ARN}</Queue>"
        + "".join(f"<Event>{e}</Event>" for e in EVENTS)
        + "</QueueConfiguration>",
        f"mc event list local/incoming   # check: {ARN} {','.join(EVENTS)}",
    ]


def test_a_subscription_of_ours_with_a_filter_or_a_twin_is_replaced():
    filtered = QueueRule(ARN, EVENTS, "x", "photos/", None)
    [step] = plan(WANT, Current(ALL_BUCKETS, {**MODELS_RULES, "incoming": (filtered,)}, {}, VERSIONED))
    assert step.describe() == f"replace subscription incoming -> {ARN} on {SUB_EVENTS}"
    twin = QueueRule(ARN, EVENTS, "y", None, ".jpg")
    [step] = plan(WANT, Current(ALL_BUCKETS, {**MODELS_RULES, "incoming": (OURS, twin)}, {}, VERSIONED))
    assert isinstance(step, Subscribe) and step.replaces


def test_a_bucket_step_is_described():
    [step, *_] = plan(WANT, Current(frozenset(), {}))
    assert step.describe() == "create bucket incoming" and step.mc("local") == "mc mb --ignore-existing local/incoming"


def test_removing_the_quarantine_expiry_is_described():
    [removal] = plan(WANT, Current(ALL_BUCKETS, {**MODELS_RULES, "incoming": (OURS,)}, {"quarantine": 30}, VERSIONED))
    assert removal.describe() == "remove the expiry rule of quarantine (keep everything)"
    want = desired(Settings(quarantine_expiry_days=7))
    [step] = plan(want, Current(ALL_BUCKETS, {**MODELS_RULES, "incoming": (OURS,)}, {}, VERSIONED))
    assert step.describe() == "expire objects in quarantine after 7 days"
    assert step.mc("local") == (
        "mc ilm rule add --expire-days 7 local/quarantine   # rule id gourmetgram-quarantine-expiry"
    )


def test_identity_steps_describe_what_they_do_to_whom():
    steps = plan_identities(IDENTITIES, {})
    assert [s.describe() for s in steps] == [
        "create policy gourmetgram-function (the function's rights)",
        "create user gourmetgram-function for the function",
        "attach policy gourmetgram-function to user gourmetgram-function",
        "create policy gourmetgram-web (the frontend's rights)",
        "create user gourmetgram-web for the frontend",
        "attach policy gourmetgram-web to user gourmetgram-web",
    ]
    [disabled] = plan_identities(IDENTITIES, configured(user=UserState(False, True, ("gourmetgram-web",))))
    assert disabled.describe() == "enable user gourmetgram-web (the frontend) with its configured secret"
    assert disabled.identity.user == "gourmetgram-web"
    [secret] = plan_identities(IDENTITIES, configured(user=UserState(True, False, ("gourmetgram-web",))))
    assert secret.describe() == (
        "set the secret of user gourmetgram-web (the frontend): MinIO refused the configured one"
    )
    assert secret.mc("local") == (
        'mc admin user add local gourmetgram-web "$WEB_MINIO_PASSWORD"   # the secret is not printed'
    )


def test_a_policy_step_prints_the_policy_it_creates():
    [step] = [s for s in plan_identities(IDENTITIES, {}) if isinstance(s, PutPolicy)][1:]
    printed = step.mc("local")
    assert printed.startswith("echo '")
    assert printed.endswith("' | mc admin policy create local gourmetgram-web /dev/stdin")
    assert json.loads(printed[len("echo '") : printed.index("' |")]) == IDENTITIES[1].policy


def test_detaching_and_attaching_are_described_together():
    [step] = plan_identities(IDENTITIES, configured(user=UserState(True, True, ("consoleAdmin", "readwrite"))))
    assert step.describe() == (
        "attach policy gourmetgram-web to user gourmetgram-web; detach policy consoleAdmin "
        "from user gourmetgram-web; detach policy readwrite from user gourmetgram-web"
    )
    [step] = plan_identities(IDENTITIES, configured(user=UserState(True, True, ("readwrite", "gourmetgram-web"))))
    assert step.describe() == "detach policy readwrite from user gourmetgram-web"


@pytest.mark.parametrize(
    "rules",
    [
        (),  # never subscribed
        (QueueRule(ARN, ("s3:ObjectCreated:*",), "x", None, None),),  # every key: model files too
        (QueueRule(ARN, ("s3:ObjectCreated:Put",), "x", "aliases/", None),),  # fewer events
        (MODELS_RULE, QueueRule(ARN, ("s3:ObjectCreated:*",), "y", "versions/", None)),  # a twin
    ],
)
def test_the_models_subscription_is_made_exact_and_others_are_left_alone(rules):
    have = Current(ALL_BUCKETS, {"incoming": (OURS,), "models": (*rules, OTHER)}, {}, VERSIONED)
    [step] = plan(WANT, have)
    assert isinstance(step, Subscribe) and step.subscription.bucket == "models"
    assert step.replaces == bool(rules)
    assert step.describe().endswith(f"subscription models (keys under aliases/) -> {ARN} on s3:ObjectCreated:*")
    assert "<Name>prefix</Name><Value>aliases/</Value>" in step.mc("local")
    assert plan(WANT, Current(ALL_BUCKETS, {"incoming": (OURS,), "models": (MODELS_RULE, OTHER)}, {}, VERSIONED)) == []


def test_the_models_subscription_follows_the_transport():
    want = desired(Settings(event_transport="jetstream"))
    nats = "arn:minio:sqs::GOURMETGRAM:nats"
    incoming = QueueRule(nats, EVENTS, "gourmetgram-classifier", None, None)
    [step] = plan(want, Current(ALL_BUCKETS, {"incoming": (incoming,), **MODELS_RULES}, {}, VERSIONED))
    assert step.subscription.bucket == "models" and step.subscription.arn == nats and step.drops == (ARN,)
