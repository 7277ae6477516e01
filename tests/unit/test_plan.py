from gourmetgram.settings import Settings
from minio_config.check import _retriggers
from minio_config.current import Current, QueueRule
from minio_config.desired import ARN, EVENTS, desired
from minio_config.plan import CreateBucket, SetExpiry, Subscribe, plan

WANT = desired(Settings())
OURS = QueueRule(ARN, EVENTS, "gourmetgram-classifier", None, None)
OTHER = QueueRule("arn:minio:sqs::AUDIT:webhook", ("s3:ObjectCreated:*",), "audit", None, None)
ALL_BUCKETS = frozenset({"incoming", "production", "quarantine", "events"})


def test_a_fresh_server_gets_four_buckets_and_the_subscription():
    steps = plan(WANT, Current(frozenset(), {}))
    assert [s.bucket for s in steps if isinstance(s, CreateBucket)] == ["incoming", "production", "quarantine",
                                                                          "events"]
    [sub] = [s for s in steps if isinstance(s, Subscribe)]
    assert sub.subscription.events == EVENTS and not sub.replaces


def test_a_configured_server_needs_nothing():
    assert plan(WANT, Current(ALL_BUCKETS, {"incoming": (OURS, OTHER)})) == []


def test_a_wider_subscription_of_ours_is_replaced_and_others_are_left_alone():
    wide = QueueRule(ARN, ("s3:ObjectCreated:*",), "x", None, None)
    [step] = plan(WANT, Current(ALL_BUCKETS, {"incoming": (wide, OTHER)}))
    assert isinstance(step, Subscribe) and step.replaces


def test_exactly_the_four_creation_events_and_never_the_mc_put_shorthand():
    assert set(EVENTS) == {"s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
                           "s3:ObjectCreated:CompleteMultipartUpload"}
    text = "\n".join(s.mc("local") for s in plan(WANT, Current(frozenset(), {})))
    assert "mc mb --ignore-existing local/incoming" in text
    assert "--event put" not in text and "mc event list local/incoming" in text


def test_which_events_would_retrigger_the_function():
    assert _retriggers("s3:ObjectCreated:PutTagging") and _retriggers("s3:ObjectCreated:*")
    assert _retriggers("s3:ObjectAccessed:Get")
    assert not any(_retriggers(e) for e in EVENTS)
    assert not _retriggers("s3:ObjectRemoved:Delete")


def test_quarantine_expiry_is_off_by_default_and_planned_when_asked():
    assert WANT.expiry.days is None  # nothing is ever deleted unless an operator asks
    assert not [s for s in plan(WANT, Current(ALL_BUCKETS, {"incoming": (OURS,)})) if isinstance(s, SetExpiry)]
    want = desired(Settings(quarantine_expiry_days=30))
    [step] = plan(want, Current(ALL_BUCKETS, {"incoming": (OURS,)}))
    assert isinstance(step, SetExpiry) and "after 30 days" in step.describe()
    assert step.mc("local").startswith("mc ilm rule add --expire-days 30 local/quarantine")
    assert plan(want, Current(ALL_BUCKETS, {"incoming": (OURS,)}, {"quarantine": 30})) == []
    [removal] = plan(WANT, Current(ALL_BUCKETS, {"incoming": (OURS,)}, {"quarantine": 30}))
    assert removal.mc("local") == "mc ilm rule rm --id gourmetgram-quarantine-expiry local/quarantine"
