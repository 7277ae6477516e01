"""The restart policy and the supervisor's decisions, with fake parts and a fake clock (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gourmetgram_tools.local import supervision
from gourmetgram_tools.supervise import (
    CrashHistory,
    CrashLoop,
    Liveness,
    Phase,
    RestartPolicy,
    Supervisor,
    describe_exit,
)


def test_back_off_doubles_from_1_s_to_30_s_for_crashes_in_a_row():
    history = CrashHistory(RestartPolicy())
    # 40 s apart: never 5 within 2 minutes, but never running long enough to count as stable either.
    delays = [history.crashed(at=40.0 * i, ran_for_s=10.0) for i in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_part_that_ran_long_enough_starts_its_back_off_again():
    history = CrashHistory(RestartPolicy())
    assert [history.crashed(at, 5.0) for at in (0.0, 40.0, 80.0)] == [1, 2, 4]
    assert history.crashed(at=200.0, ran_for_s=60.0) == 1


def test_five_crashes_within_two_minutes_is_a_crash_loop():
    history = CrashHistory(RestartPolicy())
    assert [history.crashed(at, 1.0) for at in (0.0, 10.0, 20.0, 30.0)] == [1, 2, 4, 8]
    assert history.crashed(at=119.0, ran_for_s=1.0) is None


def test_crashes_older_than_the_window_do_not_count():
    history = CrashHistory(RestartPolicy())
    for at in (0.0, 31.0, 62.0, 93.0):
        assert history.crashed(at, 1.0) is not None
    assert history.crashed(at=124.0, ran_for_s=1.0) is not None  # the one at 0 s has left the window
    assert history.recent == 4


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (1, "exit code 1"),
        (0, "exit code 0"),
        (-9, "signal 9 (SIGKILL)"),
        (-15, "signal 15 (SIGTERM)"),
        (-200, "signal 200"),
    ],
)
def test_describe_exit(code, text):
    assert describe_exit(code) == text


class FakePart:
    def __init__(self, name: str):
        self.name = name
        self.log_path = Path(f"/data/logs/{name}.log")
        self.health_path = "/minio/health/live" if name == "minio" else "/healthz"
        self.code: int | None = None
        self.answers = True  # what `ready` sees
        self.hangs = False  # runs, but answers no health check
        self.asked: list[float] = []  # the timeouts of the health checks it was asked
        self.starts = 0
        self.stops = 0

    def exit_status(self):
        return self.code

    def ready(self):
        return self.code is None and self.answers and not self.hangs

    def responds(self, timeout_s: float) -> bool:
        self.asked.append(timeout_s)
        return self.code is None and not self.hangs

    def start(self):
        self.starts += 1
        self.code = None
        self.hangs = False

    def stop(self):
        self.stops += 1
        self.code = -9

    def log_tail(self, lines: int) -> str:
        return f"last words of {self.name}"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig():
    clock, lines = Clock(), []
    parts = {name: FakePart(name) for name in ("minio", "function", "web")}
    supervisor = Supervisor(
        list(parts.values()),
        lines.append,
        needs={"function": "minio", "web": "minio"},
        start_timeout_s={"function": 120.0},
        now=clock,
    )
    return supervisor, parts, clock, lines


def test_a_killed_part_is_restarted_after_its_back_off_and_reported(rig):
    supervisor, parts, clock, lines = rig
    clock.t += 42
    parts["function"].code = -9
    supervisor.step()
    assert "function exited with signal 9 (SIGKILL) after 42.0 s" in lines[0]
    assert "/data/logs/function.log" in lines[0] and "last words of function" in lines[0]
    assert "restarting in 1 s" in lines[1]
    clock.t += 0.5
    supervisor.step()
    assert parts["function"].starts == 0
    clock.t += 0.5
    supervisor.step()
    assert parts["function"].starts == 1 and supervisor.phase("function") is Phase.STARTING
    clock.t += 3
    supervisor.step()
    assert supervisor.phase("function") is Phase.RUNNING and supervisor.restarts["function"] == 1
    assert "function is back: ready 3.0 s after its restart, 4.0 s after it went down" in lines[-1]
    assert "restarts since start: minio 0, function 1, web 0" in lines[-1]
    assert parts["minio"].starts == parts["web"].starts == 0


def test_the_frontend_waits_for_minio_to_be_back(rig):
    supervisor, parts, clock, lines = rig
    parts["minio"].code = parts["web"].code = -9
    supervisor.step()
    parts["minio"].answers = False  # restarted, but not answering yet
    clock.t += 1
    supervisor.step()
    assert parts["minio"].starts == 1 and parts["web"].starts == 0
    clock.t += 5
    supervisor.step()
    assert parts["web"].starts == 0, "restarted while MinIO was not back"
    parts["minio"].answers = True
    supervisor.step()  # MinIO is back in this round ...
    supervisor.step()  # ... and the frontend restarts in the next
    assert parts["web"].starts == 1 and supervisor.phase("minio") is Phase.RUNNING


def test_a_part_that_keeps_crashing_stops_the_supervisor_naming_it(rig):
    supervisor, parts, clock, lines = rig
    for _ in range(4):
        parts["web"].code = 1
        supervisor.step()
        clock.t += 20
        supervisor.step()  # restarted
        assert supervisor.phase("web") is Phase.STARTING
    parts["web"].code = 1
    with pytest.raises(CrashLoop, match=r"web crashed 5 times within 120 s \(last: exit code 1\)"):
        supervisor.step()


def test_a_restart_that_never_gets_ready_is_killed_and_counts_as_a_crash(rig):
    supervisor, parts, clock, lines = rig
    parts["function"].code = -9
    supervisor.step()
    clock.t += 1
    parts["function"].answers = False
    supervisor.step()
    clock.t += 121
    supervisor.step()
    assert parts["function"].stops == 1
    assert "function was not ready 121 s after its restart: killed" in "\n".join(lines)
    assert "restarting in 2 s" in lines[-1]
    assert supervisor.phase("function") is Phase.WAITING


def test_a_part_that_exits_while_starting_counts_as_a_crash(rig):
    supervisor, parts, clock, lines = rig
    parts["web"].code = 1
    supervisor.step()
    clock.t += 1
    parts["web"].answers = False
    supervisor.step()
    parts["web"].code = 3
    supervisor.step()
    assert "web exited with exit code 3 while starting" in "\n".join(lines)
    assert "restarting in 2 s" in lines[-1]


def test_run_supervises_until_a_crash_loop():
    clock, part = Clock(), FakePart("web")
    part.code = 1  # exits at once, every time

    def sleep(seconds: float) -> None:
        clock.t += seconds
        part.code = 1

    with pytest.raises(CrashLoop, match="web crashed 5 times"):
        Supervisor([part], lambda line: None, now=clock).run(interval_s=1.0, sleep=sleep)
    assert part.starts == 4


def advance(supervisor: Supervisor, clock: Clock, seconds: float, step_s: float = 0.25) -> None:
    """Run the supervisor's loop for `seconds` of the fake clock."""
    end = clock.t + seconds
    while clock.t < end:
        clock.t = min(clock.t + step_s, end)
        supervisor.step()


