"""The JetStream side of the event transport (EVENT_TRANSPORT=jetstream): the stream MinIO publishes to and the
durable pull consumer the function replicas share, as wanted (from Settings) and as found, and the steps
between them, each able to print its `nats` CLI equivalent. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gourmetgram import names
from gourmetgram.settings import Settings
from minio_config.config_error import MinioConfigError

# A message only says "look at this photo" (the photo is in `incoming`, and the reconciler finds what no
# message announced): a week-old one is of no use, and the stream must not grow without bound while every
# replica is down.
MAX_AGE_S = 7 * 24 * 3600
# Messages handed out and not yet acknowledged, all replicas together: far above what they hold at once.
MAX_ACK_PENDING = 1000


class StreamConflict(MinioConfigError):
    """The stream or consumer exists in a form that cannot be changed in place; the message says what to do."""


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    replicas: int
    retention: str = "workqueue"  # a message is gone once acknowledged: the stream is the queue
    storage: str = "file"
    max_age_s: float = MAX_AGE_S


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    ack_wait_s: float
    max_deliver: int
    pull: bool = True  # every replica pulls what it has room for
    ack_policy: str = "explicit"
    deliver_policy: str = "all"
    max_ack_pending: int = MAX_ACK_PENDING


def wanted(settings: Settings) -> tuple[StreamSpec, ConsumerSpec]:
    s = settings
    return (
        StreamSpec(names.STREAM_NAME, (names.STREAM_SUBJECT,), s.nats_replicas),
        ConsumerSpec(
            names.STREAM_NAME, names.CONSUMER_NAME, names.STREAM_SUBJECT, s.nats_ack_wait_s, s.nats_max_deliver
        ),
    )


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True)
class AddStream:
    spec: StreamSpec

    def describe(self) -> str:
        s = self.spec
        return (
            f"create stream {s.name} on {', '.join(s.subjects)} ({s.retention} retention, {s.storage} storage, "
            f"{s.replicas} replica(s))"
        )

    def nats(self) -> str:
        s = self.spec
        return (
            f"nats stream add {s.name} --subjects {','.join(s.subjects)} --retention work --storage {s.storage} "
            f"--replicas {s.replicas} --discard old --max-age {_duration(s.max_age_s)} --defaults"
        )


@dataclass(frozen=True)
class EditStream:
    spec: StreamSpec
    changes: tuple[str, ...]  # what differs, for the description

    def describe(self) -> str:
        return f"update stream {self.spec.name}: {', '.join(self.changes)}"

    def nats(self) -> str:
        s = self.spec
        return (
            f"nats stream edit {s.name} --subjects {','.join(s.subjects)} --replicas {s.replicas} "
            f"--max-age {_duration(s.max_age_s)} --force"
        )


@dataclass(frozen=True)
class AddConsumer:
    spec: ConsumerSpec
    replaces: tuple[str, ...] = ()  # non-empty: the consumer exists and these settings change

    def describe(self) -> str:
        c = self.spec
        if self.replaces:
            return f"update consumer {c.stream} > {c.durable}: {', '.join(self.replaces)}"
        return (
            f"create durable pull consumer {c.durable} on stream {c.stream} (ack explicit within "
            f"{_duration(c.ack_wait_s)}, at most {c.max_deliver} deliveries)"
        )

    def nats(self) -> str:
        c = self.spec
        verb = "edit" if self.replaces else "add"
        new_only = "" if self.replaces else " --pull --deliver all --ack explicit --replay instant"
        return (
            f"nats consumer {verb} {c.stream} {c.durable}{new_only} --filter {c.filter_subject} "
            f"--wait {_duration(c.ack_wait_s)} --max-deliver {c.max_deliver} --max-pending {c.max_ack_pending} "
            + ("--force" if self.replaces else "--defaults")
        )


StreamStep = AddStream | EditStream | AddConsumer


def plan_stream(want: StreamSpec, have: StreamSpec | None) -> list[StreamStep]:
    if have is None:
        return [AddStream(want)]
    for what in ("retention", "storage"):
        if getattr(have, what) != getattr(want, what):
            raise StreamConflict(
                f"stream {want.name} exists with {what} {getattr(have, what)!r}, not {getattr(want, what)!r}, "
                f"which NATS cannot change in place: remove it (nats stream rm {want.name}; the events it holds are "
                f"lost, the reconciler finds their photos in incoming) and run configure again"
            )
    changes = tuple(
        f"{what} {getattr(have, what)!r} -> {getattr(want, what)!r}"
        for what in ("subjects", "replicas", "max_age_s")
        if getattr(have, what) != getattr(want, what)
    )
    return [EditStream(want, changes)] if changes else []


def plan_consumer(want: ConsumerSpec, have: ConsumerSpec | None) -> list[StreamStep]:
    if have is None:
        return [AddConsumer(want)]
    for what in ("pull", "ack_policy", "deliver_policy"):
        if getattr(have, what) != getattr(want, what):
            raise StreamConflict(
                f"consumer {want.stream} > {want.durable} exists with {what} {getattr(have, what)!r}, not "
                f"{getattr(want, what)!r}: remove it (nats consumer rm {want.stream} {want.durable}; its messages "
                f"stay in the stream) and run configure again"
            )
    changes = tuple(
        f"{what} {getattr(have, what)!r} -> {getattr(want, what)!r}"
        for what in ("filter_subject", "ack_wait_s", "max_deliver", "max_ack_pending")
        if getattr(have, what) != getattr(want, what)
    )
    return [AddConsumer(replace(want), replaces=changes)] if changes else []
