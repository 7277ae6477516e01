"""`gourmetgram up --cluster` as an operator meets it: every node in the table, a killed node or replica restarted
by `up`, photos labelled meanwhile, Ctrl-C leaving nothing behind."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Collection

import pytest

from gourmetgram.store import Store
from gourmetgram_tools import front
from gourmetgram_tools.client import wait_outcome
from gourmetgram_tools.cluster import NODE_PORTS
from gourmetgram_tools.occupancy import alive, port_free
from tests.bus import drop_new
from tests.conftest import photo
from tests.integration.test_supervision import Up, settings_of, up_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_block(size: int, avoid: Collection[int]) -> int:
    """The first of `size` consecutive free ports, none of them in `avoid` (chosen, not yet listened on)."""
    for _ in range(200):
        # Below the kernel's range for outgoing connections (32768 up): none of them can take a port meanwhile.
        first = random.randrange(20000, 32768 - size)
        block = range(first, first + size)
        if not set(block) & set(avoid) and all(port_free("127.0.0.1", p) for p in block):
            return first
    raise AssertionError("no block of free ports")


def test_up_cluster_runs_every_node_and_restarts_one_that_dies(tmp_path):
    ports = up_ports()
    ports["function-port"] = free_block(2, ports.values())  # the replicas listen from FUNCTION_PORT up
    first = free_block(NODE_PORTS, [*ports.values(), ports["function-port"] + 1])
    up = Up(tmp_path / "state", ports, "--cluster", "--node-ports", str(first))
    try:
        print(f"\n`up --cluster` ready {up.start_s:.1f} s after it was started")
        parts = up.pids()
        assert set(parts) == {
            "nats-1",
            "nats-2",
            "nats-3",
            "minio-1",
            "minio-2",
            "minio-3",
            "minio-4",
            "front",
            "function-1",
            "function-2",
            "web",
        }
        for name in ("minio-4", "nats-3", "function-2", "front door"):
            assert name in up.output
        assert "events by jetstream" in up.output
        # Patient as mc: a PUT may wait out a killed node's lock (up to 2 min, front.STALE_LOCK_S).
        store = Store.connect(settings_of(up), timeout_s=front.STALE_LOCK_S + 10)
        assert settings_of(up).minio_url == up.url("minio")  # the front door's, in the state `up` left
        for name in ("minio-3", "nats-2", "function-2"):
            old, before = up.pids()[name], up.output.count(f"{name} is back")
            started = time.monotonic()
            os.kill(old, signal.SIGKILL)
            dropped = drop_new(store, f"c/while-{name}-down.jpg", photo())  # through the front door
            up.wait_for(f"{name} is back", timeout=180, count=before + 1)
            assert up.pids()[name] != old and alive(up.pids()[name])
            print(f"{name} killed: back after {time.monotonic() - started:.1f} s")
            assert wait_outcome(store, "events", dropped, timeout=120)["status"] == "done"
    finally:
        code = up.stop()
    assert code == 0, up.output[-3000:]
    assert not [pid for pid in up.pids().values() if alive(pid)]
