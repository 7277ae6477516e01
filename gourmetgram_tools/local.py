"""Runs the whole system on one machine as child processes: MinIO, the function, the frontend (and with
EVENT_TRANSPORT=jetstream, a NATS server with JetStream).

`gourmetgram up` uses it in the foreground (with `gourmetgram_tools.supervise` restarting what exits); the
integration tests and the bench use it around a session, unsupervised. Children are started by
`gourmetgram_tools.spawn`: none outlives this process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from gourmetgram.settings import Settings
from gourmetgram_tools import nats_server
from gourmetgram_tools.occupancy import FolderLock, Occupied, check_ports, describe_port, holds_port
from gourmetgram_tools.ownership import NotTrusted
from gourmetgram_tools.spawn import FUNCTION_MALLOC_ENV, Child, component_args, component_env, spawn, tail
from gourmetgram_tools.supervise import Liveness, describe_exit
from gourmetgram_tools.tool_error import ToolError
from minio_config.apply import ConfigureError, configure
from minio_config.desired import nats_env, webhook_env

log = logging.getLogger(__name__)


class StartupError(ToolError):
    """A part did not come up; the message says which and shows the end of its log."""


def free_ports(count: int, avoid: Collection[int] = ()) -> list[int]:
    """`count` distinct ports free on loopback now, none of them in `avoid` (ports chosen earlier, not yet
    listened on). Every socket stays bound until all are chosen: a port given back at once can be the kernel's
    next answer, and two parts of one stack then fight for it (seen in CI: the frontend's port was a MinIO
    node's console port)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in avoid:
                ports.append(port)
        return ports
    finally:
        for s in held:
            s.close()


def free_port(avoid: Collection[int] = ()) -> int:
    return free_ports(1, avoid)[0]


def stack_ports(settings: Settings) -> set[int]:
    """The ports a stack on `settings` listens on (and its NATS, when it has one)."""
    return {
        settings.minio_port,
        settings.console_port,
        settings.function_port,
        settings.web_port,
        settings.nats_port,
        settings.nats_monitor_port,
    }


def on_loopback(settings: Settings, free: bool = False) -> Settings:
    """The settings of a stack on this machine: URLs follow the ports (fresh free ones with `free`)."""
    if free:
        minio, console, function, web, nats, monitor = free_ports(6)
        settings = settings.replace(
            minio_port=minio,
            console_port=console,
            function_port=function,
            web_port=web,
            nats_port=nats,
            nats_monitor_port=monitor,
        )
    return settings.replace(
        minio_url=f"http://127.0.0.1:{settings.minio_port}",
        function_url=f"http://127.0.0.1:{settings.function_port}",
        nats_url=f"nats://127.0.0.1:{settings.nats_port}",
    )


def tool(settings: Settings, name: str) -> Path:
    path = settings.tools_dir / name
    if not os.access(path, os.X_OK):
        raise StartupError(
            f"{name} not found at {path}: run scripts/setup.sh (it builds MinIO, mc and nats-server from source)"
        )
    return path


# The order in which `stop_all` stops the parts: the frontend and the functions first (the function settles its
# stream messages as it drains), then MinIO (which publishes to NATS), then NATS; the balancer last.
def _stop_rank(name: str) -> int:
    for rank, prefix in enumerate(("web", "function", "minio", "nats", "front")):
        if name.startswith(prefix):
            return rank
    return 0


# How `up` supervises a part (gourmetgram_tools.up): a part is restarted only while the one it needs runs; how long
# a restarted part may take to be ready; how patiently it is asked whether it still answers.
START_TIMEOUT_S = {"minio": 60.0, "function": 120.0, "web": 60.0, "nats": 30.0, "front": 30.0}
# MinIO gets more patience: restarting it interrupts every other part's requests and replays its webhook
# queue, and its health check may be slow while the disk is (6 misses, every 5 s, 5 s each: at least 30 s).
MINIO_LIVENESS = Liveness(every_s=5.0, timeout_s=5.0, misses=6)


def supervision(names: list[str]) -> dict:
    """The Supervisor's `needs`, `start_timeout_s` and `liveness` for parts of these names. The function and the
    frontend survive a MinIO restart by themselves (their store errors are transient) but are restarted only
    while MinIO (a cluster's front door) runs."""
    store = "front" if "front" in names else "minio"
    return {
        "needs": {n: store for n in names if n.startswith(("function", "web"))},
        "start_timeout_s": {n: START_TIMEOUT_S[n.split("-")[0]] for n in names if n.split("-")[0] in START_TIMEOUT_S},
        "liveness": {n: MINIO_LIVENESS for n in names if n.startswith("minio")},
    }


@dataclass(frozen=True)
class PartSpec:
    """How to (re)start a part, and where it answers once it is up."""

    argv: list[str]
    env: dict[str, str]
    health_url: str
    port: int


def answers(url: str) -> bool:
    """The URL answers 2xx within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (our own children, on loopback)
            return r.status < 300
    except OSError:
        return False


def _responds(url: str, timeout_s: float) -> bool:
    """Any HTTP answer within `timeout_s`: a 503 from a part at its limits still says it is not hung."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):  # noqa: S310 (our own children, on loopback)
            return True
    except urllib.error.HTTPError as exc:
        exc.close()
        return True
    except (OSError, HTTPException):
        return False


@dataclass
class LocalStack:
    """The parts as processes, with state in `data_dir` (MinIO's data, the webhook queue or NATS's store, logs).

    `start` holds `data_dir` (an exclusive lock on `up.pid`, which also lists the children's pids) until
    `stop_all`, and refuses busy ports before it starts anything."""

    settings: Settings
    data_dir: Path
    queue_dir: bool = True  # the webhook's (EVENT_TRANSPORT=webhook)
    nats_sync_interval: str = "always"  # JetStream's fsync policy (gourmetgram_tools.nats_server); the bench varies it
    minio_env: dict[str, str] = field(default_factory=dict)  # e.g. more notification targets
    children: dict[str, Child] = field(default_factory=dict)
    _specs: dict[str, PartSpec] = field(default_factory=dict, repr=False)
    _lock: FolderLock | None = field(default=None, repr=False)

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.console_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def function_base(self) -> str:
        return f"http://127.0.0.1:{self.settings.function_port}"

    @property
    def state_dir(self) -> Path:
        """Where the parts keep their state (MinIO's data, NATS's store)."""
        return self.data_dir

    @property
    def nats_node(self) -> nats_server.NatsNode:
        s = self.settings
        return nats_server.NatsNode("nats", s.nats_port, s.nats_monitor_port, sync_interval=self.nats_sync_interval)

    def ports(self) -> dict[str, tuple[str, int]]:
        """Every port the stack listens on, by what listens there (checked before anything starts)."""
        s = self.settings
        ports = {
            "MinIO API": ("127.0.0.1", s.minio_port),
            "MinIO console": ("127.0.0.1", s.console_port),
            "function": (s.host, s.function_port),
            "frontend": (s.host, s.web_port),
        }
        if s.jetstream:
            ports.update({"NATS": ("127.0.0.1", s.nats_port), "NATS monitoring": ("127.0.0.1", s.nats_monitor_port)})
        return ports

    def node_lines(self) -> list[str]:
        """More lines for `up`'s banner: what else runs (the NATS server, a cluster's nodes)."""
        if not self.settings.jetstream:
            return []
        node = self.nats_node
        return [f"  NATS (JetStream)  {node.url}   (monitoring http://127.0.0.1:{node.monitor_port})"]

    def supervision(self) -> dict:
        return supervision(list(self.children))

    def spawn_part(self, name: str, spec: PartSpec) -> Child:
        """Start a part (without waiting for it): its log is logs/<name>.log, its pid goes into up.pid."""
        child = spawn(name, spec.argv, spec.env, self.data_dir / "logs")
        self._specs[name] = spec
        self.children[name] = child
        self._record_pids()
        return child

    def _record_pids(self) -> None:
        if self._lock:
            self._lock.record({n: c.process.pid for n, c in self.children.items()})

    def respawn(self, name: str) -> Child:
        """Start part `name` again as it was started last time (without waiting for it)."""
        return self.spawn_part(name, self._specs[name])

    def ready(self, name: str) -> bool:
        """The part runs and answers its health check on its port, and that port is its own."""
        child, spec = self.children.get(name), self._specs[name]
        return (
            child is not None
            and child.process.poll() is None
            and answers(spec.health_url)
            and holds_port(child.process.pid, spec.port) is not False
        )

    def responds(self, name: str, timeout_s: float) -> bool:
        """The part answers its health URL within `timeout_s`, whatever the status (see `_responds`)."""
        return name in self.children and _responds(self._specs[name].health_url, timeout_s)

    def health_path(self, name: str) -> str:
        return urlsplit(self._specs[name].health_url).path

    def wait_ready(self, name: str, timeout_s: float) -> None:
        child, spec = self.children[name], self._specs[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise StartupError(f"{name} exited with {describe_exit(child.process.returncode)}:\n{child.tail()}")
            if answers(spec.health_url):
                # Someone else may answer there (a process left over from another run): it must be ours.
                if holds_port(child.process.pid, spec.port) is False:
                    raise StartupError(f"{name} did not get its port: {describe_port(spec.port)}\n{child.tail()}")
                return
            time.sleep(0.2)
        raise StartupError(f"{name} not ready at {spec.health_url} after {timeout_s:.0f} s:\n{child.tail()}")

    def transport_env(self) -> dict[str, str]:
        """What makes MinIO load the notification target of EVENT_TRANSPORT."""
        s = self.settings
        if s.jetstream:
            return nats_env(s)
        return webhook_env(s, str((self.data_dir / "webhook-queue").resolve()) if self.queue_dir else None)

    def start_nats(self, node: nats_server.NatsNode | None = None, wait: bool = True, timeout_s: float = 30) -> None:
        node = node or self.nats_node
        conf = nats_server.write(node, self.state_dir / "nats")
        self.spawn_part(
            node.name,
            PartSpec(
                nats_server.argv(tool(self.settings, "nats-server"), conf),
                nats_server.env(self.settings.effective_nats_token),
                node.health_url,
                node.client_port,
            ),
        )
        if wait:
            self.wait_ready(node.name, timeout_s)

    def start_minio(self, timeout_s: float = 60) -> None:
        s = self.settings
        data = self.data_dir / "minio"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            "MINIO_ROOT_USER": s.minio_user,
            "MINIO_ROOT_PASSWORD": s.minio_password,
            "MINIO_UPDATE": "off",
            **self.transport_env(),
            **self.minio_env,
        }
        argv = [
            str(tool(s, "minio")),
            "server",
            str(data.resolve()),
            "--quiet",
            "--address",
            f"127.0.0.1:{s.minio_port}",
            "--console-address",
            f"127.0.0.1:{s.console_port}",
        ]
        health = f"http://127.0.0.1:{s.minio_port}/minio/health/live"
        self.spawn_part("minio", PartSpec(argv, env, health, s.minio_port))
        self.wait_ready("minio", timeout_s)
        self._wait_for_users_and_policies(timeout_s)

    def _wait_for_users_and_policies(self, timeout_s: float) -> None:
        """MinIO answers S3 and admin calls before it has loaded its users and policies from disk (and
        reports them missing meanwhile: `configure` would then set them again). It starts its console only
        once they are loaded (cmd/server-main.go of the pinned build), so the console answering is the sign."""
        deadline = time.monotonic() + timeout_s
        while not _responds(self.console_url, timeout_s=2):
            if time.monotonic() > deadline:
                raise StartupError(
                    f"MinIO did not load its users and policies within {timeout_s:.0f} s "
                    f"(its console at {self.console_url} never answered)"
                )
            time.sleep(0.1)

    def configure(self) -> None:
        steps: list[str] = []  # logged as one record: the filter of repeated lines would cut a long list
        try:
            configure(self.settings, echo=steps.append)
        except ConfigureError as exc:
            raise StartupError(f"configuring MinIO failed: {exc}") from None
        finally:
            if steps:
                log.info("configure:\n%s", "\n".join(steps))

    def start_function(
        self,
        timeout_s: float = 120,
        name: str = "function",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> str:
        """Start a function process (several may run against one MinIO); returns its base URL."""
        s = self.settings if port is None else self.settings.replace(function_port=port)
        base = f"http://127.0.0.1:{s.function_port}"
        env = {**FUNCTION_MALLOC_ENV, **component_env(s, "function"), **(extra_env or {})}
        self.spawn_part(
            name,
            PartSpec(
                [sys.executable, "-m", "gourmetgram", "serve-fn", *component_args(s, "function")],
                env,
                f"{base}/healthz",
                s.function_port,
            ),
        )
        if wait:
            self.wait_ready(name, timeout_s)
        return base

    def start_web(self, timeout_s: float = 60) -> None:
        s = self.settings
        self.spawn_part(
            "web",
            PartSpec(
                [sys.executable, "-m", "gourmetgram", "serve-web", *component_args(s, "web")],
                component_env(s, "web"),
                f"{self.web_url}/healthz",
                s.web_port,
            ),
        )
        self.wait_ready("web", timeout_s)

    @property
    def claimed(self) -> bool:
        return self._lock is not None

    @property
    def tightened_from(self) -> int | None:
        """The data folder's mode before `claim` made it private (None: it was already, or is new)."""
        return self._lock.tightened_from if self._lock is not None else None

    def claim(self) -> None:
        """Hold `data_dir` and check every port, before anything starts; StartupError names what is busy."""
        lock = FolderLock(self.data_dir)
        try:
            lock.acquire()
        except (Occupied, NotTrusted) as exc:
            raise StartupError(str(exc)) from None
        try:
            check_ports(self.ports())
        except Occupied as exc:
            lock.release()
            raise StartupError(str(exc)) from None
        self._lock = lock

    def start(self) -> LocalStack:
        if self._lock is None:
            self.claim()
        if self.settings.jetstream:
            self.start_nats()  # first: MinIO publishes each event as soon as it runs
        self.start_minio()
        self.configure()  # before the function, whose start-up check reads the subscription
        self.start_function()
        self.start_web()
        # A part may die while the next ones start (e.g. on a port taken meanwhile): never report it running.
        for child in self.children.values():
            if child.process.poll() is not None:
                raise StartupError(
                    f"{child.name} exited with {describe_exit(child.process.returncode)}:\n{child.tail()}"
                )
        return self

    def stop(self, name: str, kill: bool = False, timeout_s: float = 30) -> None:
        child = self.children.get(name)
        if child is None:
            return
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                child.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        # Forgotten only once it is gone: a Ctrl-C while it drains leaves it here for the kill that follows.
        del self.children[name]
        self._record_pids()

    def stop_all(self, kill: bool = False) -> None:
        # The frontend and functions first, then MinIO, NATS last, so nothing loses what it needs while draining.
        for name in sorted(self.children, key=_stop_rank):
            self.stop(name, kill=kill)
        if self._lock:
            self._lock.release()
            self._lock = None

    def parts(self) -> list[StackPart]:
        """The running parts, for `gourmetgram_tools.supervise.Supervisor`."""
        return [StackPart(self, name) for name in self.children]


@dataclass
class StackPart:
    """One part of a LocalStack as the supervisor sees it (`gourmetgram_tools.supervise.Part`)."""

    stack: LocalStack
    name: str

    @property
    def log_path(self) -> Path:
        return self.stack.data_dir / "logs" / f"{self.name}.log"

    def exit_status(self) -> int | None:
        return self.stack.children[self.name].process.poll()

    @property
    def health_path(self) -> str:
        return self.stack.health_path(self.name)

    def ready(self) -> bool:
        return self.stack.ready(self.name)

    def responds(self, timeout_s: float) -> bool:
        return self.stack.responds(self.name, timeout_s)

    def start(self) -> None:
        self.stack.respawn(self.name)

    def stop(self) -> None:
        self.stack.stop(self.name, kill=True)

    def log_tail(self, lines: int) -> str:
        return tail(self.log_path, lines)
