"""Helpers for the JetStream tests: the stream's state as NATS reports it, a purge, bursts dropped in the
background, and the exactly-once check over everything a test dropped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import time
from dataclasses import dataclass

import nats.errors
import nats.js.errors

from gourmetgram import bus, names
from gourmetgram.settings import Settings
from gourmetgram.store import AlreadyExists, Store
from gourmetgram_tools import front
from gourmetgram_tools.client import Dropped
from tests.conftest import photo
from tests.stack import wait_final, wait_until

PHOTOS = ["9_452.jpg", "10_36.jpg", "4_87.jpg", "7_226.jpg", "1_17.jpg"]


@dataclass(frozen=True)
class StreamState:
    messages: int  # in the stream: not yet acknowledged (work-queue retention)
    ack_pending: int  # handed to a replica, not yet settled
    pending: int  # not yet handed out
    leader: str  # the stream's leader node ("" alone)


def _run(settings: Settings, work, attempts: int = 4):
    """`work(js)` on a fresh connection; again after a moment when the cluster does not answer."""

    async def main():
        client = await bus.connect(settings, "gourmetgram-tests")
        try:
            return await work(client.jetstream(timeout=5))
        finally:
            await client.close()

    for attempt in range(attempts):
        try:
            return asyncio.run(main())
        # A node just restarted may not answer yet, or answer that JetStream is not ready.
        except (nats.errors.TimeoutError, TimeoutError, nats.errors.NoRespondersError, nats.js.errors.APIError):
            if attempt == attempts - 1:
                raise
            time.sleep(1)


def stream_state(settings: Settings) -> StreamState:
    async def work(js):
        stream = await js.stream_info(names.STREAM_NAME)
        consumer = await js.consumer_info(names.STREAM_NAME, names.CONSUMER_NAME)
        leader = stream.cluster.leader if stream.cluster else ""
        return StreamState(stream.state.messages, consumer.num_ack_pending, consumer.num_pending, leader or "")

    return _run(settings, work)


def purge_stream(settings: Settings) -> int:
    """Drop every message of the stream; returns how many were there."""

    async def work(js):
        before = (await js.stream_info(names.STREAM_NAME)).state.messages
        await js.purge_stream(names.STREAM_NAME)
        return before

    return _run(settings, work)


def drop_new(store: Store, key: str, data: bytes) -> Dropped:
    """A photo PUT into a fresh key of `incoming` as the frontend does it (If-None-Match): a PUT retried after its
    MinIO node was killed mid-request stores one version, never two, even when the first attempt had landed."""
    started = time.time()
    try:
        etag = store.create("incoming", key, data, content_type="application/octet-stream", metadata={})
    except AlreadyExists:  # only our own first attempt can hold this key; one PUT's ETag is its MD5
        etag = hashlib.md5(data).hexdigest()  # noqa: S324 (S3's ETag, not a safeguard)
    return Dropped("incoming", key, etag, started, time.time())


def drop_one(store: Store, prefix: str, i: int) -> tuple[str, Dropped]:
    data = photo(PHOTOS[i % len(PHOTOS)]) + f"#{prefix}{i}".encode()  # a distinct object per key
    key = f"{prefix}/{i:03d}.jpg"
    return key, drop_new(store, key, data)


class Burst:
    """`count` photos dropped from 4 threads while the test does something else; `wait` returns them."""

    def __init__(self, store: Store, prefix: str, count: int, every_s: float = 0.0):
        self.started = time.monotonic()
        self._pool = concurrent.futures.ThreadPoolExecutor(4 if not every_s else 1)
        self._futures = [self._pool.submit(self._one, store, prefix, i, every_s) for i in range(count)]

    @staticmethod
    def _one(store: Store, prefix: str, i: int, every_s: float) -> tuple[str, Dropped]:
        if every_s:
            time.sleep(every_s)
        return drop_one(store, prefix, i)

    def wait(self) -> dict[str, Dropped]:
        try:
            # A drop whose key a killed MinIO node had locked waits out that lock (up to 2 min, front.STALE_LOCK_S).
            return dict(f.result(timeout=300) for f in self._futures)
        finally:
            self._pool.shutdown()


class Ledger:
    """What production and events held before a test: afterwards, exactly one new production object and one new
    record per photo dropped, nothing else (no photo twice under two ids)."""

    def __init__(self, store: Store):
        self.store = store
        self.production = self._keys("production")
        self.events = self._keys("events")

    def _keys(self, bucket: str) -> set[str]:
        return {o.key for o in self.store.list(bucket)}

    def assert_each_once(self, drops: dict[str, Dropped], timeout: float = 180.0) -> list[dict]:
        records = [wait_final(self.store, dropped, timeout) for dropped in drops.values()]
        pids = {r["id"] for r in records}
        assert len(pids) == len(drops), "two photos ended under one id"
        for record in records:
            assert record["status"] == "done", record
        new_production = self._keys("production") - self.production
        assert sorted(new_production) == sorted(r["production_key"] for r in records), "a duplicate or a stray copy"
        new_events = self._keys("events") - self.events
        assert new_events == {names.record_key(pid) for pid in pids}, "a record for a photo twice"
        # A delete from incoming waits out a killed MinIO node's lock on that key, as a PUT does (front.STALE_LOCK_S).
        wait_until(
            lambda: not [o for o in self.store.list("incoming") if o.key in drops],
            front.STALE_LOCK_S + 30,
            "incoming drained",
        )
        return records
