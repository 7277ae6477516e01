"""The stream consumer's rules (classifier_fn/endpoints/jetstream.py) without a NATS server: messages as fakes with the
nats-py Msg's settling calls, the real work queue, the FakeStore; the worker's results handed in as the workers
hand them (`queue.done`), from other threads too."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from types import SimpleNamespace

import pytest

from classifier_fn.endpoints.jetstream import JetStreamConsumer, Settle, on_last_delivery, settlement
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import BACKLOG, Item, WorkQueue
from classifier_fn.pipeline.worker import Result, process
from classifier_fn.runtime import Runtime
from tests.conftest import load_event, photo


class FakeMsg:
    """A JetStream message as the consumer sees it: its body, its delivery count, and how it was settled."""

    def __init__(self, body: bytes, delivered: int = 1):
        self.data = body
        self.metadata = SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=7))
        self.settled: list[tuple] = []
        self.progress = 0

    async def ack(self):
        self.settled.append(("ack",))

    async def nak(self, delay=None):
        self.settled.append(("nak", delay))

    async def term(self):
        self.settled.append(("term",))

    async def in_progress(self):
        self.progress += 1


def event_body(
    key: str, etag: str, name: str = "s3:ObjectCreated:Put", bucket: str = "incoming", size: int | None = 92702
) -> bytes:
    """What MinIO's NATS target publishes (captured from the pinned build): the webhook's body, one record;
    `size` None as MinIO sends a zero-byte object (without a size)."""
    doc = copy.deepcopy(load_event("nats_put"))
    doc["EventName"] = doc["Records"][0]["eventName"] = name
    doc["Key"] = f"{bucket}/{key}"
    doc["Records"][0]["s3"]["bucket"]["name"] = bucket
    doc["Records"][0]["s3"]["object"].update({"key": key.replace(" ", "+"), "eTag": etag})
    if size is None:
        del doc["Records"][0]["s3"]["object"]["size"]
    return json.dumps(doc).encode()


@pytest.fixture
def rt(settings, fake_store):
    s = settings.replace(event_transport="jetstream", nats_max_deliver=3, nats_nak_delay_s=2.0, nats_ack_wait_s=1.0)
    return Runtime(s, fake_store, WorkQueue(10, 10), None, "food11-test", Metrics(), "w-test")


@pytest.fixture
def consumer(rt):
    return JetStreamConsumer(rt, capacity=4)


def run(consumer: JetStreamConsumer, steps):
    """Run `steps(loop)` on an event loop that the consumer takes as its own, then let settlements land."""

    async def main():
        consumer._loop = asyncio.get_running_loop()
        consumer._room = asyncio.Event()
        await steps()
        for _ in range(5):
            await asyncio.sleep(0.01)

    asyncio.run(main())


def dropped(store, key: str = "a.jpg") -> str:
    store.put("incoming", key, photo())
    return store.head("incoming", key).etag


def finish(rt, result, from_thread: bool = False) -> Item:
    """What a worker does with the next item: take it, work it (here: `result`), report it done."""
    item = rt.queue.take(0.1)
    assert item is not None

    def done():
        rt.queue.done(item, result)

    if from_thread:
        worker = threading.Thread(target=done)
        worker.start()
        worker.join()
    else:
        done()
    return item


@pytest.mark.parametrize(
    ("result", "how"),
    [
        *[(r, Settle.ACK) for r in Result if r is not Result.UNAVAILABLE],
        (Result.UNAVAILABLE, Settle.NAK),
        (None, Settle.NAK),
    ],
)
def test_only_a_result_that_recorded_nothing_gives_the_message_back(result, how):
    assert settlement(result) is how


def test_the_last_delivery_is_terminated_instead_of_given_back():
    assert on_last_delivery(Settle.NAK, 2, 3) is Settle.NAK
    assert on_last_delivery(Settle.NAK, 3, 3) is Settle.TERM
    assert on_last_delivery(Settle.ACK, 3, 3) is Settle.ACK


def test_a_message_is_acked_only_once_its_photo_is_done(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))

    async def steps():
        await consumer._take(msg)
        # GIVEN the photo queued and waiting: the message is not settled yet
        assert msg.settled == [] and rt.queue.depth()["live"] == 1 and consumer.in_hand() == 1
        # WHEN a worker reports the photo done, from its own thread
        finish(rt, Result.DONE, from_thread=True)
        await asyncio.sleep(0.02)
        # THEN the message is acknowledged, once
        assert msg.settled == [("ack",)] and consumer.in_hand() == 0

    run(consumer, steps)


def test_a_message_for_a_photo_already_held_waits_for_that_result(rt, consumer, fake_store):
    etag = dropped(fake_store)
    rt.queue.offer(Item("incoming", "a.jpg", etag, BACKLOG))  # the reconciler (or the nudge) got there first
    first, second = FakeMsg(event_body("a.jpg", etag)), FakeMsg(event_body("a.jpg", etag), delivered=2)

    async def steps():
        await consumer._take(first)
        await consumer._take(second)
        assert rt.queue.depth()["held"] == 1, "queued twice"
        assert first.settled == second.settled == []
        finish(rt, Result.DONE)

    run(consumer, steps)
    assert first.settled == second.settled == [("ack",)]


@pytest.mark.parametrize("result", [Result.UNAVAILABLE, None], ids=["minio-down-before-claim", "worker-bug"])
def test_trouble_that_recorded_nothing_naks_with_a_growing_delay(rt, consumer, fake_store, result):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)), delivered=2)

    async def steps():
        await consumer._take(msg)
        finish(rt, result)

    run(consumer, steps)
    assert msg.settled == [("nak", 4.0)]  # nats_nak_delay_s x the deliveries so far


def test_at_its_delivery_limit_a_message_is_terminated_and_the_photo_left_in_incoming(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)), delivered=3)

    async def steps():
        await consumer._take(msg)
        finish(rt, Result.UNAVAILABLE)

    run(consumer, steps)
    assert msg.settled == [("term",)] and fake_store.keys("incoming") == ["a.jpg"]


def test_a_final_failure_is_acked_the_reconciler_retries_it(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))

    async def steps():
        await consumer._take(msg)
        finish(rt, Result.FAILED)

    run(consumer, steps)
    assert msg.settled == [("ack",)]


def work(rt) -> Result:
    """What a worker does with the next item, for real: the conditional GET first (nothing else is asked here)."""
    item = rt.queue.take(0.1)
    assert item is not None
    result = process(rt, item)
    rt.queue.done(item, result)
    return result


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda store: "0" * 32, Result.GONE),
        (lambda store: (dropped(store), store.put("incoming", "a.jpg", photo("10_36.jpg")))[0], Result.STALE),
    ],
)
def test_a_message_for_a_photo_gone_or_replaced_is_acked_once_the_workers_get_says_so(
    rt, consumer, fake_store, prepare, expected
):
    msg = FakeMsg(event_body("a.jpg", prepare(fake_store)))

    async def steps():
        asked = len(fake_store.calls)
        await consumer._take(msg)
        # The consumer asks MinIO nothing: the photo is queued, the message waits for the worker's result
        assert fake_store.calls[asked:] == [] and msg.settled == [] and rt.queue.depth()["held"] == 1
        assert work(rt) is expected

    run(consumer, steps)
    assert msg.settled == [("ack",)] and rt.queue.depth()["held"] == 0


def test_minio_down_when_the_worker_gets_the_photo_naks_the_message(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))

    async def steps():
        await consumer._take(msg)
        fake_store.down = True
        assert work(rt) is Result.UNAVAILABLE

    run(consumer, steps)
    assert msg.settled == [("nak", 2.0)] and rt.queue.depth()["held"] == 0 and fake_store.keys("incoming") == ["a.jpg"]


@pytest.mark.parametrize(
    ("body", "how"),
    [
        pytest.param(b"not json", ("term",), id="malformed"),
        pytest.param(event_body("a.jpg", "e", name="s3:ObjectCreated:PutTagging"), ("ack",), id="tagging"),
        pytest.param(event_body("a.jpg", "e", bucket="production"), ("ack",), id="other-bucket"),
        pytest.param(event_body("folder/", "e", size=None), ("ack",), id="folder-marker"),
        pytest.param(event_body("a/../b.jpg", "e"), ("ack",), id="impossible-key"),
    ],
)
def test_a_message_that_is_never_work_is_settled_at_once(rt, consumer, body, how):
    msg = FakeMsg(body)
    run(consumer, lambda: consumer._take(msg))
    assert msg.settled == [how] and rt.queue.depth()["held"] == 0


def test_room_counts_live_photos_and_those_worked_never_the_backlog(rt, consumer, fake_store):
    for i in range(3):
        rt.queue.offer(Item("incoming", f"b{i}.jpg", "e", BACKLOG))
    assert consumer._free() == 4
    rt.queue.offer(Item("incoming", "live.jpg", "e"))
    assert consumer._free() == 3
    rt.queue.take(0.1)  # the live one, now in flight
    assert consumer._free() == 3


def test_a_closed_queue_gives_the_message_back_at_once(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))
    rt.queue.close()
    run(consumer, lambda: consumer._take(msg))
    assert msg.settled == [("nak", None)]


def test_at_the_end_what_was_never_worked_goes_back_at_once(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))

    async def steps():
        await consumer._take(msg)
        await consumer._give_back()

    run(consumer, steps)
    assert msg.settled == [("nak", None)] and consumer.in_hand() == 0


def test_a_waiting_message_has_its_deadline_extended(rt, consumer, fake_store):
    msg = FakeMsg(event_body("a.jpg", dropped(fake_store)))

    async def steps():
        await consumer._take(msg)
        keep = asyncio.ensure_future(consumer._keep_alive())
        await asyncio.sleep(0.8)  # nats_ack_wait_s 1: extended every third of it
        keep.cancel()

    run(consumer, steps)
    assert msg.progress >= 2 and msg.settled == []


def test_a_message_for_a_version_this_process_deleted_is_acked_without_work(rt, consumer, fake_store):
    # GIVEN a photo this replica finished (after the nudge) and deleted by its version id
    doc = json.loads(event_body("a.jpg", dropped(fake_store)))
    doc["Records"][0]["s3"]["object"]["versionId"] = "5f3c1b7e-0000-4000-8000-000000000001"
    rt.queue.deleted("5f3c1b7e-0000-4000-8000-000000000001")
    msg = FakeMsg(json.dumps(doc).encode())
    # WHEN MinIO's late message for it arrives
    run(consumer, lambda: consumer._take(msg))
    # THEN it is acknowledged at once, and nothing is queued
    assert msg.settled == [("ack",)] and rt.queue.depth()["held"] == 0
