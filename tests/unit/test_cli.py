import pytest
from click.testing import CliRunner

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
    assert {"up", "configure", "serve-fn", "serve-web", "reconcile", "requeue", "events", "bench"} <= set(
        cli.main.commands)
