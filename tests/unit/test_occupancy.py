"""Who holds a data folder or a port: the lock, the pid file, and the listener found through /proc."""

from __future__ import annotations

import os
import socket

import pytest

from gourmetgram_tools.occupancy import FolderLock, Occupied, check_ports, holds_port, port_free, read_pids


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_second_lock_on_a_folder_is_refused_naming_the_holder_and_its_parts(tmp_path):
    first = FolderLock(tmp_path)
    first.acquire()
    first.record({"minio": 111, "web": 222})
    with pytest.raises(Occupied) as refused:
        FolderLock(tmp_path).acquire()
    message = str(refused.value)
    assert str(tmp_path) in message and f"pid {os.getpid()}" in message
    assert "minio pid 111, web pid 222" in message
    assert read_pids(tmp_path)["children"] == {"minio": 111, "web": 222}
    first.release()
    second = FolderLock(tmp_path)
    second.acquire()  # released: free again, and the file now names the new holder
    doc = read_pids(tmp_path)
    assert doc["pid"] == os.getpid() and doc["children"] == {}
    second.release()


def test_a_busy_port_is_refused_naming_it_and_its_holder(listener):
    with pytest.raises(Occupied) as refused:
        check_ports({"frontend": ("127.0.0.1", listener)})
    assert f"frontend port {listener} is in use by pid {os.getpid()} (" in str(refused.value)


def test_free_ports_pass_and_every_busy_one_is_named(listener):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert port_free("127.0.0.1", free)
    check_ports({"function": ("127.0.0.1", free)})
    with pytest.raises(Occupied, match=f"MinIO API port {listener} is in use") as refused:
        check_ports({"function": ("127.0.0.1", free), "MinIO API": ("127.0.0.1", listener)})
    assert f"port {free}" not in str(refused.value)


def test_holds_port_tells_our_listener_from_someone_elses(listener):
    assert holds_port(os.getpid(), listener) is True
    assert holds_port(os.getppid(), listener) is False
