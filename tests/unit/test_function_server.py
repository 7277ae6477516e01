"""How `serve-fn` runs uvicorn: its limits from the settings, and the connection limit on a real socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import gourmetgram_tools as cli
from gourmetgram.settings import Settings, SettingsError
from gourmetgram.store import Store
from gourmetgram_tools import function_server
from gourmetgram_tools.function_server import IdleConnections, LimitedH11Protocol, uvicorn_config
from tests.conftest import ROOT


@pytest.fixture
def served_config(fake_store, monkeypatch):
    """Runs `serve-fn` with `args`; returns the uvicorn.Config it would have served with."""
    configs = []

    def run(server, sockets=None):
        configs.append(server.config)
        server.started = True

    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: fake_store))
    monkeypatch.setattr(uvicorn.Server, "run", run)

    def serve(args: list[str]) -> uvicorn.Config:
        result = CliRunner().invoke(cli.main, ["serve-fn", "--port", "8999", *args])
        assert result.exit_code == 0, result.output
        return configs.pop()

    return serve


def test_serve_fn_sets_the_connection_limit_keep_alive_and_backlog(served_config):
    config = served_config(["--fixed", "function_connection_limit=300"])
    assert config.port == 8999
    # uvicorn answers 503 once this many connections are open, the asking one included: 300 held, one asking
    assert config.limit_concurrency == 301
    assert config.http.func is LimitedH11Protocol and config.http.keywords["limit"] == 300
    assert config.timeout_keep_alive == function_server.KEEP_ALIVE_S  # not uvicorn's 5 s by default
    assert config.backlog == function_server.BACKLOG < 2048  # accepts in one turn stay within the reserve
    assert config.log_config is None  # uvicorn's loggers go through our logging set-up and its filter


def test_serve_fn_uses_the_limit_the_open_files_allow(served_config, monkeypatch, caplog):
    monkeypatch.setattr(function_server, "fit_open_files", lambda limit, **kw: (40, f"{kw['setting']}: too few"))
    config = served_config(["--fixed", "function_connection_limit=300"])
    assert config.limit_concurrency == 41 and config.http.keywords["limit"] == 40
    assert "function_connection_limit: too few" in caplog.text


def test_serve_fn_exits_3_when_uvicorn_never_started(fake_store, monkeypatch):
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: fake_store))
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: None)
    assert CliRunner().invoke(cli.main, ["serve-fn"]).exit_code == 3


def test_the_connection_limit_is_a_fixed_value_of_at_least_one():
    assert Settings().function_connection_limit == 1000
    assert "FUNCTION_CONNECTION_LIMIT" not in Settings.env_names().values()  # nobody needs to tune it
    assert Settings(function_connection_limit=50).function_connection_limit == 50
    with pytest.raises(SettingsError, match="function_connection_limit 0 must be at least 1"):
        Settings(function_connection_limit=0)


def test_a_low_hard_limit_lowers_the_function_connection_limit_and_says_so():
    code = """
import json, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1024))
from gourmetgram_tools import function_server as f
from gourmetgram.openfiles import fit_open_files
limit, why = fit_open_files(1000, files_per_connection=f.FILES_PER_CONNECTION, reserved=f.FILES_RESERVED,
                            setting="FUNCTION_CONNECTION_LIMIT")
