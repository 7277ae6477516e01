import time

import pytest
from click.testing import CliRunner

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools import commands as cli
from gourmetgram_tools import state


@pytest.fixture
def runner(fake_store, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .gourmetgram/ of a developer's `up` here
    monkeypatch.delenv("GOURMETGRAM_DATA", raising=False)
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: fake_store))
    return CliRunner()


def test_events_prints_the_log_oldest_first(runner, fake_store):
    for i, status in enumerate([Status.DONE, Status.REJECTED]):
        fake_store.put_json(
            "events",
            f"id{i}.json",
            Outcome(
                id=f"id{i}",
                status=status,
                incoming_key=f"photo{i}.jpg",
                incoming_etag="e",
                predicted_class="Soup" if status is Status.DONE else None,
                confidence=0.9 if i == 0 else None,
                reason=None if i == 0 else "not an image",
            ).to_json(),
        )
        fake_store.age("events", f"id{i}.json", 100 - i * 50)
    result = runner.invoke(cli.main, ["events", "--limit", "5"])
    assert result.exit_code == 0
    header, first, second = result.output.strip().splitlines()
    assert header.split() == [
        "time",
        "file",
        "name",
        "status",
        "class",
        "conf.",
        "source",
        "correction",
        "flag",
        "review",
        "reason",
    ]
    assert "done" in first and "Soup" in first and "0.900" in first and "photo0.jpg" in first
    assert "rejected" in second and "not an image" in second


def test_events_shows_the_uploaders_file_name_and_what_people_said(runner, fake_store):
    pid = names.upload_id()
    fake_store.put_json(
        "events",
        names.record_key(pid),
        Outcome(
            id=pid,
            status=Status.DONE,
            incoming_key=f"{pid}.jpg",
            incoming_etag="e",
            source="web",
            original_filename="my lunch.jpg",
            predicted_class="Soup",
            confidence=0.42,
            corrected_class="Noodles-Pasta",
            flagged=True,
            human_label="Seafood",
        ).to_json(),
    )
    header, line = runner.invoke(cli.main, ["events"]).output.strip().splitlines()
    assert "my lunch.jpg" in line and pid not in line
    for column, value in (
        ("status", "done"),
        ("class", "Soup"),
        ("conf.", "0.420"),
        ("source", "web"),
        ("correction", "Noodles-Pasta"),
        ("flag", "flagged"),
        ("review", "Seafood"),
    ):
        at = header.index(column)
        assert line[at:].startswith(value), (column, line)


def test_events_escapes_control_characters_of_names_and_keys(runner, fake_store):
    pid = names.upload_id()
    fake_store.put_json(
        "events",
        names.record_key(pid),
        Outcome(id=pid, status=Status.DONE, incoming_key="a\x1b]0;owned\x07\r.jpg", incoming_etag="e").to_json(),
    )
    output = runner.invoke(cli.main, ["events"]).output
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    assert "a\\x1b]0;owned\\x07\\r.jpg" in output


def test_a_long_file_name_is_cut_to_its_column(runner, fake_store):
    pid = names.upload_id()
    fake_store.put_json(
        "events",
        names.record_key(pid),
        Outcome(
            id=pid,
            status=Status.DONE,
            incoming_key=f"{pid}.jpg",
            incoming_etag="e",
            source="web",
            original_filename="x" * 60 + ".jpg",
            predicted_class="Soup",
        ).to_json(),
    )
    header, line = runner.invoke(cli.main, ["events"]).output.strip().splitlines()
    assert "x" * 39 + "…" in line and line.index("done") == header.index("status")


def test_events_says_when_minio_is_down_naming_the_url_and_where_it_came_from(runner, fake_store, tmp_path):
    fake_store.down = True
    result = runner.invoke(cli.main, ["events"], env={"MINIO_URL": "http://127.0.0.1:19999"})
    assert result.exit_code == cli.EXIT_FAILED and "cannot read the event log" in result.output
    assert "MinIO tried at http://127.0.0.1:19999, from the environment (MINIO_URL)" in result.output
    assert "time" not in result.output  # no header over nothing
    result = runner.invoke(cli.main, ["events"], env={"MINIO_URL": None})
    assert "MinIO tried at http://127.0.0.1:9000, from the default (MINIO_URL unset" in result.output
    state.write_cli_state(tmp_path / "elsewhere", Settings(minio_url="http://127.0.0.1:19001"))
    result = runner.invoke(cli.main, ["events", "--data", str(tmp_path / "elsewhere")], env={"MINIO_URL": None})
    assert f"MinIO tried at http://127.0.0.1:19001, from {tmp_path / 'elsewhere' / 'cli.json'}" in result.output


