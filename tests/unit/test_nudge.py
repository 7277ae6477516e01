"""The frontend's Nudger: it tells the function about an upload at /nudge, with the nudge token only."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram.settings import Settings
from ingest.nudge import Nudger

WEBHOOK_TOKEN = "the-webhook-token-only-minio-holds"


class Recorder(BaseHTTPRequestHandler):
    """A stand-in function: records each POST and answers with the status the test set."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.arrived.set()

    def log_message(self, *args):
        pass


@pytest.fixture
def function():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen, server.status, server.arrived = [], 202, threading.Event()
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
    Nudger(settings).nudge("incoming", "0190a0b4-7c1e-7a3b-8f00-0123456789ab.jpg", "d41d8cd98f00b204e9800998ecf8427e",
                           12)
    assert function.arrived.wait(10)
    [seen] = function.seen
    assert seen["path"] == "/nudge"
    assert seen["headers"]["Authorization"] == f"Bearer {settings.effective_nudge_token}"
    assert json.loads(seen["body"]) == {"key": "0190a0b4-7c1e-7a3b-8f00-0123456789ab.jpg",
                                        "etag": "d41d8cd98f00b204e9800998ecf8427e"}
    # The webhook's credential never leaves the frontend, in any form
    assert WEBHOOK_TOKEN not in json.dumps(seen["headers"]) + seen["body"].decode()
    if nudge_token:
        assert settings.effective_nudge_token == nudge_token


def test_a_refused_nudge_is_logged_as_a_warning_not_raised(function, caplog):
    function.status = 401
    Nudger(settings_for(function)).nudge("incoming", "k.jpg", "e", 1)
    assert function.arrived.wait(10)
    for _ in range(100):
        if any("refused the nudge (401" in r.getMessage() for r in caplog.records):
            break
        time.sleep(0.05)
    assert any(r.levelname == "WARNING" and "refused the nudge (401" in r.getMessage() for r in caplog.records)
