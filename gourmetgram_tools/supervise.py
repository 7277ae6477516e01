"""Keeps `up`'s parts running: a part that exits, or stops answering its health check, is restarted after a
back-off; a crash loop stops `up`.

The supervisor sees its parts only through `Part` and time only through `now`, so the policy and the
order of restarts are tested without processes (tests/unit/test_supervise.py); `gourmetgram_tools.local`
adapts its child processes to `Part`.
"""

from __future__ import annotations

import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from gourmetgram_tools.tool_error import ToolError


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # This many crashes of one part within `window_s` is a crash loop: restarting it again would not help.
    max_crashes: int = 5
    window_s: float = 120.0
    # A part that ran this long before it crashed starts its back-off from `first_delay_s` again.
    stable_s: float = 60.0

    def delay(self, consecutive: int) -> float:
        """1 s, 2 s, 4 s ... up to `max_delay_s`, for the n-th crash in a row."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** max(0, consecutive - 1))


class CrashHistory:
    """One part's crashes: how long to wait before its restart, or that it crashes too often."""

    def __init__(self, policy: RestartPolicy):
        self._policy = policy
        self._recent: deque[float] = deque()
        self._in_a_row = 0

    def crashed(self, at: float, ran_for_s: float) -> float | None:
        """Seconds to wait before restarting the part that crashed at `at` after running `ran_for_s`;
        None when that makes `max_crashes` within `window_s`."""
        p = self._policy
        self._recent.append(at)
        while self._recent[0] <= at - p.window_s:
            self._recent.popleft()
        self._in_a_row = 1 if ran_for_s >= p.stable_s else self._in_a_row + 1
        if len(self._recent) >= p.max_crashes:
            return None
        return p.delay(self._in_a_row)

    @property
    def recent(self) -> int:
        return len(self._recent)


@dataclass(frozen=True)
class Liveness:
    """How a running part is asked whether it still answers: every `every_s`, `timeout_s` to answer; after
    `misses` unanswered in a row it hangs (stopped, deadlocked, out of descriptors) and is killed and
    restarted like a crash (and counts toward a crash loop like one)."""

    # Three misses, every 5 s with 3 s to answer: a part that answered nothing for at least 13 s. A health
    # check is a trivial handler that answers in milliseconds; one miss can be a pause of the process or a
    # CPU the bench or a burst keeps busy, three in a row is not. Killing costs little (nothing is lost: the
    # work stays in `incoming`), but it must not hit a part that is merely busy.
    every_s: float = 5.0
    timeout_s: float = 3.0
    misses: int = 3


