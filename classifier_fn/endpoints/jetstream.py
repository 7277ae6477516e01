"""The JetStream consumer (EVENT_TRANSPORT=jetstream): pulls MinIO's events from the stream as this process has
room for them, and settles each message once the photo's outcome says how it ended.

Every function replica pulls from one durable consumer, so each message goes to one replica at a time (the
claims in MinIO still make sure one photo gets one production object, whatever a message does):

- **Room.** A message is fetched only while the live queue and the workers hold fewer photos than `capacity`:
  a busy replica leaves the stream's messages to the others (backpressure), where a webhook pushes regardless.
- **Ack only at the end.** A message stays unacknowledged while its photo waits or is worked, its deadline
  extended (in progress) every third of `nats_ack_wait_s`; it is acknowledged once the worker's result is final
  for this message: the photo's record is done, rejected or failed with its retry time, or another worker or a
  newer version owns the photo, or it is gone. A message for a photo already held (by another message, the
  nudge or the reconciler) waits for that one's result.
- **Transient trouble** (MinIO unreachable before anything was recorded, a worker's bug) naks it with a delay,
  so it comes back; at its last delivery it is terminated instead, and the photo, still in `incoming`, is left
  to the reconciler, the net under every transport.

nats-py is asyncio: the client lives on an event loop in this module's own thread. Workers report results from
their threads through the queue's done listener, which hands them to the loop (`call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import threading
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg

from classifier_fn.pipeline.admission import Admission, screen
from classifier_fn.pipeline.events import MalformedEvent, parse_body
from classifier_fn.pipeline.queue import BACKLOG, LIVE, Item
from classifier_fn.pipeline.worker import Result
from classifier_fn.runtime import Runtime
from gourmetgram import bus, model_registry, names

log = logging.getLogger(__name__)

FETCH_WAIT_S = 2.0  # one pull request lingers this long for a message (and stopping waits at most this)
RECONNECT_PAUSE_S = 2.0  # between attempts to reach NATS or to find the consumer


class Settle(enum.Enum):
    ACK = "ack"
    NAK = "nak"  # give it back, to come again after a delay
    TERM = "term"  # never again: nothing to do with it, or its photo is left to the reconciler


def settlement(result: Result | None) -> Settle:
    """How a worker's result settles the message(s) waiting for it. UNAVAILABLE and a bug (None) recorded
    nothing: the message comes back. Anything else is final for the message: the record says how the photo
    ended, or another worker, or a newer version, owns it (its own message or the reconciler brings it)."""
    if result is None or result is Result.UNAVAILABLE:
        return Settle.NAK
    return Settle.ACK


def on_last_delivery(how: Settle, delivered: int, max_deliver: int) -> Settle:
    """A message that would come back after its last delivery is terminated: the reconciler takes its photo."""
    return Settle.TERM if how is Settle.NAK and delivered >= max_deliver else how


@dataclass
class ConsumerStatus:
    connected: bool = False
    server: str = ""
    problem: str = ""  # why nothing is being consumed, if so
    settled: collections.Counter = field(default_factory=collections.Counter)


class JetStreamConsumer:
    """Started with `start`; `stop_taking` ends fetching, `close` gives back what was never worked and
    disconnects (in between, workers finish what they hold and their messages are settled)."""

    def __init__(self, rt: Runtime, capacity: int | None = None):
        s = rt.settings
        self._rt = rt
        self.capacity = capacity or max(2 * s.workers, s.batch_size)
        self.status = ConsumerStatus()
        # Messages waiting for an item's result, by the item's object version; the lock makes "is it held? then
        # wait for it" atomic with the worker's "done: who waited?".
        self._waiting: dict[tuple[str, str, str], list[Msg]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._taking = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jetstream", daemon=True)
        self._room: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        rt.queue.on_done(self._item_done)

    # --- the worker threads' side ---------------------------------------------------------------
    def start(self) -> JetStreamConsumer:
        self._taking.set()
        self._thread.start()
        return self

    def stop_taking(self) -> None:
        self._taking.clear()

    def close(self, timeout_s: float = 10.0) -> None:
        self._taking.clear()
        self._closed.set()
        self._call(lambda: None)  # wake the loop
        self._thread.join(timeout_s)

    def in_hand(self) -> int:
        with self._lock:
            return sum(len(msgs) for msgs in self._waiting.values())

    def describe(self) -> dict:
        """For /readyz."""
        st = self.status
        return {
            "connected": st.connected,
            "server": st.server,
            "problem": st.problem,
            "in_hand": self.in_hand(),
            "capacity": self.capacity,
            "settled": dict(st.settled),
        }

    def _item_done(self, item: Item, result: object) -> None:
        with self._lock:
            msgs = self._waiting.pop(item.identity, [])
        how = settlement(result if isinstance(result, Result) else None)
        for msg in msgs:
            self._call(lambda m=msg: self._spawn(self._settle(m, how, f"{item.key}: {result}")))
        self._call(lambda: self._room and self._room.set())

    def _call(self, callback) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # closed meanwhile
                pass

    # --- the loop's side ----------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._room = asyncio.Event()
        client = await self._connect()
        if client is None:
            return
        try:
            self._spawn(self._keep_alive())
            await self._consume(client)
            while not self._closed.is_set():
                await asyncio.sleep(0.1)
            await self._give_back()
        finally:
            for task in list(self._tasks):
                task.cancel()
            try:
                await client.flush(timeout=2)
            except (TimeoutError, nats.errors.Error):
                pass
            await client.close()

    async def _connect(self):
        async def changed(what: str) -> None:
            self.status.connected = what == "reconnected"
            if client.connected_url:
                self.status.server = client.connected_url.netloc

        while not self._closed.is_set():
            try:
                client = await bus.connect(
                    self._rt.settings, f"gourmetgram-function-{self._rt.worker_id}", on_change=changed
                )
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                self.status.problem = f"cannot reach NATS at {self._rt.settings.nats_url}: {exc}"
                log.warning(
                    "%s; trying again in %g s (the reconciler still finds new photos)",
                    self.status.problem,
                    RECONNECT_PAUSE_S,
                )
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            self.status.connected, self.status.server = True, client.connected_url.netloc
            return client
        return None

    async def _subscribe(self, client):
        js = client.jetstream(timeout=5)
        while self._taking.is_set():
            try:
                await js.consumer_info(names.STREAM_NAME, names.CONSUMER_NAME)
                self.status.problem = ""
                return await js.pull_subscribe_bind(names.CONSUMER_NAME, stream=names.STREAM_NAME)
            except nats.js.errors.NotFoundError:
                self.status.problem = (
                    f"no consumer {names.CONSUMER_NAME} on stream {names.STREAM_NAME}: run "
                    f"`gourmetgram configure` with EVENT_TRANSPORT=jetstream"
                )
            except (TimeoutError, nats.errors.Error) as exc:
                self.status.problem = f"cannot look up the consumer: {exc.__class__.__name__}: {exc}"
            log.warning("%s; trying again in %g s", self.status.problem, RECONNECT_PAUSE_S)
            await asyncio.sleep(RECONNECT_PAUSE_S)
        return None

    def _free(self) -> int:
        depth = self._rt.queue.depth()
        # Backlog photos wait at the reconciler's rate and never keep live events out.
        return self.capacity - (depth["held"] - depth[BACKLOG])

    async def _consume(self, client) -> None:
        sub = await self._subscribe(client)
        while sub is not None and self._taking.is_set():
            if self._free() <= 0:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), timeout=0.5)
                except TimeoutError:
                    pass
                continue
            try:
                msgs = await sub.fetch(1, timeout=FETCH_WAIT_S)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as exc:  # disconnected, or the consumer went away: the client reconnects
                log.warning("fetching from %s: %s: %s", names.STREAM_NAME, exc.__class__.__name__, exc)
                await asyncio.sleep(RECONNECT_PAUSE_S / 4)
                continue
            for msg in msgs:
                await self._take(msg)

    async def _take(self, msg: Msg) -> None:
        """Admit one message: nothing to do (settled now), or its photo queued, the message waiting for it."""
        try:
            events = parse_body(msg.data)
        except MalformedEvent as exc:
            log.warning(
                "message %s of %s is not a MinIO event: %s", msg.metadata.sequence.stream, names.STREAM_NAME, exc
            )
            return await self._settle(msg, Settle.TERM, "malformed")
        if len(events) != 1:  # MinIO publishes one record per message
            return await self._settle(msg, Settle.TERM, f"{len(events)} records")
        event = events[0]
        if event.bucket == model_registry.BUCKET:  # an alias changed: never a photo
            self._rt.model_event()
            return await self._settle(msg, Settle.ACK, Admission.MODEL.value)
        screened = screen(event, self._rt.settings.bucket_incoming)
        if screened is not None:
            return await self._settle(msg, Settle.ACK, screened.value)
        if self._rt.queue.was_deleted(event.version_id):
            return await self._settle(msg, Settle.ACK, Admission.GONE.value)  # this process deleted that version
        # No request here: the worker's GET, conditional on the event's ETag and version, is the check (a photo
        # gone or replaced meanwhile ends as GONE or STALE, and the message is acknowledged then).
        item = Item(event.bucket, event.key, event.etag, LIVE, event.time, event.version_id)
        with self._lock:
            if self._rt.queue.offer(item) or self._rt.queue.holds(*item.identity):
                self._waiting.setdefault(item.identity, []).append(msg)
                return
        await self._settle(msg, Settle.NAK, "stopping", delay_s=0)  # the queue is closed: another replica takes it

    async def _settle(self, msg: Msg, how: Settle, why: str, delay_s: float | None = None) -> None:
        s = self._rt.settings
        delivered = msg.metadata.num_delivered
        how = on_last_delivery(how, delivered, s.nats_max_deliver)
        try:
            if how is Settle.ACK:
                await msg.ack()
            elif how is Settle.NAK:
                delay = s.nats_nak_delay_s * delivered if delay_s is None else delay_s
                await msg.nak(delay=delay or None)  # no delay: another replica may take it at once
            else:
                if delivered >= s.nats_max_deliver:
                    log.warning(
                        "a message delivered %d times is terminated, its photo left to the reconciler (%s)",
                        delivered,
                        why,
                    )
                await msg.term()
        except nats.errors.Error as exc:  # already settled, or the connection is gone: it comes back by itself
            log.warning("could not %s a message (%s): %s", how.value, why, exc)
            return
        self.status.settled[how.value] += 1
        self._rt.metrics.jetstream.labels(settled=how.value).inc()

    async def _keep_alive(self) -> None:
        """Extend the deadline of every message still waiting for its photo (in progress), well before it ends."""
        every = self._rt.settings.nats_ack_wait_s / 3
        while True:
            await asyncio.sleep(every)
            with self._lock:
                msgs = [m for waiting in self._waiting.values() for m in waiting]
            for msg in msgs:
                try:
                    await msg.in_progress()
                except nats.errors.Error:
                    pass

    async def _give_back(self) -> None:
        """At the end, every message still waiting (its photo never worked here) goes back at once."""
        with self._lock:
            msgs = [m for waiting in self._waiting.values() for m in waiting]
            self._waiting.clear()
        for msg in msgs:
            await self._settle(msg, Settle.NAK, "stopping", delay_s=0)
