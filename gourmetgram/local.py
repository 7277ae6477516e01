"""Runs the whole system on one machine as child processes: MinIO, the function, the frontend.

`gourmetgram up` uses it in the foreground; the integration tests use it around a session.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gourmetgram.settings import Settings
from minio_config.apply import configure
from minio_config.desired import webhook_env

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A part did not come up; the message says which and shows the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_loopback(settings: Settings, free: bool = False) -> Settings:
    """The settings of a stack on this machine: URLs follow the ports (fresh free ones with `free`)."""
    if free:
        settings = settings.replace(minio_port=free_port(), console_port=free_port(), function_port=free_port(),
                                    web_port=free_port())
    return settings.replace(minio_url=f"http://127.0.0.1:{settings.minio_port}",
                            function_url=f"http://127.0.0.1:{settings.function_port}")


def tool(settings: Settings, name: str) -> Path:
    path = settings.tools_dir / name
    if not os.access(path, os.X_OK):
        raise StartupError(f"{name} not found at {path}: run scripts/setup.sh (it builds MinIO from source)")
    return path


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_http(url: str, child: Child, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise StartupError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise StartupError(f"{child.name} not ready at {url} after {timeout_s:.0f} s:\n{child.tail()}")


@dataclass
class LocalStack:
    """The three parts as processes, with state in `data_dir` (MinIO's data, the webhook queue, logs)."""

    settings: Settings
    data_dir: Path
    queue_dir: bool = True
    minio_env: dict[str, str] = field(default_factory=dict)  # e.g. more notification targets
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.console_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def function_base(self) -> str:
        return f"http://127.0.0.1:{self.settings.function_port}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        out = open(log_path, "ab")  # noqa: SIM115 (the child owns it)
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                   start_new_session=True)
        out.close()
        child = Child(name, process, log_path)
        self.children[name] = child
        return child

    def start_minio(self, timeout_s: float = 60) -> None:
        s = self.settings
        data = self.data_dir / "minio"
        data.mkdir(parents=True, exist_ok=True)
        queue = str((self.data_dir / "webhook-queue").resolve()) if self.queue_dir else None
        env = {"MINIO_ROOT_USER": s.minio_user, "MINIO_ROOT_PASSWORD": s.minio_password,
               "MINIO_UPDATE": "off", **webhook_env(s, queue), **self.minio_env}
        child = self._spawn("minio", [str(tool(s, "minio")), "server", str(data.resolve()), "--quiet",
                                      "--address", f"127.0.0.1:{s.minio_port}",
                                      "--console-address", f"127.0.0.1:{s.console_port}"], env)
        wait_http(f"http://127.0.0.1:{s.minio_port}/minio/health/live", child, timeout_s)

    def configure(self) -> None:
        configure(self.settings, echo=lambda line: log.info("%s", line))

    def start_function(self, timeout_s: float = 120, name: str = "function", port: int | None = None,
                       extra_env: dict[str, str] | None = None) -> str:
        """Start a function process (several may run against one MinIO); returns its base URL."""
        s = self.settings if port is None else self.settings.replace(function_port=port)
        # Few malloc arenas: many threads decoding big photos otherwise fragment into gigabytes.
        child = self._spawn(name, [sys.executable, "-m", "gourmetgram", "serve-fn"],
                            {"MALLOC_ARENA_MAX": "2", **s.to_env(), **(extra_env or {})})
        base = f"http://127.0.0.1:{s.function_port}"
        wait_http(f"{base}/healthz", child, timeout_s)
        return base

    def start_web(self, timeout_s: float = 60) -> None:
        child = self._spawn("web", [sys.executable, "-m", "gourmetgram", "serve-web"], self.settings.to_env())
        wait_http(f"{self.web_url}/healthz", child, timeout_s)

    def start(self) -> LocalStack:
        self.start_minio()
        self.configure()       # before the function, whose start-up check reads the subscription
        self.start_function()
        self.start_web()
        return self

    def stop(self, name: str, kill: bool = False, timeout_s: float = 30) -> None:
        child = self.children.pop(name, None)
        if child is None or child.process.poll() is not None:
            return
        child.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            child.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()

    def stop_all(self, kill: bool = False) -> None:
        # The frontend and functions first, MinIO last, so nothing loses its store while draining.
        for name in sorted(self.children, key=lambda n: n == "minio"):
            self.stop(name, kill=kill)