def test_operator_commands_read_the_state_up_left(fake_store, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, s, timeout_s=10.0: seen.append(s) or fake_store))
    monkeypatch.chdir(tmp_path)
    clear = {"MINIO_URL": None, "MINIO_PASSWORD": None, "GOURMETGRAM_DATA": None}
    state.write_cli_state(
        tmp_path / ".gourmetgram", Settings(minio_url="http://127.0.0.1:19002", minio_password="the-folders-password")
    )
    state.write_cli_state(tmp_path / "other", Settings(minio_url="http://127.0.0.1:19003"))
    runner = CliRunner()
    for argv, env, url in (
        (["events"], {}, "19002"),  # in the folder that holds .gourmetgram/
        (["--data", "other", "events"], {}, "19003"),
        (["events", "--data", "other"], {}, "19003"),
        (["events"], {"GOURMETGRAM_DATA": "other"}, "19003"),  # what env.sh sets
        (["events"], {"MINIO_URL": "http://127.0.0.1:19004"}, "19004"),
    ):  # the environment wins
        result = runner.invoke(cli.main, argv, env={**clear, **env})
        assert result.exit_code == 0, result.output
        assert seen[-1].minio_url == f"http://127.0.0.1:{url}", argv
    assert seen[0].minio_password == "the-folders-password"
    missing = runner.invoke(cli.main, ["--data", "nowhere", "events"], env=clear)
    assert missing.exit_code == cli.EXIT_USAGE and "nowhere holds no state of `gourmetgram up`" in missing.output


def test_the_processes_up_starts_never_read_the_state(tmp_path, monkeypatch):
    # The frontend must not find the webhook token in cli.json: it holds only what it is given.
    monkeypatch.chdir(tmp_path)
    state.write_cli_state(tmp_path / ".gourmetgram", Settings(webhook_token="the-webhook-token"))
    with cli.main.make_context("gourmetgram", ["serve-web"]):
        assert cli._own_settings().webhook_token == Settings().webhook_token
        assert cli._settings().webhook_token == "the-webhook-token"


def test_a_bad_setting_is_a_usage_error_naming_it(runner):
    result = runner.invoke(cli.main, ["events"], env={"BATCH_SIZE": "many"})
    assert result.exit_code == cli.EXIT_USAGE and "BATCH_SIZE 'many'" in result.output


def test_every_documented_command_exists():
    assert {
        "up",
        "configure",
        "serve-fn",
        "serve-web",
        "reconcile",
        "requeue",
        "events",
        "bench",
        "bench-events",
    } <= set(cli.main.commands)


def write(store, pid: str) -> None:
    store.put_json(
        "events",
        names.record_key(pid),
        Outcome(id=pid, status=Status.DONE, incoming_key=f"{pid}.jpg", incoming_etag="e").to_json(),
    )


def test_events_since_shows_every_photo_from_that_time_on_by_the_photos_time(runner, fake_store):
    now = time.time()
    pids = [names.upload_id(now - age) for age in (7200, 3000, 1200, 60)]
    for pid in reversed(pids):  # written newest photo first: the order shown is the photos'
        write(fake_store, pid)
    shown = runner.invoke(cli.main, ["events", "--since", "1h"])
    assert shown.exit_code == 0, shown.output
    assert [line.split()[1] for line in shown.output.splitlines()[1:]] == [f"{pid}.jpg" for pid in pids[1:]]
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1500))
    newest = runner.invoke(cli.main, ["events", "--since", moment, "--limit", "1"])
    assert [line.split()[1] for line in newest.output.splitlines()[1:]] == [f"{pids[-1]}.jpg"]


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


def test_requeue_prints_a_quarantined_key_with_its_control_characters_escaped(runner, fake_store):
    fake_store.put("quarantine", "p1/evil\x1b[2J.jpg", b"text", metadata={"original-key": "cam/evil\x1b[2J.jpg"})
    result = runner.invoke(cli.main, ["requeue", "--no-failed"])
    assert "\x1b" not in result.output
    assert "requeued quarantine/p1/evil\\x1b[2J.jpg -> incoming/cam/evil\\x1b[2J.jpg" in result.output
