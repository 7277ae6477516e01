"""The stream and its consumer: wanted -> steps, each with its nats CLI equivalent (minio_config/stream.py)."""

from dataclasses import replace

import pytest

from gourmetgram.settings import Settings
from minio_config.stream import (
    AddConsumer,
    AddStream,
    EditStream,
    StreamConflict,
    plan_consumer,
    plan_stream,
    wanted,
)

STREAM, CONSUMER = wanted(
    Settings(event_transport="jetstream", nats_replicas=3, nats_ack_wait_s=30, nats_max_deliver=5)
)


def test_what_is_wanted_follows_the_settings_and_the_names():
    assert (STREAM.name, STREAM.subjects, STREAM.replicas) == ("GOURMETGRAM", ("gourmetgram.incoming",), 3)
    assert (STREAM.retention, STREAM.storage) == ("workqueue", "file")
    assert (CONSUMER.durable, CONSUMER.stream, CONSUMER.filter_subject) == (
        "classifier",
        "GOURMETGRAM",
        "gourmetgram.incoming",
    )
    assert CONSUMER.pull and CONSUMER.ack_policy == "explicit"
    assert (CONSUMER.ack_wait_s, CONSUMER.max_deliver) == (30, 5)


def test_nothing_there_creates_both_and_prints_the_nats_commands():
    [stream] = plan_stream(STREAM, None)
    [consumer] = plan_consumer(CONSUMER, None)
    assert isinstance(stream, AddStream) and isinstance(consumer, AddConsumer) and not consumer.replaces
    assert stream.nats().startswith(
        "nats stream add GOURMETGRAM --subjects gourmetgram.incoming --retention work --storage file --replicas 3"
    )
    command = consumer.nats()
    assert command.startswith("nats consumer add GOURMETGRAM classifier --pull --deliver all --ack explicit")
    assert "--wait 30s" in command and "--max-deliver 5" in command and "--filter gourmetgram.incoming" in command


def test_a_second_run_plans_nothing():
    assert plan_stream(STREAM, STREAM) == [] and plan_consumer(CONSUMER, CONSUMER) == []


def test_replicas_or_deadlines_that_differ_are_updated_in_place():
    [edit] = plan_stream(STREAM, replace(STREAM, replicas=1))
    assert isinstance(edit, EditStream) and "replicas 1 -> 3" in edit.describe()
    assert edit.nats().startswith("nats stream edit GOURMETGRAM") and "--replicas 3" in edit.nats()
    [update] = plan_consumer(CONSUMER, replace(CONSUMER, ack_wait_s=10.0, max_deliver=-1))
    assert isinstance(update, AddConsumer) and update.replaces
    assert "ack_wait_s 10.0 -> 30" in update.describe() and update.nats().startswith("nats consumer edit")


@pytest.mark.parametrize(
    "have",
    [
        pytest.param(replace(STREAM, retention="limits"), id="retention"),
        pytest.param(replace(STREAM, storage="memory"), id="storage"),
    ],
)
def test_a_stream_nats_cannot_change_in_place_is_refused_with_what_to_do(have):
    with pytest.raises(StreamConflict, match="nats stream rm GOURMETGRAM.*reconciler"):
        plan_stream(STREAM, have)


def test_a_push_consumer_of_that_name_is_refused_with_what_to_do():
    with pytest.raises(StreamConflict, match="nats consumer rm GOURMETGRAM classifier"):
        plan_consumer(CONSUMER, replace(CONSUMER, pull=False))
