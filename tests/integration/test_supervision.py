"""`gourmetgram up` as an operator meets it: a killed part comes back, nothing is lost, nothing is left over.

Every test runs a real `up` (real MinIO, function and frontend) on its own folder and free ports, and
kills things with SIGKILL as the OOM killer or a careless operator would.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools import state
from gourmetgram_tools.client import post_photo
from gourmetgram_tools.local import LocalStack, PartSpec, StartupError, free_ports
from gourmetgram_tools.occupancy import alive, read_pids
from tests.conftest import FIXTURES, ROOT, photo
from tests.integration.test_faults import assert_each_once, drop_many
from tests.stack import production_objects, wait_final, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEALTH = {"minio": "/minio/health/live", "function": "/healthz", "web": "/healthz"}


def up_ports() -> dict[str, int]:
    return dict(zip(("minio-port", "console-port", "function-port", "web-port"), free_ports(4), strict=True))


def up_argv(data: Path, ports: dict[str, int]) -> list[str]:
    argv = [sys.executable, "-m", "gourmetgram", "up", "--data", str(data)]
    for flag, port in ports.items():
        argv += [f"--{flag}", str(port)]
    return argv


def up_env(**settings: str) -> dict[str, str]:
    """Our environment without any GourmetGram setting (never the developer's), plus `settings`."""
    ours = set(Settings.env_names().values()) - {"GOURMETGRAM_BIN"}
    return {**{k: v for k, v in os.environ.items() if k not in ours}, **settings}


class Up:
    """A running `gourmetgram up`, its output read all along (a full pipe would block it)."""

    def __init__(self, data: Path, ports: dict[str, int], *flags: str, **settings: str):
        self.data, self.ports = data, ports
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            up_argv(data, ports) + list(flags),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=up_env(**settings),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.wait_for("Drop a photo", timeout=180)
            self.start_s = time.monotonic() - self.started
        except AssertionError:
            self.process.kill()
            self.wait(30)
            raise

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.output.count(text) < count:
            if time.monotonic() > deadline or (self.process.poll() is not None and not self._reader.is_alive()):
                raise AssertionError(f"no {text!r} (x{count}) from `up` after {timeout} s:\n{self.output}")
            time.sleep(0.1)

    def pids(self) -> dict[str, int]:
        return read_pids(self.data).get("children", {})

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{name}-port']}"

    def kill_part(self, name: str, right_after=lambda: None) -> tuple[float, object]:
        """SIGKILL part `name`; returns the seconds until `up` reports it back and it answers, and what
        `right_after` returned when called just after the kill."""
        old, before = self.pids()[name], self.output.count(f"{name} is back")
        started = time.monotonic()
        os.kill(old, signal.SIGKILL)
        seen = right_after()
        self.wait_for(f"{name} is back", timeout=180, count=before + 1)
        took = time.monotonic() - started
        new = self.pids()[name]
        assert new != old and alive(new)
        with urllib.request.urlopen(self.url(name) + HEALTH[name], timeout=10) as r:
            assert r.status == 200
        print(f"\n{name} killed (pid {old}): back as pid {new} after {took:.1f} s")
        return took, seen

    def stop(self, sig: int = signal.SIGINT, timeout: float = 120) -> int:
        self.process.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self._reader.join(10)
        self.process.stdout.close()
        return self.process.returncode


def settings_of(up: Up) -> Settings:
    """The operator's settings, as `gourmetgram <command>` reads them from the state `up` left (its MinIO's
    URL and the root password `up` generated for the folder)."""
    return Settings.from_env(state.operator_state(up.data, {}).environ)


def gone_within(pids: list[int], timeout: float) -> float:
    started = time.monotonic()
    wait_until(
        lambda: not [p for p in pids if alive(p)],
        timeout,
        f"every part to be gone (alive: {[p for p in pids if alive(p)]})",
    )
    return time.monotonic() - started


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_second_up_on_a_folder_in_use_refuses_and_a_killed_up_leaves_no_part(tmp_path):
    ports, data = up_ports(), tmp_path / "state"
    first = Up(data, ports, WEBHOOK_TOKEN="webhook-secret-of-this-test")
    try:
        parts = first.pids()
        assert set(parts) == {"minio", "function", "web"} and all(alive(p) for p in parts.values())
        # Each part holds only the secrets it needs: the frontend could forge webhooks with WEBHOOK_TOKEN.
        web, function, minio = (environ(parts[name]) for name in ("web", "function", "minio"))
        assert "webhook-secret-of-this-test" not in web.values() and "NUDGE_TOKEN" in web
        assert function["WEBHOOK_TOKEN"] == "webhook-secret-of-this-test" and "NUDGE_TOKEN" in function
        assert "WEBHOOK_TOKEN" not in minio and "MINIO_PASSWORD" not in minio
        # ... and its own MinIO identity: MinIO's root password is MinIO's alone.
        root = minio["MINIO_ROOT_PASSWORD"]
        assert root not in web.values() and root not in function.values()
        assert (web["MINIO_USER"], function["MINIO_USER"]) == ("gourmetgram-web", "gourmetgram-function")

        second = subprocess.run(
            up_argv(data, ports), capture_output=True, text=True, cwd=ROOT, env=up_env(), timeout=60
        )
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"{data.resolve()} is in use by pid {first.process.pid}" in second.stderr
        assert f"minio pid {parts['minio']}" in second.stderr
        assert "GourmetGram is running" not in second.stdout
        assert all(alive(p) for p in parts.values()) and first.pids() == parts  # the refused one touched nothing

        first.process.kill()  # kill -9 of `up` alone
        first.wait(10)
        print(f"\nparts of the killed `up` gone {gone_within(list(parts.values()), 10):.1f} s after its kill")
    finally:
        if first.process.poll() is None:
            first.process.kill()

    # The folder and the ports are free again: a new `up` starts over, with parts of its own.
    third = Up(data, ports)
    try:
        own = third.pids()
        assert set(own) == {"minio", "function", "web"} and not set(own.values()) & set(parts.values())
        post_photo(third.url("web"), photo())
    finally:
        assert third.stop() == 0, third.output
    assert not [p for p in own.values() if alive(p)]


def test_up_on_a_busy_port_refuses_naming_the_port_and_its_holder(tmp_path):
    ports = up_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["web-port"]))
        holder.listen()
        result = subprocess.run(
            up_argv(tmp_path / "state", ports), capture_output=True, text=True, cwd=ROOT, env=up_env(), timeout=60
        )
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"frontend port {ports['web-port']} is in use by pid {os.getpid()} (" in result.stderr
    assert "GourmetGram is running" not in result.stdout
    assert not (tmp_path / "state" / "logs").exists(), "something was started before the ports were checked"


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_part_is_not_ready_while_someone_else_answers_on_its_port(tmp_path):
    """A process left over from another run answered the health check of our crashed MinIO: never again."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    stack = LocalStack(Settings(), tmp_path)
    try:
        stack.spawn_part("web", PartSpec(["sleep", "60"], {}, f"http://127.0.0.1:{port}/healthz", port))
        with pytest.raises(StartupError, match=f"web did not get its port: port {port} is in use by pid {os.getpid()}"):
            stack.wait_ready("web", timeout_s=10)
        assert not stack.ready("web")
    finally:
        stack.stop_all(kill=True)
        server.shutdown()
        server.server_close()


def upload_while(web_url: str, count: int, stop_after: threading.Event, accepted: list[str]) -> None:
    """Upload `count` photos one after another as a person would, trying again when the page is down."""
    deadline = time.monotonic() + 180
    for i in range(count):
        data = photo(["9_452.jpg", "10_36.jpg", "4_87.jpg"][i % 3]) + f"#web{i}".encode()
        while time.monotonic() < deadline:
            try:
                accepted.append(post_photo(web_url, data, timeout=15)["id"])
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.3)
        if len(accepted) == 3:
            stop_after.set()


@pytest.mark.timeout(900)
def test_up_brings_back_each_killed_part_and_every_photo_ends_once(tmp_path):
    up = Up(
        tmp_path / "state",
        up_ports(),
        MODEL_PATH=str(FIXTURES / "food11_full.pth"),
        CLAIM_TTL_S="8",
        RECONCILE_INTERVAL_S="2",
    )
    took = {}
    try:
        store = Store.connect(settings_of(up))

        # The function, in the middle of a burst of 30 drops.
        drops = drop_many(store, "fn-kill", 30)

        def waiting(prefix: str) -> int:
            return len(list(store.list("incoming", prefix=prefix)))

        wait_until(lambda: waiting("fn-kill/") < 30, 60, "work to start")
        took["function"], left = up.kill_part("function", lambda: waiting("fn-kill/"))
        assert 0 < left < 30, "the kill should land mid-burst"
        assert_each_once(store, drops, timeout=180)

        # The frontend, while a person uploads photos.
        accepted: list[str] = []
        three_in = threading.Event()
        uploader = threading.Thread(target=upload_while, args=(up.url("web"), 10, three_in, accepted))
        uploader.start()
        assert three_in.wait(60)
        took["web"], _ = up.kill_part("web")
        uploader.join(200)
        assert len(accepted) == 10
        for pid in accepted:
            record = wait_final(store, pid, timeout=120)
            assert record["status"] == "done" and production_objects(store, pid) == [record["production_key"]]

        # MinIO, in the middle of a burst; more photos after it is back.
        drops = drop_many(store, "minio-kill", 20)
        wait_until(lambda: waiting("minio-kill/") < 20, 60, "work to start")
        took["minio"], _ = up.kill_part("minio")
        drops.update(drop_many(store, "after-minio", 5))
        assert_each_once(store, drops, timeout=240)

        assert up.process.poll() is None, up.output
        for name in ("function", "web", "minio"):
            assert f"{name} exited with signal 9 (SIGKILL)" in up.output
            assert f"{name}: restarting in 1 s" in up.output
        assert "restarts since start: minio 1, function 1, web 1" in up.output
        print("restarts took " + ", ".join(f"{name} {s:.1f} s" for name, s in took.items()))
        parts = list(up.pids().values())
    finally:
        code = up.stop(signal.SIGTERM)  # as `kill` or a service manager stops it
    assert code == 0, up.output
    assert not [p for p in parts if alive(p)]


def test_up_replaces_a_part_that_hangs_and_still_stops_cleanly(tmp_path):
    """A part that runs but answers nothing (kill -STOP, as a deadlock or a full process would) is killed
    and restarted; `up` printed nothing about it before."""
    up = Up(tmp_path / "state", up_ports())
    hung = up.pids()["web"]
    parts: list[int] = []
    try:
        # GIVEN the frontend stopped: alive, holding its port, answering nothing
        started = time.monotonic()
        os.kill(hung, signal.SIGSTOP)
        # THEN `up` says so, kills it and starts a new one that answers
        up.wait_for("web did not answer /healthz 3 times in a row", timeout=90)
        detected = time.monotonic() - started
        up.wait_for("web is back", timeout=120)
        back = time.monotonic() - started
        new = up.pids()["web"]
        assert new != hung and alive(new) and not alive(hung)
        with urllib.request.urlopen(up.url("web") + "/healthz", timeout=10) as r:
            assert r.status == 200
        assert up.process.poll() is None, up.output
        assert "web: restarting in 1 s" in up.output and "restarts since start: minio 0, function 0, web 1" in up.output
        print(
            f"\nweb stopped (pid {hung}): killed {detected:.1f} s later, back as pid {new} "
            f"{back:.1f} s after it stopped"
        )
        parts = list(up.pids().values())
    finally:
        if alive(hung):
            os.kill(hung, signal.SIGCONT)  # so that a failed test's `up` can still drain it
        code = up.stop()
    assert code == 0, up.output
    assert not [p for p in parts if alive(p)]


def test_a_part_that_keeps_crashing_stops_up_with_no_part_left(tmp_path):
    up = Up(tmp_path / "state", up_ports())
    seen: set[int] = set()
    try:
        for kill in range(5):
            if kill:
                up.wait_for("web is back", timeout=120, count=kill)
            parts = up.pids()
            seen |= set(parts.values())
            os.kill(parts["web"], signal.SIGKILL)
        code = up.wait(120)
    finally:
        if up.process.poll() is None:
            up.process.kill()
    assert code == 1, up.output
    assert "gourmetgram up stopped: web crashed 5 times within 120 s (last: signal 9 (SIGKILL))" in up.output
    assert "GourmetGram is running" in up.output and up.output.count("web is back") == 4
    seen |= set(up.pids().values())
    assert not [p for p in seen if alive(p)], "a part outlived `up`"
