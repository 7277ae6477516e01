"""Desired vs current -> the steps to take, each able to print its `mc` equivalent. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gourmetgram import model_registry
from minio_config.current import Current, IdentityState
from minio_config.desired import Desired, Expiry, Subscription
from minio_config.identities import Identity, normalized


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
    drops: tuple[str, ...] = ()  # our rules to the other transport's target, removed

    def describe(self) -> str:
        s = self.subscription
        verb = "replace" if self.replaces else "add"
        dropped = "".join(f"; remove {s.bucket} -> {arn}" for arn in self.drops)
        keys = f" (keys under {s.prefix})" if s.prefix else ""
        return f"{verb} subscription {s.bucket}{keys} -> {s.arn} on {', '.join(s.events)}{dropped}"

    def mc(self, alias: str) -> str:
        s = self.subscription
        # mc has no exact event names (its `put` includes PutTagging), so show the API call instead.
        removals = "".join(f"mc event rm {alias}/{s.bucket} {arn}\n" for arn in self.drops)
        return (
            removals + f"# mc cannot subscribe to exact event names; the step is PutBucketNotification on "
            f"{s.bucket}:\n#   <QueueConfiguration><Id>{s.config_id}</Id><Queue>{s.arn}</Queue>"
            + "".join(f"<Event>{e}</Event>" for e in s.events)
            + (
                f"<Filter><S3Key><FilterRule><Name>prefix</Name><Value>{s.prefix}</Value></FilterRule></S3Key></Filter>"
                if s.prefix
                else ""
            )
            + "</QueueConfiguration>\n"
            f"mc event list {alias}/{s.bucket}   # check: {s.arn} {','.join(s.events)}"
        )


REASONS_FOR_VERSIONS = {
    "incoming": "the function deletes exactly the version it read",
    model_registry.BUCKET: "a model or an alias written by mistake can be brought back",
}


@dataclass(frozen=True)
class EnableVersioning:
    bucket: str

    def describe(self) -> str:
        why = REASONS_FOR_VERSIONS.get(self.bucket, "")
        return f"turn versioning on for {self.bucket}" + (f" ({why})" if why else "")

    def mc(self, alias: str) -> str:
        return f"mc version enable {alias}/{self.bucket}"


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


@dataclass(frozen=True)
class PutPolicy:
    identity: Identity
    replaces: bool  # a policy of that name exists with other rights

    def describe(self) -> str:
        i = self.identity
        return f"{'replace' if self.replaces else 'create'} policy {i.policy_name} (the {i.name}'s rights)"

    def mc(self, alias: str) -> str:
        i = self.identity
        return f"echo '{json.dumps(i.policy)}' | mc admin policy create {alias} {i.policy_name} /dev/stdin"


@dataclass(frozen=True)
class SetUser:
    identity: Identity
    reason: str  # "missing", "disabled" or "secret": why the user is (re)written

    def describe(self) -> str:
        i = self.identity
        return {
            "missing": f"create user {i.user} for the {i.name}",
            "disabled": f"enable user {i.user} (the {i.name}) with its configured secret",
            "secret": f"set the secret of user {i.user} (the {i.name}): MinIO refused the configured one",
        }[self.reason]

    def mc(self, alias: str) -> str:
        i = self.identity
        # Never print a secret (unset, the variable's value is the one configure derives from MINIO_PASSWORD).
        return f'mc admin user add {alias} {i.user} "${i.password_variable}"   # the secret is not printed'


@dataclass(frozen=True)
class AttachPolicy:
    identity: Identity
    attach: bool  # ours is not attached yet
    detach: tuple[str, ...] = ()  # other policies attached to our user: more rights than the component needs

    def describe(self) -> str:
        i = self.identity
        parts = [f"attach policy {i.policy_name} to user {i.user}"] if self.attach else []
        parts += [f"detach policy {p} from user {i.user}" for p in self.detach]
        return "; ".join(parts)

    def mc(self, alias: str) -> str:
        i = self.identity
        lines = [f"mc admin policy detach {alias} {p} --user {i.user}" for p in self.detach]
        if self.attach:
            lines.append(f"mc admin policy attach {alias} {i.policy_name} --user {i.user}")
        return "\n".join(lines)


Step = CreateBucket | EnableVersioning | Subscribe | SetExpiry | PutPolicy | SetUser | AttachPolicy


def plan(want: Desired, have: Current) -> list[Step]:
    steps: list[Step] = [CreateBucket(b) for b in want.buckets if b not in have.buckets]
    # Suspended counts as off: new uploads would get the "null" version, and lose the exact delete.
    steps += [EnableVersioning(b) for b in want.versioned if have.versioning.get(b) != "Enabled"]
    for sub in want.subscriptions:
        rules = have.rules.get(sub.bucket, ())
        ours = [r for r in rules if r.arn == sub.arn]
        drops = tuple(sorted({r.arn for r in rules if r.arn in sub.others}))
        exact = [r for r in ours if set(r.events) == set(sub.events) and r.prefix == sub.prefix and r.suffix is None]
        if not exact or len(ours) > 1 or drops:
            steps.append(Subscribe(sub, replaces=bool(ours), drops=drops))
    expiry = want.expiry
    if expiry is not None and have.expiry_days.get(expiry.bucket) != expiry.days:
        steps.append(SetExpiry(expiry))
    return steps


def plan_identities(want: tuple[Identity, ...], have: dict[str, IdentityState]) -> list[Step]:
    """Per component: its policy (compared by content), its user (secret checked), the policy attached alone."""
    steps: list[Step] = []
    for identity in want:
        state = have.get(identity.component, IdentityState(None, None))
        if normalized(state.policy) != normalized(identity.policy):
            steps.append(PutPolicy(identity, replaces=state.policy is not None))
        user = state.user
        if user is None:
            steps.append(SetUser(identity, "missing"))
        elif not user.enabled:
            steps.append(SetUser(identity, "disabled"))
        elif not user.secret_works:
            steps.append(SetUser(identity, "secret"))
        attached = user.policies if user else ()
        others = tuple(p for p in attached if p != identity.policy_name)
        if identity.policy_name not in attached or others:
            steps.append(AttachPolicy(identity, attach=identity.policy_name not in attached, detach=others))
    return steps
