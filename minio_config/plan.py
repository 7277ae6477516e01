"""Desired vs current -> the steps to take, each able to print its `mc` equivalent. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from minio_config.current import Current
from minio_config.desired import Desired, Expiry, Subscription


@dataclass(frozen=True)
class CreateBucket:
    bucket: str

    def describe(self) -> str:
        return f"create bucket {self.bucket}"

    def mc(self, alias: str) -> str:
        return f"mc mb --ignore-existing {alias}/{self.bucket}"


@dataclass(frozen=True)
class Subscribe:
    subscription: Subscription
    replaces: bool  # our rule exists with other events or filters

    def describe(self) -> str:
        s = self.subscription
        verb = "replace" if self.replaces else "add"
        return f"{verb} subscription {s.bucket} -> {s.arn} on {', '.join(s.events)}"

    def mc(self, alias: str) -> str:
        s = self.subscription
        # mc has no exact event names (its `put` includes PutTagging), so show the API call instead.
        return (f"# mc cannot subscribe to exact event names; the step is PutBucketNotification on {s.bucket}:\n"
                f"#   <QueueConfiguration><Id>{s.config_id}</Id><Queue>{s.arn}</Queue>"
                + "".join(f"<Event>{e}</Event>" for e in s.events) + "</QueueConfiguration>\n"
                f"mc event list {alias}/{s.bucket}   # check: {s.arn} {','.join(s.events)}")


@dataclass(frozen=True)
class SetExpiry:
    expiry: Expiry

    def describe(self) -> str:
        e = self.expiry
        if e.days is None:
            return f"remove the expiry rule of {e.bucket} (keep everything)"
        return f"expire objects in {e.bucket} after {e.days} days"

    def mc(self, alias: str) -> str:
        e = self.expiry
        if e.days is None:
            return f"mc ilm rule rm --id {e.rule_id} {alias}/{e.bucket}"
        return f"mc ilm rule add --expire-days {e.days} {alias}/{e.bucket}   # rule id {e.rule_id}"


Step = CreateBucket | Subscribe | SetExpiry


def plan(want: Desired, have: Current) -> list[Step]:
    steps: list[Step] = [CreateBucket(b) for b in want.buckets if b not in have.buckets]
    sub = want.subscription
    ours = [r for r in have.rules.get(sub.bucket, ()) if r.arn == sub.arn]
    exact = [r for r in ours if set(r.events) == set(sub.events) and r.prefix is None and r.suffix is None]
    if not exact or len(ours) > 1:
        steps.append(Subscribe(sub, replaces=bool(ours)))
    expiry = want.expiry
    if expiry is not None and have.expiry_days.get(expiry.bucket) != expiry.days:
        steps.append(SetExpiry(expiry))
    return steps
