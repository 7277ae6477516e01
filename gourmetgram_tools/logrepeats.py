"""A logging filter that stops one message repeated in a loop from filling the disk.

Seen in a flood of connections: asyncio logged its failed accept (with a traceback) 585,727 times in 50 s,
261 MB of log that nothing rotates. A message is its logger and its template (`record.msg` before the
arguments are put in), so the same warning about a thousand different keys is one message, and varying the
arguments cannot get around the limit. Each message passes `burst` times per `interval_s`; the first one
let through after that says how many were held back. (A message that stops repeating takes its count of
held-back lines with it: nothing else would ever log it.)
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Five lines of one message every 30 s (a sequence of a few, e.g. the start-up check's problems, passes
# whole): a message in a loop writes at most 10 lines a minute, about 1 MB a day with tracebacks.
INTERVAL_S = 30.0
BURST = 5
# Messages followed at once; the one seen least recently is forgotten past this (templates are code, so
# the real count is a few hundred at most).
MAX_MESSAGES = 1024


@dataclass
class _Window:
    start: float
    passed: int = 0  # let through since `start`
    held: int = 0  # held back, not reported yet
    held_since: float | None = None


class RepeatFilter(logging.Filter):
    """Lets each message (logger and template) through at most `burst` times per `interval_s`."""

    def __init__(
        self,
        interval_s: float = INTERVAL_S,
        burst: int = BURST,
        now: Callable[[], float] = time.monotonic,
        max_messages: int = MAX_MESSAGES,
    ):
        super().__init__()
        self._interval_s, self._burst, self._now, self._max = interval_s, burst, now, max_messages
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key, t = (record.name, str(record.msg)), self._now()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(t)
            if len(self._windows) > self._max:
                self._windows.popitem(last=False)
        self._windows.move_to_end(key)
        if t - window.start >= self._interval_s:
            window.start, window.passed = t, 0
        if window.passed >= self._burst:
            window.held += 1
            window.held_since = window.held_since if window.held_since is not None else t
            return False
        window.passed += 1
        if window.held:
            # Appended to the template: the arguments still fill it, and the note has no % of its own.
            record.msg = (
                f"{record.msg} [{window.held} more like this held back in the {t - window.held_since:.0f} s before]"
            )
            window.held, window.held_since = 0, None
        return True


def install(handlers: list[logging.Handler]) -> None:
    """Give each handler (e.g. the root logger's) its own RepeatFilter, once."""
    for handler in handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