def test_running_parts_are_asked_every_5_s_with_3_s_to_answer(rig):
    supervisor, parts, clock, lines = rig
    advance(supervisor, clock, 20.0)
    assert parts["web"].asked == [3.0] * 4 and parts["function"].asked == [3.0] * 4
    assert lines == []


def test_a_part_that_stops_answering_is_killed_after_3_misses_and_restarted(rig):
    supervisor, parts, clock, lines = rig
    # GIVEN the frontend stopped (kill -STOP): it runs, and answers nothing
    parts["web"].hangs = True
    advance(supervisor, clock, 14.9)
    assert parts["web"].stops == 0 and len(parts["web"].asked) == 2, "killed before its third miss"
    # WHEN its third check in a row goes unanswered
    advance(supervisor, clock, 0.1)
    # THEN it is killed, and restarted through the crash path: report with its log, back-off, restart
    assert parts["web"].stops == 1 and supervisor.phase("web") is Phase.WAITING
    assert lines[0].startswith(
        "web did not answer /healthz 3 times in a row (asked every 5 s, 3 s to answer): "
        "killed it (SIGKILL) to restart it; last lines of /data/logs/web.log:\n"
    )
    assert "last words of web" in lines[0] and "web: restarting in 1 s (1 crash(es) within 120 s" in lines[1]
    advance(supervisor, clock, 1.0)
    assert parts["web"].starts == 1
    advance(supervisor, clock, 0.5)
    assert supervisor.phase("web") is Phase.RUNNING and supervisor.restarts["web"] == 1
    # "went down" when it first did not answer: 5 s after start, 11.25 s before it was back
    assert "web is back: ready 0.2 s after its restart, 11.2 s after it went down" in lines[-1]
    assert parts["function"].stops == parts["minio"].stops == 0


