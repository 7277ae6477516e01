"""The function's start-up check, on the FakeStore's subscriptions."""

import pytest

from classifier_fn.pipeline.startup_check import UnsafeSubscription, _retriggers, check
from gourmetgram.names import SUBSCRIBED_EVENTS, WEBHOOK_ARN
from gourmetgram.store import QueueRule, StoreUnavailable


def rule(*events: str, arn: str = WEBHOOK_ARN) -> QueueRule:
    return QueueRule(arn, events, "c", None, None)


class Subscriptions:
    """A store that answers only `subscriptions`, from a dict bucket -> rules, and `versioning`."""

    def __init__(self, rules: dict, versioning: str | Exception = "Enabled"):
        self.rules, self._versioning = rules, versioning

    def subscriptions(self, bucket):
        return self.rules.get(bucket, ())

    def versioning(self, bucket):
        if isinstance(self._versioning, Exception):
            raise self._versioning
        return self._versioning if bucket == "incoming" else "Off"


def test_which_events_would_retrigger_the_function():
    assert _retriggers("s3:ObjectCreated:PutTagging") and _retriggers("s3:ObjectCreated:*")
    assert _retriggers("s3:ObjectAccessed:Get")
    assert not any(_retriggers(e) for e in SUBSCRIBED_EVENTS)
    assert not _retriggers("s3:ObjectRemoved:Delete")


def test_the_exact_subscription_passes(settings):
    report = check(settings, Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS),)}))
    assert report.subscribed and report.problems == []


def test_no_subscription_is_a_problem_named_not_a_refusal(settings):
    report = check(settings, Subscriptions({}))
    assert not report.subscribed and "has no subscription" in report.problems[0]


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        pytest.param({"incoming": (rule("s3:ObjectCreated:*"),)}, "PutTagging|ObjectCreated", id="wildcard"),
        pytest.param({"incoming": (rule("s3:ObjectAccessed:Get"),)}, "ObjectAccessed", id="reads"),
        pytest.param({"production": (rule("s3:ObjectCreated:Put"),)}, "production", id="written-bucket"),
    ],
)
def test_a_subscription_that_would_loop_refuses_to_start(settings, rules, words):
    with pytest.raises(UnsafeSubscription, match=words):
        check(settings, Subscriptions(rules))


def test_other_targets_are_not_ours_to_judge(settings):
    other = rule("s3:ObjectCreated:*", arn="arn:minio:sqs::AUDIT:webhook")
    report = check(settings, Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS), other), "production": (other,)}))
    assert report.subscribed and report.problems == []


NATS_ARN = "arn:minio:sqs::GOURMETGRAM:nats"


def test_on_jetstream_the_nats_subscription_is_the_one_needed(settings):
    jetstream = settings.replace(event_transport="jetstream")
    report = check(jetstream, Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS, arn=NATS_ARN),)}))
    assert report.subscribed and report.problems == []
    # the webhook's rule alone is no subscription for a consumer of the stream
    report = check(jetstream, Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS),)}))
    assert not report.subscribed and any(NATS_ARN in p for p in report.problems)


def test_both_of_our_rules_at_once_is_a_problem_named(settings):
    both = Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS), rule(*SUBSCRIBED_EVENTS, arn=NATS_ARN))})
    report = check(settings, both)
    assert report.subscribed and any("announced twice" in p for p in report.problems)


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        pytest.param(
            {"incoming": (rule("s3:ObjectCreated:*", arn=NATS_ARN),)}, r"includes s3:ObjectCreated:\*", id="wildcard"
        ),
        pytest.param(
            {"events": (rule("s3:ObjectCreated:Put", arn=NATS_ARN),)}, "bucket 'events' notifies", id="written-bucket"
        ),
    ],
)
def test_a_nats_subscription_that_would_loop_refuses_to_start(settings, rules, words):
    # The stream ends at the function too: its loops are as unsafe as the webhook's, whatever the transport.
    with pytest.raises(UnsafeSubscription, match=words):
        check(settings.replace(event_transport="jetstream"), Subscriptions(rules))


@pytest.mark.parametrize("state", ["Off", "Suspended"])
def test_an_incoming_without_versions_is_a_problem_named_not_a_refusal(settings, state):
    report = check(settings, Subscriptions({"incoming": (rule(*SUBSCRIBED_EVENTS),)}, versioning=state))
    assert report.subscribed and len(report.problems) == 1
    assert f"versioning is {state.lower()} on 'incoming'" in report.problems[0]
    assert "gourmetgram configure" in report.problems[0]


def test_versioning_that_cannot_be_read_is_a_problem_too(settings):
    report = check(
        settings,
        Subscriptions(
            {"incoming": (rule(*SUBSCRIBED_EVENTS),)}, versioning=StoreUnavailable("GetBucketVersioning: access denied")
        ),
    )
    assert report.problems == ["cannot read the versioning of 'incoming': GetBucketVersioning: access denied"]
