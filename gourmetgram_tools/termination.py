"""SIGTERM as an exception, so that a command's `finally` runs (as it does for Ctrl-C), and the
signals held off while a step that must not be cut in half runs (a file written and recorded)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gourmetgram_tools.tool_error import ToolError

STOPPING = {signal.SIGINT, signal.SIGTERM}


class Terminated(ToolError):
    """SIGTERM arrived: the command stops as after Ctrl-C."""


def _raise(signum, frame) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextmanager
def terminating() -> Iterator[None]:
    """SIGTERM raises `Terminated` inside the block (main thread only; elsewhere the block runs as is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is over (then arrive): its steps happen all or not at all."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
