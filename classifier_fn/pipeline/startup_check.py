"""The function's start-up check: is the subscription there, and can it never re-trigger the function? Does
`incoming` keep versions?

Both of our targets end at the function (the webhook directly, the NATS target through the stream it consumes),
so a rule naming either is judged; the one of EVENT_TRANSPORT is the subscription the function needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from classifier_fn.function_error import FunctionError
from gourmetgram.names import SUBSCRIBED_EVENTS as EVENTS
from gourmetgram.names import TRANSPORT_ARNS
from gourmetgram.settings import FunctionSettings
from gourmetgram.store import Store, StoreError


class UnsafeSubscription(FunctionError):
    """The subscription would make the function trigger itself: refuse to run."""


@dataclass
class CheckReport:
    subscribed: bool = False
    problems: list[str] = field(default_factory=list)


def _retriggers(event: str) -> bool:
    """Events the function's own work causes (tagging, copies into other buckets, its GETs and HEADs)."""
    return event not in EVENTS and (event.startswith("s3:ObjectCreated:") or event.startswith("s3:ObjectAccessed:"))


def check(settings: FunctionSettings, store: Store) -> CheckReport:
    """Raises UnsafeSubscription when running would loop; otherwise reports what is missing."""
    report = CheckReport()
    wanted = settings.transport_arn
    try:
        rules = {b: store.subscriptions(b) for b in settings.buckets}
    except StoreError as exc:
        report.problems.append(f"cannot read the bucket subscriptions from {settings.minio_url}: {exc}")
        return report
    for bucket, bucket_rules in rules.items():
        for rule in bucket_rules:
            arn = rule.arn
            if arn not in TRANSPORT_ARNS.values():
                continue
            if bucket != settings.bucket_incoming:
                raise UnsafeSubscription(
                    f"bucket {bucket!r} notifies the function ({arn}), but the function writes there: "
                    f"remove that subscription (mc event rm local/{bucket} {arn})"
                )
            loops = sorted(e for e in rule.events if _retriggers(e))
            if loops:
                raise UnsafeSubscription(
                    f"the subscription on {bucket!r} includes {', '.join(loops)}, which the function's own "
                    f"tagging, reads or deletes would trigger: run `gourmetgram configure` to set exactly "
                    f"{', '.join(EVENTS)}"
                )
            if any(e.startswith("s3:ObjectRemoved:") for e in rule.events):
                report.problems.append(
                    f"the subscription on {bucket!r} also sends deletions, which the function "
                    f"ignores: every processed photo costs a wasted request"
                )
            if arn == wanted:
                report.subscribed = True
            else:
                report.problems.append(
                    f"bucket {bucket!r} also notifies {arn}, but EVENT_TRANSPORT is {settings.event_transport}: "
                    f"every photo is announced twice; run `gourmetgram configure` (it keeps one)"
                )
    if not report.subscribed:
        report.problems.append(
            f"bucket {settings.bucket_incoming!r} has no subscription to {wanted}: new photos arrive only through "
            f"the reconciler (every {settings.reconcile_interval_s:g} s); run `gourmetgram configure`"
        )
    _check_versioning(settings, store, report)
    return report


def _check_versioning(settings: FunctionSettings, store: Store, report: CheckReport) -> None:
    """The worker deletes exactly the version it read, and tells apart two uploads of the same bytes under
    one key in one second, by version ids: without them it still works, with those two weaker."""
    bucket = settings.bucket_incoming
    try:
        state = store.versioning(bucket)
    except StoreError as exc:
        report.problems.append(f"cannot read the versioning of {bucket!r}: {exc}")
        return
    if state != "Enabled":
        report.problems.append(
            f"versioning is {state.lower()} on {bucket!r}: the same bytes uploaded twice under one key within a "
            f"second count as one photo, and a delete may race a newer upload under the same key; run "
            f"`gourmetgram configure` (it turns versioning on)"
        )
