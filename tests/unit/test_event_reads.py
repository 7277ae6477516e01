"""Shared reads of the event log: one read at a time, at most one a second, never an answer older than
the request, and a 503 at once past the waiting requests allowed."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gourmetgram.store import StoreUnavailable
from ingest.event_reads import EventLogBusy, SharedRead


class Gate:
    """A read that blocks until opened, counting how often it ran."""

    def __init__(self):
        self.runs = 0
        self.opened = threading.Event()
        self.entered = threading.Event()

    def __call__(self):
        self.runs += 1
        self.entered.set()
        assert self.opened.wait(10)
        return self.runs


def test_requests_during_a_read_wait_for_one_that_began_after_them_and_the_rest_are_refused():
    gate = Gate()
    shared = SharedRead(gate, every_s=0.2, max_waiting=3)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(shared.get)
        assert gate.entered.wait(5)
        # WHILE the first read runs, seven more requests arrive: three may wait, four are refused at once
        later = [pool.submit(shared.get) for _ in range(7)]
        time.sleep(0.3)
        refused = [f for f in later if f.done()]
        assert len(refused) == 4 and all(isinstance(f.exception(), EventLogBusy) for f in refused)
        gate.opened.set()
        assert first.result(5) == 1
        waited = [f.result(5) for f in later if f not in refused]
    # THEN the three that waited got the next read (one began after they arrived), run once for all three
    assert waited == [2, 2, 2] and gate.runs == 2


def test_reads_are_at_most_one_per_interval_and_never_older_than_the_request():
    runs = []
    shared = SharedRead(lambda: runs.append(time.monotonic()) or len(runs), every_s=0.3)
    started = time.monotonic()
    assert [shared.get() for _ in range(4)] == [1, 2, 3, 4]  # each request saw a read of its own time
    assert all(b - a >= 0.29 for a, b in zip(runs, runs[1:], strict=False))
    assert time.monotonic() - started >= 0.89


def test_a_failed_read_is_every_waiting_requests_answer():
    def fail():
        raise StoreUnavailable("MinIO unreachable (test)")

    shared = SharedRead(fail, every_s=0.05)
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            shared.get()
