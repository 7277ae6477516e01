import time

import pytest
from click.testing import CliRunner

from gourmetgram import names
from gourmetgram.cli import commands as cli
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import Store


@pytest.fixture
def runner(fake_store, monkeypatch):
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: fake_store))
    return CliRunner()


def test_events_prints_the_log_oldest_first(runner, fake_store):
    for i, status in enumerate([Status.DONE, Status.REJECTED]):
        fake_store.put_json("events", f"id{i}.json", Outcome(
            id=f"id{i}", status=status, incoming_key=f"photo{i}.jpg", incoming_etag="e",
            predicted_class="Soup" if status is Status.DONE else None, confidence=0.9 if i == 0 else None,
            reason=None if i == 0 else "not an image").to_json())
        fake_store.age("events", f"id{i}.json", 100 - i * 50)
    result = runner.invoke(cli.main, ["events", "--limit", "5"])
    assert result.exit_code == 0
    first, second = result.output.strip().splitlines()
    assert "done" in first and "Soup" in first and "0.900" in first and "photo0.jpg" in first
    assert "rejected" in second and "not an image" in second


def test_events_says_when_minio_is_down(runner, fake_store):
    fake_store.down = True
    result = runner.invoke(cli.main, ["events"])
    assert result.exit_code == cli.EXIT_FAILED and "cannot read the event log" in result.output


def test_a_bad_setting_is_a_usage_error_naming_it(runner):
    result = runner.invoke(cli.main, ["events"], env={"BATCH_SIZE": "many"})
    assert result.exit_code == cli.EXIT_USAGE and "BATCH_SIZE 'many'" in result.output


def test_every_documented_command_exists():
    assert {"up", "configure", "serve-fn", "serve-web", "reconcile", "requeue", "events", "bench",
            "bench-events"} <= set(cli.main.commands)


def write(store, pid: str) -> None:
    store.put_json("events", names.record_key(pid), Outcome(id=pid, status=Status.DONE, incoming_key=f"{pid}.jpg",
                                                            incoming_etag="e").to_json())


def test_events_since_shows_every_photo_from_that_time_on_by_the_photos_time(runner, fake_store):
    now = time.time()
    pids = [names.upload_id(now - age) for age in (7200, 3000, 1200, 60)]
    for pid in reversed(pids):  # written newest photo first: the order shown is the photos'
        write(fake_store, pid)
    shown = runner.invoke(cli.main, ["events", "--since", "1h"])
    assert shown.exit_code == 0, shown.output
    assert [line.split()[-1] for line in shown.output.splitlines()] == [f"{pid}.jpg" for pid in pids[1:]]
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1500))
    newest = runner.invoke(cli.main, ["events", "--since", moment, "--limit", "1"])
    assert [line.split()[-1] for line in newest.output.splitlines()] == [f"{pids[-1]}.jpg"]


@pytest.mark.parametrize("since", ["yesterday", "2026-11-26T10:00:00", "15x", "-5m"])
def test_a_bad_since_is_a_usage_error_saying_what_to_give(runner, since):
    result = runner.invoke(cli.main, ["events", "--since", since])
    assert result.exit_code == cli.EXIT_USAGE
    assert "neither a time with its zone (2026-11-26T10:00:00Z) nor an age (90s, 15m, 2h, 3d)" in result.output


def test_a_bad_follow_window_is_a_usage_error(runner):
    result = runner.invoke(cli.main, ["events", "--follow", "--window", "0m"])
    assert result.exit_code == cli.EXIT_USAGE and "'0m' is not an age such as 90s" in result.output


def test_bench_events_refuses_sizes_that_are_not_numbers(runner):
    result = runner.invoke(cli.main, ["bench-events", "--records", "20000,lots"])
    assert result.exit_code == cli.EXIT_USAGE
    assert "'20000,lots' is not a list of record counts such as 20000,200000" in result.output
