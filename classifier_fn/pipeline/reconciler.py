"""Lists `incoming` and queues what events missed: lost events, drops while down, objects from before.

It lists object versions, not only the latest: with versioning on, a photo hidden by a newer upload under
its key or by a plain delete (a delete marker) is still a photo that reached `incoming` and is not worked
yet (a `failed` one waits for its retry), and the worker deletes exactly the version it worked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from classifier_fn.pipeline.queue import BACKLOG, Item, Offered, WorkQueue
from gourmetgram import names
from gourmetgram.store import Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    started_at: str = ""
    listed: int = 0
    queued: int = 0
    in_grace: int = 0  # too young: its live event is probably on the way
    in_flight: int = 0  # already queued or being worked on
    deferred: int = 0  # stopped while waiting for backlog room; the next pass takes it
    markers: int = 0  # zero-byte "folder/" objects, never photos
    errors: list[str] = field(default_factory=list)

    def count(self, offered: Offered) -> None:
        if offered is Offered.QUEUED:
            self.queued += 1
        elif offered is Offered.HELD:
            self.in_flight += 1  # a live event got there first
        else:
            self.deferred += 1


def reconcile_once(
    store: Store, bucket: str, queue: WorkQueue, grace_s: float, stop: threading.Event | None = None
) -> PassReport:
    """One pass over `bucket`. When the backlog queue is full it waits for room, so a long backlog drains
    at the backlog rate within one pass; live events never wait for it (they have a queue of their own)."""
    report = PassReport(started_at=names.now_iso())
    stop = stop or threading.Event()
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
    try:
        for info in store.list_versions(bucket):
            report.listed += 1
            if names.is_folder_marker(info.key, info.size):
                report.markers += 1
                continue
            if info.last_modified > cutoff:
                report.in_grace += 1
            elif queue.holds(bucket, info.key, info.etag):
                report.in_flight += 1
            else:
                offered = queue.offer_when_room(
                    Item(bucket, info.key, info.etag, lane=BACKLOG, version_id=info.version_id), stop
                )
                report.count(offered)
            if stop.is_set():
                break
    except StoreError as exc:
        report.errors.append(str(exc))
        log.warning("reconciler pass stopped: %s", exc)
    return report


class Reconciler:
    """Runs a pass at start and then every `interval_s` until stopped."""

    def __init__(
        self,
        store: Store,
        bucket: str,
        queue: WorkQueue,
        grace_s: float,
        interval_s: float,
        on_pass: Callable[[PassReport], None] | None = None,
    ):
        self._args = (store, bucket, queue, grace_s)
        self._interval = interval_s
        self._on_pass = on_pass or (lambda report: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            report = reconcile_once(*self._args, stop=self._stop)
            if report.queued:
                log.info("reconciler queued %d of %d objects in incoming", report.queued, report.listed)
            self._on_pass(report)
            self._stop.wait(self._interval)