print(json.dumps({"limit": limit, "why": why, "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                  "reserved": f.FILES_RESERVED}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["soft"] == 1024 and got["limit"] == 1024 - got["reserved"]
    assert "FUNCTION_CONNECTION_LIMIT=1000" in got["why"] and f"at most {got['limit']} connections" in got["why"]


def test_idle_connections_are_kept_in_the_order_they_went_idle():
    idle, a, b, c = IdleConnections(), object(), object(), object()
    idle.idle(a, 1.0)
    idle.idle(b, 2.0)
    idle.idle(a, 3.0)  # still idle since 1.0
    assert idle.longest(besides=c) == (a, 1.0) and idle.longest(besides=a) == (b, 2.0)
    idle.forget(a)  # it asks something
    idle.idle(a, 4.0)  # and is idle again, now the most recent
    assert idle.longest(besides=c) == (b, 2.0)
    idle.forget(b)
    assert idle.longest(besides=a) is None and len(idle) == 1


# A real uvicorn on loopback with a tiny app: /healthz answers at once, /hold waits until released.
LIMIT = 3


@pytest.fixture
def limited():
    release = threading.Event()

    async def healthz(request):
        return PlainTextResponse("ok")

    async def hold(request):
        await run_in_threadpool(release.wait, 30)
        return PlainTextResponse("released")

    app = Starlette(routes=[Route("/healthz", healthz), Route("/hold", hold)])
    config = uvicorn_config(app, Settings(function_port=0), connection_limit=LIMIT)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    sockets: list[socket.socket] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append(sock)
        return sock

    try:
        yield server, connect, release
    finally:
        release.set()
        for sock in sockets:
            sock.close()
        server.should_exit = True
        thread.join(10)


def ask(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())


def answer(sock: socket.socket) -> str:
    """The status line of the answer on `sock`, or "closed" when the server closed it."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
    except ConnectionResetError:
        return "closed"
    return data.split(b"\r\n")[0].decode()


def closed_by_server(sock: socket.socket, wait_s: float = 5.0) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.settimeout(10)


def wait_for_connections(server: uvicorn.Server, count: int) -> None:
    for _ in range(200):
        if len(server.server_state.connections) == count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{len(server.server_state.connections)} connections open, expected {count}")


def test_a_new_connection_past_the_limit_closes_the_one_idle_longest(limited):
    server, connect, _ = limited
    # GIVEN the limit's worth of connections that never send a byte
    idle = [connect() for _ in range(LIMIT)]
    wait_for_connections(server, LIMIT)
    # WHEN one more connects and asks something
    newcomer = connect()
    ask(newcomer, "/healthz")
    # THEN it is answered, and the oldest idle connection was closed to make room for it
    assert answer(newcomer) == "HTTP/1.1 200 OK"
    assert closed_by_server(idle[0])
    assert not closed_by_server(idle[1], wait_s=0.2) and not closed_by_server(idle[2], wait_s=0.2)
    assert len(server.server_state.connections) == LIMIT


def test_a_flood_of_idle_connections_holds_at_most_the_limit(limited):
    server, connect, _ = limited
    flood = [connect() for _ in range(40)]
    wait_for_connections(server, LIMIT)
    assert sum(closed_by_server(sock, wait_s=0.5) for sock in flood) == 40 - LIMIT
    # The survivors are the newest, and a request on one of them is answered
    ask(flood[-1], "/healthz")
    assert answer(flood[-1]) == "HTTP/1.1 200 OK"


def test_a_connection_with_a_request_running_is_never_closed_for_room(limited):
    server, connect, release = limited
    # GIVEN every connection of the limit running a request
    working = [connect() for _ in range(LIMIT)]
    for sock in working:
        ask(sock, "/hold")
    for _ in range(200):
        if len(server.server_state.tasks) == LIMIT:
            break
        time.sleep(0.02)
    # WHEN one more asks, THEN it is refused at once with uvicorn's 503, and nobody's request is cut
    newcomer = connect()
    ask(newcomer, "/healthz")
    assert answer(newcomer) == "HTTP/1.1 503 Service Unavailable"
    release.set()
    assert [answer(sock) for sock in working] == ["HTTP/1.1 200 OK"] * LIMIT


def test_a_client_still_sending_its_headers_counts_as_idle(limited):
    server, connect, _ = limited
    slow = connect()
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: te")  # and never the rest
    others = [connect() for _ in range(LIMIT - 1)]
    wait_for_connections(server, LIMIT)
    newcomer = connect()
    ask(newcomer, "/healthz")
    assert answer(newcomer) == "HTTP/1.1 200 OK"
    assert closed_by_server(slow) and not closed_by_server(others[0], wait_s=0.2)
