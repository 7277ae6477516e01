"""The frontend's Nudger: it tells the function about an upload at /nudge, with the nudge token only."""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram.held_nudge import HELD, HOLD_S
from gourmetgram.settings import Settings
from ingest.arrivals import Arrivals
from ingest.nudger import UNHELD_SENDERS, WAITING, Nudger

WEBHOOK_TOKEN = "the-webhook-token-only-minio-holds"


class Recorder(BaseHTTPRequestHandler):
    """A stand-in function: records each POST and answers with the status the test set."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path.endswith("wait=0"):
            self.server.unheld.set()
        else:
            self.server.gate.wait(30)  # a held nudge: answered once the test opens the gate
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(self.server.answer)))
        self.end_headers()
        self.wfile.write(self.server.answer)
        self.server.arrived.set()

    def log_message(self, *args):
        pass


class Function(ThreadingHTTPServer):
    request_queue_size = 128  # 33 nudges at once: the default backlog of 5 would drop connections


@pytest.fixture
def function():
    server = Function(("127.0.0.1", 0), Recorder)
    server.seen, server.status, server.arrived, server.answer = [], 202, threading.Event(), b""
    server.gate, server.unheld = threading.Event(), threading.Event()
    server.gate.set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def settings_for(server, **more) -> Settings:
    return Settings(function_url=f"http://127.0.0.1:{server.server_port}", webhook_token=WEBHOOK_TOKEN, **more)


@pytest.mark.parametrize("nudge_token", [None, "a-token-for-nudges-only"], ids=["derived", "set"])
def test_the_nudger_posts_key_and_etag_to_the_nudge_endpoint_with_the_nudge_token(function, nudge_token):
    settings = settings_for(function, nudge_token=nudge_token)
    Nudger(settings).nudge(
        "0190a0b4-7c1e-7a3b-8f00-0123456789ab",
        "0190a0b4-7c1e-7a3b-8f00-0123456789ab.jpg",
        "d41d8cd98f00b204e9800998ecf8427e",
    )
    assert function.arrived.wait(10)
    [seen] = function.seen
    assert seen["path"] == "/nudge?wait=3"
    assert seen["headers"]["Authorization"] == f"Bearer {settings.effective_nudge_token}"
    assert json.loads(seen["body"]) == {
        "key": "0190a0b4-7c1e-7a3b-8f00-0123456789ab.jpg",
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
    }
    # The webhook's credential never leaves the frontend, in any form
    assert WEBHOOK_TOKEN not in json.dumps(seen["headers"]) + seen["body"].decode()
    if nudge_token:
        assert settings.effective_nudge_token == nudge_token


def test_a_refused_nudge_is_logged_as_a_warning_not_raised(function, caplog):
    function.status = 401
    Nudger(settings_for(function)).nudge("k", "k.jpg", "e")
    assert function.arrived.wait(10)
    for _ in range(100):
        if any("refused the nudge (401" in r.getMessage() for r in caplog.records):
            break
        time.sleep(0.05)
    assert any(r.levelname == "WARNING" and "refused the nudge (401" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("answer", "announced"),
    [
        pytest.param(b'{"key": "k.jpg", "result": "queued", "finished": "done"}', True, id="held-until-done"),
        pytest.param(b'{"key": "k.jpg", "result": "duplicate", "finished": "failed"}', True, id="held-until-failed"),
        pytest.param(b'{"key": "k.jpg", "result": "gone"}', True, id="already-done-by-minio-s-event"),
        pytest.param(b'{"key": "k.jpg", "result": "queued", "finished": null}', False, id="not-done-in-time"),
        pytest.param(b'{"key": "k.jpg", "result": "queued", "finished": "busy"}', False, id="another-worker-has-it"),
        pytest.param(b'{"key": "k.jpg", "result": "queued", "finished": "error"}', False, id="a-worker-s-bug"),
        pytest.param(b'{"key": "k.jpg", "result": "queued"}', False, id="not-held"),
        pytest.param(b"[1]", False, id="not-an-object"),
        pytest.param(b"<html>", False, id="not-json"),
    ],
)
def test_the_function_s_answer_wakes_the_photo_s_long_poll_only_when_it_is_done(function, answer, announced):
    function.answer = answer
    arrivals = Arrivals()
    nudger = Nudger(settings_for(function), arrivals)
    nudger.nudge("k", "k.jpg", "e")
    nudger._pool.shutdown(wait=True)  # the answer has been read
    assert ("k" in arrivals) is announced


def test_past_the_held_nudges_a_nudge_goes_out_unheld_at_once(function):
    function.gate.clear()  # every held nudge stays held
    nudger = Nudger(settings_for(function))
    for i in range(HELD + 1):
        nudger.nudge(f"p{i}", f"p{i}.jpg", "e")
    try:
        assert function.unheld.wait(20), "the nudge past the held ones waited for a free thread"
        for _ in range(400):  # the held ones were all sent before; they may still be arriving
            held = [seen["path"] for seen in function.seen if seen["path"].endswith(f"wait={HOLD_S:g}")]
            if len(held) >= HELD:
                break
            time.sleep(0.05)
        assert len(held) == HELD
    finally:
        function.gate.set()
        nudger._pool.shutdown(wait=True)


def test_a_function_that_never_answers_leaves_a_bounded_backlog_and_drops_the_rest(caplog):
    # GIVEN a function that takes connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1024)
        nudger = Nudger(Settings(function_url=f"http://127.0.0.1:{silent.getsockname()[1]}", webhook_token="t"))
        # WHEN far more uploads are nudged than it could take
        for i in range(500):
            nudger.nudge(f"p{i}", f"p{i}.jpg", "e")
        # THEN the senders and a bounded queue hold some; the rest are dropped, said, and left to MinIO's event
        capacity = HELD + UNHELD_SENDERS + WAITING
        assert nudger.dropped == 500 - capacity
        assert nudger._pool._work_queue.qsize() <= capacity
        assert "not answering nudges" in caplog.text
    nudger._pool.shutdown(wait=False, cancel_futures=True)


def test_an_answer_that_is_not_http_is_logged_not_lost_in_the_executor(caplog):
    caplog.set_level(logging.INFO, logger="ingest.nudger")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer_garbage():
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"INFO {}\r\n")  # a NATS port, say, where the function should be

        threading.Thread(target=answer_garbage, daemon=True).start()
        nudger = Nudger(Settings(function_url=f"http://127.0.0.1:{server.getsockname()[1]}", webhook_token="t"))
        nudger.nudge("k", "k.jpg", "e")
        nudger._pool.shutdown(wait=True)
    assert any("could not nudge the function" in r.getMessage() for r in caplog.records)


def test_a_frontend_without_nudge_token_says_its_nudges_carry_the_public_default(caplog):
    from gourmetgram.settings import FrontendSettings
    from ingest.nudger import Nudger

    with caplog.at_level("WARNING", logger="ingest.nudger"):
        Nudger(FrontendSettings())
    assert "NUDGE_TOKEN is unset" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ingest.nudger"):
        Nudger(FrontendSettings(nudge_token="a-token-of-its-own"))
    assert "NUDGE_TOKEN" not in caplog.text
