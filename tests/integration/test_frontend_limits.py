"""The real frontend (`gourmetgram serve-web`, waitress) stays responsive to hostile and slow clients."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram_tools.client import post_photo
from tests.conftest import photo
from tests.stack import wait_final, wait_until

pytestmark = pytest.mark.integration
TIMEOUT_S = 5  # generous: each of these used to hang for about 27 s or for ever


def get(url: str, timeout: float = TIMEOUT_S) -> tuple[int, dict, float]:
    """(status, JSON body, seconds taken)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (the test's own frontend)
            return r.status, json.load(r), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc), time.monotonic() - started


def open_request(port: int, path: str) -> socket.socket:
    """A GET sent on a socket of its own; the caller reads the answer, or hangs up."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    return sock


@contextlib.contextmanager
def pending_record(store):
    """A `pending` record with no photo behind it: polls on its id really wait."""
    pid = names.upload_id()
    store.put_json(
        "events",
        names.record_key(pid),
        Outcome(id=pid, status=Status.PENDING, incoming_key=f"{pid}.jpg", incoming_etag="e", source="web").to_json(),
    )
    try:
        yield pid
    finally:
        store.delete("events", names.record_key(pid))


class HostileClients:
    """`count` clients, each keeping one hostile request open, sending the next as soon as one is answered."""

    def __init__(self, port: int, paths: list, count: int):
        self.port, self.paths, self.count = port, paths, count
        self.stop = threading.Event()
        self.answers: Counter = Counter()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, i: int) -> None:
        make = self.paths[i % len(self.paths)]
        while not self.stop.is_set():
            with open_request(self.port, make()) as sock:
                sock.settimeout(0.2)
                reply = b""
                while not self.stop.is_set():
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        with self._lock:
                            self.answers[reply[9:12].decode() or "closed"] += 1
                        break
                    reply += chunk

    def __enter__(self) -> HostileClients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def test_the_frontend_answers_while_100_hostile_polls_are_open(stack, store):
    port = stack.settings.web_port
    # GIVEN a photo already labelled, and a pending record that never becomes final
    done_id = post_photo(stack.web_url, photo("9_452.jpg"))["id"]
    assert wait_final(store, done_id)["status"] == "done"
    with pending_record(store) as pending:
        # WHEN 100 clients keep hostile polls open: wait=nan, 30 s on unknown ids, 30 s on a pending photo
        paths = [
            lambda: f"/predictions/{pending}?wait=nan",
            lambda: f"/predictions/{uuid.uuid4()}?wait=30",
            lambda: f"/predictions/{pending}?wait=30",
        ]
        with HostileClients(port, paths, 100) as hostile:
            time.sleep(2)
            # THEN the health check, an upload and a poll of a done photo each answer
            status, body, healthz_s = get(f"{stack.web_url}/healthz")
            assert status == 200 and body == {"status": "ok"}
            started = time.monotonic()
            accepted = post_photo(stack.web_url, photo("7_226.jpg"), timeout=TIMEOUT_S)
            upload_s = time.monotonic() - started
            assert accepted["status"] == "pending"
            status, body, poll_s = get(f"{stack.web_url}/predictions/{done_id}?wait=30")
            assert status == 200 and body["status"] == "done"
        print(
            f"\nunder 100 hostile polls: /healthz {healthz_s * 1000:.0f} ms, upload {upload_s * 1000:.0f} ms, "
            f"poll of a done photo {poll_s * 1000:.0f} ms; hostile answers {dict(hostile.answers)}"
        )
        # AND the hostile requests themselves were answered: 400 for nan, 404 for unknown ids
        assert hostile.answers["400"] > 0 and hostile.answers["404"] > 0
    assert wait_final(store, accepted["id"])["status"] == "done"


def test_polls_whose_clients_hang_up_give_their_slot_back(stack, store):
    port, cap = stack.settings.web_port, stack.settings.long_poll_max_concurrent
    with pending_record(store) as pending:
        # GIVEN no poll waiting any more (those of earlier tests stop within a fraction of a second) ...
        wait_until(lambda: get(f"{stack.web_url}/predictions/{pending}?wait=1")[2] >= 0.9, 10, "a free slot")
        # ... then every long-poll slot taken by a client waiting 30 s
        waiting = [open_request(port, f"/predictions/{pending}?wait=30") for _ in range(cap)]
        time.sleep(2)
        # THEN one more poll does not get to wait: it answers the current status at once
        status, body, capped_s = get(f"{stack.web_url}/predictions/{pending}?wait=8", timeout=20)
        assert status == 200 and body["status"] == "pending"
        assert capped_s < 6, f"a poll past the cap waited {capped_s:.1f} s"
        # WHEN those clients hang up
        for sock in waiting:
            sock.close()
        time.sleep(2)
        # THEN the frontend stopped their polls: a new poll gets a slot and waits its full time
        status, body, waited_s = get(f"{stack.web_url}/predictions/{pending}?wait=8", timeout=20)
        assert status == 200 and body["status"] == "pending"
        assert waited_s >= 7.5, f"the slots of gone clients were still held: the poll answered in {waited_s:.1f} s"
    print(
        f"\npast the cap of {cap}: answered in {capped_s * 1000:.0f} ms; after the clients left: waited "
        f"{waited_s:.1f} s of 8"
    )


def test_150_slow_sockets_do_not_stop_healthz(stack):
    port = stack.settings.web_port
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()  # never finished
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:  # one more byte of the request headers on every socket every 2 s
        sent = 1
        while not stop.wait(2):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(request[sent : sent + 1])
            sent += 1

    try:
        # GIVEN 150 sockets sending their request headers a byte every 2 s
        for _ in range(150):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.send(request[:1])
            slow.append(sock)
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        time.sleep(5)
        # THEN /healthz still answers
        status, body, seconds = get(f"{stack.web_url}/healthz")
        assert status == 200 and body == {"status": "ok"}
        print(f"\n/healthz beside 150 slow sockets: {seconds * 1000:.0f} ms")
        # AND the slow sockets were not simply dropped: they are still open, still trickling
        for sock in slow:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)  # nothing to read and not closed (recv would return b"")
    finally:
        stop.set()
        for sock in slow:
            sock.close()