def describe_exit(returncode: int) -> str:
    """`exit code 1`, or `signal 9 (SIGKILL)` for a process a signal ended (Popen's negative codes)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {-returncode} ({signal.Signals(-returncode).name})"
    except ValueError:
        return f"signal {-returncode}"


class Part(Protocol):
    """A supervised process, as the supervisor sees it."""

    name: str
    log_path: Path
    health_path: str  # what `responds` asks, for messages ("/healthz")

    def exit_status(self) -> int | None:
        """The return code once the process has exited; None while it runs."""

    def ready(self) -> bool:
        """It answers its health check, on its own port."""

    def responds(self, timeout_s: float) -> bool:
        """It answers its health check within `timeout_s`, whatever the status (a busy part that says so is
        not hung)."""

    def start(self) -> None:
        """Start a new process (the previous one has exited or been stopped); do not wait for it."""

    def stop(self) -> None:
        """Kill the current process (SIGKILL) and wait for it: one that did not get ready in time, or hangs."""

    def log_tail(self, lines: int) -> str:
        """The last lines of its log."""


class CrashLoop(ToolError):
    """A part crashed too often: the message names it and says why."""


class Phase(Enum):
    RUNNING = "running"
    WAITING = "waiting"  # back-off before a restart, or for the part it needs to be running again
    STARTING = "starting"  # restarted, not ready yet


@dataclass
class _State:
    phase: Phase
    since: float  # when the phase began (RUNNING: up since; STARTING: restarted at)
    down_since: float = 0.0  # when the part was found exited (or first did not answer), for "back after N s"
    restart_at: float = 0.0  # WAITING: not before this
    next_check: float = 0.0  # RUNNING: when to ask it whether it answers
    missed: int = 0  # RUNNING: health checks unanswered in a row
    missing_since: float = 0.0


class Supervisor:
    """Restarts the parts that exit or hang; `step` does one round, `run` loops until a crash loop.

    Health checks run in the loop, one part after the other: while a part hangs, each round takes up to its
    `timeout_s` longer, so another part's exit is seen that much later."""

    def __init__(
        self,
        parts: list[Part],
        echo: Callable[[str], None],
        policy: RestartPolicy = RestartPolicy(),
        needs: dict[str, str] | None = None,
        start_timeout_s: dict[str, float] | None = None,
        liveness: dict[str, Liveness] | None = None,
        now: Callable[[], float] = time.monotonic,
        tail_lines: int = 15,
    ):
        self._parts = parts
        self._echo = echo
        self._policy = policy
        # A part is restarted only while the one it needs runs (the function and the frontend need MinIO:
        # they survive MinIO's restart on their own, but would not start without it).
        self._needs = needs or {}
        self._start_timeout_s = start_timeout_s or {}
        self._liveness = liveness or {}
        self._now = now
        self._tail_lines = tail_lines
        t = now()
        self._state = {p.name: _State(Phase.RUNNING, t, next_check=t + self.liveness(p.name).every_s) for p in parts}
        self._history = {p.name: CrashHistory(policy) for p in parts}
        self.restarts: Counter[str] = Counter()

    def phase(self, name: str) -> Phase:
        return self._state[name].phase

    def liveness(self, name: str) -> Liveness:
        return self._liveness.get(name, Liveness())

    def run(self, interval_s: float = 0.25, sleep: Callable[[float], None] = time.sleep) -> None:
        """Supervise until a part crash-loops (CrashLoop) or the caller is interrupted."""
        while True:
            self.step()
            sleep(interval_s)

    def step(self) -> None:
        for part in self._parts:
            state = self._state[part.name]
            if state.phase is Phase.WAITING:
                self._maybe_restart(part, state)
            else:
                self._watch(part, state)

    def _watch(self, part: Part, state: _State) -> None:
        t = self._now()
        code = part.exit_status()
        if code is not None:
            how = describe_exit(code)
            if state.phase is Phase.RUNNING:
                state.down_since = t
                self._crashed(part, state, t, t - state.since, how, f"exited with {how} after {t - state.since:.1f} s")
            else:
                self._crashed(part, state, t, 0.0, how, f"exited with {how} while starting")
        elif state.phase is Phase.RUNNING:
            self._check(part, state, t)
        elif state.phase is Phase.STARTING:
            if part.ready():
                back = self._now()
                self._echo(
                    f"{part.name} is back: ready {back - state.since:.1f} s after its restart, "
                    f"{back - state.down_since:.1f} s after it went down (restarts since start: "
                    f"{self._restart_counts()})"
                )
                state.phase, state.since = Phase.RUNNING, back
                state.next_check, state.missed = back + self.liveness(part.name).every_s, 0
            elif t - state.since > self._start_timeout_s.get(part.name, 120.0):
                part.stop()
                self._crashed(
                    part,
                    state,
                    t,
                    0.0,
                    "not ready in time",
                    f"was not ready {t - state.since:.0f} s after its restart: killed",
                )

    def _check(self, part: Part, state: _State, t: float) -> None:
        """Ask a running part whether it answers, when its turn has come; kill it after too many misses."""
        live = self.liveness(part.name)
        if t < state.next_check:
            return
        state.next_check = t + live.every_s
        if part.responds(live.timeout_s):
            state.missed = 0
            return
        if not state.missed:
            state.missing_since = t
        state.missed += 1
        if state.missed < live.misses:
            return
        part.stop()
        state.down_since = state.missing_since
        self._crashed(
            part,
            state,
            t,
            state.missing_since - state.since,
            f"no answer to {part.health_path}",
            f"did not answer {part.health_path} {live.misses} times in a row (asked every "
            f"{live.every_s:g} s, {live.timeout_s:g} s to answer): killed it (SIGKILL) to restart it",
        )

    def _crashed(self, part: Part, state: _State, t: float, ran_for_s: float, how: str, what: str) -> None:
        delay = self._history[part.name].crashed(t, ran_for_s)
        tail = part.log_tail(self._tail_lines)
        self._echo(f"{part.name} {what}; last lines of {part.log_path}:\n{tail}" if tail else f"{part.name} {what}")
        if delay is None:
            p = self._policy
            raise CrashLoop(
                f"{part.name} crashed {p.max_crashes} times within {p.window_s:.0f} s (last: {how}); "
                f"see {part.log_path}"
            )
        state.phase, state.since, state.restart_at = Phase.WAITING, t, t + delay
        self._echo(
            f"{part.name}: restarting in {delay:g} s ({self._history[part.name].recent} crash(es) within "
            f"{self._policy.window_s:.0f} s; {self._policy.max_crashes} stop everything)"
        )

    def _maybe_restart(self, part: Part, state: _State) -> None:
        t = self._now()
        needed = self._needs.get(part.name)
        if t < state.restart_at or (needed and self._state[needed].phase is not Phase.RUNNING):
            return
        part.start()
        self.restarts[part.name] += 1
        state.phase, state.since = Phase.STARTING, t

    def _restart_counts(self) -> str:
        return ", ".join(f"{p.name} {self.restarts[p.name]}" for p in self._parts)
