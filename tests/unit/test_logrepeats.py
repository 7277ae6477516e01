"""The filter of repeated log lines, with a fake clock; and that the CLI's logging set-up installs it."""

from __future__ import annotations

import logging

import pytest

from gourmetgram_tools import commands, logrepeats
from gourmetgram_tools.logrepeats import RepeatFilter


class Clock:
    def __init__(self):
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


def record(msg: str = "socket.accept() out of system resource", *args, name: str = "asyncio") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


@pytest.fixture
def rig():
    clock = Clock()
    return RepeatFilter(interval_s=10.0, burst=2, now=clock), clock


def test_a_message_in_a_loop_passes_burst_times_per_interval(rig):
    repeats, clock = rig
    passed = []
    for _ in range(1000):  # a second of a tight loop
        passed.append(repeats.filter(record()))
        clock.t += 0.001
    assert passed.count(True) == 2 and passed[:2] == [True, True]


def test_the_first_one_after_a_held_back_spell_says_how_many(rig):
    repeats, clock = rig
    for _ in range(7):
        repeats.filter(record())
        clock.t += 1
    clock.t = 512.0  # the next interval
    first = record()
    assert repeats.filter(first)
    assert first.getMessage() == (
        "socket.accept() out of system resource [5 more like this held back in the 10 s before]"
    )
    second = record()
    assert repeats.filter(second) and second.getMessage() == "socket.accept() out of system resource"


def test_the_same_template_with_other_arguments_is_the_same_message(rig):
    repeats, clock = rig
    results = [
        repeats.filter(record("closed %s, idle %.1f s", f"127.0.0.1:{port}", 0.5, name="fn"))
        for port in range(50000, 50010)
    ]
    assert results == [True, True] + [False] * 8
    clock.t += 10
    later = record("closed %s, idle %.1f s", "127.0.0.1:1", 2.25, name="fn")
    assert repeats.filter(later)
    # the note goes after the template: the arguments still fill it
    assert later.getMessage() == "closed 127.0.0.1:1, idle 2.2 s [8 more like this held back in the 10 s before]"


def test_messages_are_counted_apart_by_logger_and_template(rig):
    repeats, _ = rig
    for _ in range(2):
        assert repeats.filter(record("a"))
    assert not repeats.filter(record("a"))
    assert repeats.filter(record("b")) and repeats.filter(record("a", name="other"))


def test_a_quiet_message_passes_again_after_the_interval(rig):
    repeats, clock = rig
    assert repeats.filter(record()) and repeats.filter(record())
    clock.t += 9.9
    assert not repeats.filter(record())
    clock.t += 0.1
    assert repeats.filter(record())


def test_it_follows_a_bounded_number_of_messages():
    clock = Clock()
    repeats = RepeatFilter(interval_s=10.0, burst=1, now=clock, max_messages=3)
    for name in "abcd":  # "a" is forgotten when "d" comes
        assert repeats.filter(record(name))
    assert repeats.filter(record("a")) and not repeats.filter(record("d"))


def test_the_cli_logging_set_up_installs_it_once_on_the_root_handlers(monkeypatch):
    root = logging.getLogger()
    handler = logging.StreamHandler()
    monkeypatch.setattr(root, "handlers", [handler])
    commands._logging()
    commands._logging()
    assert [type(f) for f in handler.filters] == [RepeatFilter]


def test_the_defaults_bound_a_loop_to_a_few_lines_a_minute():
    assert logrepeats.BURST * 60 / logrepeats.INTERVAL_S <= 10