def test_a_part_that_misses_fewer_checks_in_a_row_is_left_alone(rig):
    supervisor, parts, clock, lines = rig
    for hangs in (True, True, False, True, True, False, True, True):
        parts["function"].hangs = hangs  # busy, not hung: it answers again in time
        advance(supervisor, clock, 5.0)
    assert parts["function"].stops == 0 and lines == [] and len(parts["function"].asked) == 8


def test_a_part_is_not_asked_while_it_is_down_or_starting(rig):
    supervisor, parts, clock, lines = rig
    parts["web"].code = 1
    parts["web"].answers = False  # the restart takes a while to get ready
    advance(supervisor, clock, 30.0)
    assert parts["web"].starts == 1 and supervisor.phase("web") is Phase.STARTING
    assert parts["web"].asked == [], "asked while it was down or starting"
    parts["web"].answers = True
    advance(supervisor, clock, 0.25)
    assert supervisor.phase("web") is Phase.RUNNING
    advance(supervisor, clock, 4.9)
    assert parts["web"].asked == []
    advance(supervisor, clock, 0.25)
    assert parts["web"].asked == [3.0], "checked again from when it was back"


def test_minio_is_given_more_patience_than_the_others():
    clock, lines = Clock(), []
    parts = {name: FakePart(name) for name in ("minio", "function", "web")}
    supervisor = Supervisor(list(parts.values()), lines.append, **supervision(list(parts)), now=clock)
    parts["minio"].hangs = parts["function"].hangs = True
    advance(supervisor, clock, 15.0)
    assert parts["function"].stops == 1 and parts["minio"].stops == 0
    advance(supervisor, clock, 14.9)
    assert parts["minio"].stops == 0 and parts["minio"].asked == [5.0] * 5
    advance(supervisor, clock, 0.1)
    assert parts["minio"].stops == 1
    assert "minio did not answer /minio/health/live 6 times in a row (asked every 5 s, 5 s to answer)" in "\n".join(
        lines
    )


def test_a_part_that_keeps_hanging_is_a_crash_loop(rig):
    supervisor, parts, clock, lines = rig
    with pytest.raises(CrashLoop, match=r"web crashed 5 times within 120 s \(last: no answer to /healthz\)"):
        for _ in range(400):
            parts["web"].hangs = supervisor.phase("web") is Phase.RUNNING
            advance(supervisor, clock, 0.25)
    assert parts["web"].stops == 5 and parts["web"].starts == 4


def test_the_default_declares_a_hang_after_at_least_13_s_without_an_answer():
    live = Liveness()
    assert (live.misses - 1) * live.every_s + live.timeout_s == 13.0
    minio = supervision(["minio"])["liveness"]["minio"]
    assert (minio.misses - 1) * minio.every_s + minio.timeout_s == 30.0
