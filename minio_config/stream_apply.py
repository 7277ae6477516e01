"""Reads the stream and the consumer from NATS and applies the steps of `minio_config.stream` (nats-py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ReplayPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext

from gourmetgram import bus
from gourmetgram.settings import Settings
from minio_config.config_error import MinioConfigError
from minio_config.stream import (
    AddConsumer,
    AddStream,
    ConsumerSpec,
    EditStream,
    StreamConflict,
    StreamSpec,
    StreamStep,
    plan_consumer,
    plan_stream,
    wanted,
)


class NatsUnavailable(MinioConfigError):
    """NATS could not be reached or refused a request; the message says which and what NATS said."""


def _value(enum_or_str) -> str:
    return getattr(enum_or_str, "value", enum_or_str)


async def read_stream(js: JetStreamContext, name: str) -> StreamSpec | None:
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return None
    c = info.config
    return StreamSpec(
        c.name,
        tuple(c.subjects or ()),
        c.num_replicas or 1,
        _value(c.retention),
        _value(c.storage),
        float(c.max_age or 0),
    )


async def read_consumer(js: JetStreamContext, stream: str, durable: str) -> ConsumerSpec | None:
    try:
        info = await js.consumer_info(stream, durable)
    except nats.js.errors.NotFoundError:
        return None
    c = info.config
    return ConsumerSpec(
        stream,
        durable,
        c.filter_subject or "",
        float(c.ack_wait or 0),
        c.max_deliver or -1,
        pull=c.deliver_subject is None,
        ack_policy=_value(c.ack_policy),
        deliver_policy=_value(c.deliver_policy),
        max_ack_pending=c.max_ack_pending or 0,
    )


def _stream_config(s: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=s.name,
        subjects=list(s.subjects),
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=s.replicas,
        discard=DiscardPolicy.OLD,
        max_age=s.max_age_s,
    )


def _consumer_config(c: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=c.durable,
        name=c.durable,
        filter_subject=c.filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        replay_policy=ReplayPolicy.INSTANT,
        ack_wait=c.ack_wait_s,
        max_deliver=c.max_deliver,
        max_ack_pending=c.max_ack_pending,
    )


async def _apply(js: JetStreamContext, step: StreamStep) -> None:
    if isinstance(step, AddStream):
        await js.add_stream(_stream_config(step.spec))
    elif isinstance(step, EditStream):
        await js.update_stream(_stream_config(step.spec))
    elif isinstance(step, AddConsumer):
        await js.add_consumer(step.spec.stream, _consumer_config(step.spec))  # creates, or updates in place


async def _configure(settings: Settings, echo: Callable[[str], None], dry_run: bool) -> list[StreamStep]:
    stream, consumer = wanted(settings)
    where = ", ".join(settings.nats_servers)
    try:
        client = await bus.connect(settings, "gourmetgram-configure")
    except (nats.errors.Error, OSError) as exc:
        raise NatsUnavailable(
            f"cannot reach NATS at {where} ({exc.__class__.__name__}: {exc}): start it, or "
            f"check NATS_URL and NATS_TOKEN"
        ) from None
    try:
        js = client.jetstream(timeout=10)
        steps: list[StreamStep] = plan_stream(stream, await read_stream(js, stream.name))
        steps += plan_consumer(consumer, await read_consumer(js, consumer.stream, consumer.durable))
        for step in steps:
            echo(f"{'would ' if dry_run else ''}{step.describe()}\n  {step.nats()}")
            if not dry_run:
                await _apply(js, step)
        return steps
    except nats.js.errors.APIError as exc:
        hint = (
            " (NATS_REPLICAS must not exceed the servers of the NATS cluster; 1 on a single server)"
            if "replica" in str(exc.description or "").lower() or "insufficient" in str(exc).lower()
            else ""
        )
        raise NatsUnavailable(f"NATS at {where} refused: {exc.description or exc}{hint}") from None
    except (TimeoutError, nats.errors.Error) as exc:
        raise NatsUnavailable(f"NATS at {where} did not answer ({exc.__class__.__name__}: {exc})") from None
    finally:
        await client.close()


def configure_stream(
    settings: Settings, echo: Callable[[str], None] = print, dry_run: bool = False
) -> list[StreamStep]:
    """Bring the stream and the consumer to what `settings` want; a second run does nothing. Raises
    NatsUnavailable or StreamConflict with a message saying what to do."""
    return asyncio.run(_configure(settings, echo, dry_run))


__all__ = ["NatsUnavailable", "StreamConflict", "configure_stream", "read_consumer", "read_stream"]
