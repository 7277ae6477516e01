"""The review queue through the real Label Studio and back: tasks out, a person's answers in, tags in MinIO.

Label Studio (PyPI `label-studio`, pinned in scripts/setup.sh) lives in a venv of its own in the tools
cache, installed by `scripts/setup.sh --test-tools`; the test starts it on a free loopback port with a
temporary data folder and creates the project through its API, as an operator would in its web UI.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gourmetgram import names
from gourmetgram_tools import labelstudio
from gourmetgram_tools.local import free_port
from tests.conftest import ROOT, photo
from tests.seeding import seed_photo
from tests.stack import run_cli, wait_until

START_TIMEOUT_S = 240  # measured: about 50 s to /health on 2 busy cores (database migrations at first start)
# Label Studio's start (START_TIMEOUT_S) counts in its first test: more than pytest-timeout's default 300 s.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(START_TIMEOUT_S + 300)]
ARTIFACTS = ROOT / "test-artifacts"
LS_TOKEN = "gourmetgram-test-token-0123456789"


def label_studio_bin(tools_dir: Path) -> Path:
    return tools_dir.parent / "label-studio" / "bin" / "label-studio"


class LabelStudio:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, body: object = None, timeout: float = 60) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Token {LS_TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 (loopback)
                return json.load(r)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            exc.close()
            raise AssertionError(f"Label Studio answered {exc.code} to {method} {path}: {detail}") from None


@pytest.fixture(scope="module")
def label_studio(stack, tmp_path_factory):
    binary = label_studio_bin(stack.settings.tools_dir)
    assert binary.exists(), f"Label Studio is missing at {binary}: scripts/setup.sh --test-tools installs it"
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }
    started = time.monotonic()
    with open(data / "label-studio.log", "wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                "start",
                "--no-browser",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data),
                "--username",
                "operator@example.com",
                "--password",
                "operator-password",
                "--user-token",
                LS_TOKEN,
                "--enable-legacy-api-token",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:

        def healthy() -> bool:
            assert process.poll() is None, (data / "label-studio.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:  # noqa: S310
                    return r.status == 200
            except OSError:
                return False

        wait_until(healthy, START_TIMEOUT_S, "Label Studio's /health", interval=1)
        print(f"\nLabel Studio answered /health {time.monotonic() - started:.0f} s after its start")
        yield LabelStudio(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    return run_cli(stack.settings, *args)


def test_the_queue_goes_to_label_studio_and_its_answers_come_back_as_tags(stack, store, label_studio, tmp_path):
    # GIVEN three photos in the review queue (low confidence), one of them flagged by its uploader
    now = time.time()
    mine = [
        seed_photo(store, now - 300 + i, "Soup", 0.3 + i / 100, flagged=i == 0 or None, data=photo()) for i in range(3)
    ]
    ids = {r.id for r in mine}
    # WHEN the operator exports the queue as tasks and imports them into a new Label Studio project
    exported = cli(
        stack, "review", "export", "--out", str(tmp_path / "tasks.json"), "--config", str(tmp_path / "config.xml")
    )
    assert exported.returncode == 0, exported.stderr
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    ours = {t["meta"]["id"]: t for t in tasks if t["meta"]["id"] in ids}
    assert set(ours) == ids
    first = ours[mine[0].id]
    assert first["meta"]["production_key"] == mine[0].production_key
    assert first["data"]["flagged"] is True and first["data"]["confidence"] == 0.3
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["Soup"]
    with urllib.request.urlopen(first["data"]["image"], timeout=10) as r:  # noqa: S310 (the presigned URL)
        assert r.read() == photo()
    project = label_studio.call(
        "POST", "/api/projects", {"title": "GourmetGram review", "label_config": (tmp_path / "config.xml").read_text()}
    )
    answer = label_studio.call(
        "POST", f"/api/projects/{project['id']}/import?commit_to_project=true", list(ours.values())
    )
    assert answer["task_count"] == 3 and answer["prediction_count"] == 3
    # AND a person answers in Label Studio: Egg for the first, Rice then (changing their mind) Seafood for
    # the second; the third is skipped
    listed = label_studio.call("GET", f"/api/tasks?project={project['id']}&page_size=100")["tasks"]
    task_of = {t["meta"]["id"]: t["id"] for t in listed}

    def annotate(pid: str, choice: str | None) -> None:
        result = (
            []
            if choice is None
            else [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}]
        )
        label_studio.call(
            "POST",
            f"/api/tasks/{task_of[pid]}/annotations",
            {"result": result, "was_cancelled": choice is None, "lead_time": 1.5},
        )

    annotate(mine[0].id, "Egg")
    annotate(mine[1].id, "Rice")
    time.sleep(1.1)  # Label Studio orders annotations by time
    annotate(mine[1].id, "Seafood")
    annotate(mine[2].id, None)
    export = label_studio.call("GET", f"/api/projects/{project['id']}/export?exportType=JSON")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "label-studio-export.json").write_text(json.dumps(export, indent=1))
    (tmp_path / "export.json").write_text(json.dumps(export))
    # THEN importing its JSON export saves the answers as human_label, in the records and the tags
    imported = cli(stack, "review", "import", str(tmp_path / "export.json"))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "saved 2 answer(s)" in imported.stdout and "1 task(s) without an answer" in imported.stdout
    for record, expected in zip(mine, ("Egg", "Seafood", None), strict=True):
        tags = store.get_tags("production", record.production_key)
        saved = store.get_json("events", names.record_key(record.id))[0]
        assert tags.get("human_label") == saved.get("human_label") == expected, (record.id, tags)
        assert (tags.get("reviewed_at") is not None) == (expected is not None)
        assert tags["predicted_class"] == "Soup"  # the model's tags stay
    # AND importing it again changes nothing; the reviewed photos left the queue
    again = cli(stack, "review", "import", str(tmp_path / "export.json"))
    assert "saved 0 answer(s); 2 already there" in again.stdout, again.stdout
    listed = cli(stack, "review", "list", "--limit", "1000").stdout
    assert mine[2].id in listed and mine[0].id not in listed and mine[1].id not in listed


def test_the_checked_in_export_is_what_this_label_studio_writes(label_studio):
    """The unit tests read tests/fixtures/labelstudio-export.json; it must keep the shape the real program
    writes: the keys the import reads are where they were."""
    fixture = json.loads((ROOT / "tests" / "fixtures" / "labelstudio-export.json").read_text())
    assert {"id", "annotations", "data", "meta"} <= set(fixture[0])
    assert {"result", "was_cancelled", "updated_at"} <= set(fixture[0]["annotations"][0])
    assert fixture[0]["annotations"][0]["result"][0]["from_name"] == labelstudio.FROM_NAME
    assert label_studio.call("GET", "/api/version")["release"] == "1.23.2"


def answered(task: dict, tid: int, choice: object) -> dict:
    """A task of `review export` as Label Studio exports it once a person answered `choice` (the fixture's shape)."""
    now = names.now_iso()
    return {
        **task,
        "id": tid,
        "predictions": [tid],
        "annotations": [
            {
                "id": tid,
                "completed_by": 1,
                "was_cancelled": False,
                "created_at": now,
                "updated_at": now,
                "result": [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": choice}}],
            }
        ],
    }


def test_a_bad_task_is_named_and_skipped_and_the_others_saved_on_the_real_minio(stack, store, tmp_path):
    # GIVEN four queued photos, exported as tasks by the real `review export`
    now = time.time()
    mine = [seed_photo(store, now - 600 + i, "Soup", 0.2, data=photo()) for i in range(4)]
    exported = cli(stack, "review", "export", "--out", str(tmp_path / "tasks.json"))
    assert exported.returncode == 0, exported.stderr
    ours = {t["meta"]["id"]: t for t in json.loads((tmp_path / "tasks.json").read_text())}
    good, malformed, moved, hostile = (ours[r.id] for r in mine)
    # WHEN the export holds one good answer and three bad ones: a number for the choices, photo 3's answer
    # given on photo 2's image (the URL `review export` wrote), a class name that would clear the screen
    tasks = [
        answered(good, 1, ["Egg"]),
        answered(malformed, 2, 7),
        answered({**moved, "data": {**moved["data"], "image": malformed["data"]["image"]}}, 3, ["Rice"]),
        answered(hostile, 4, ["\x1b[2J\x1b]0;owned\x07Egg\nsaved 99 answer(s)"]),
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    imported = cli(stack, "review", "import", str(tmp_path / "export.json"))
    # THEN the good answer is saved, each bad task is named, and the exit status says some were not imported
    assert imported.returncode == 1, imported.stdout + imported.stderr
    assert "saved 1 answer(s)" in imported.stdout and "3 not imported" in imported.stdout
    assert f"task 2 ({mine[1].id}): its annotation 1: its choices are a number" in imported.stderr
    assert f"task 3 ({mine[2].id}): its data.image shows another photo ({mine[1].id})" in imported.stderr
    assert f"task 4 ({mine[3].id}): its annotation 1: '\\x1b[2J\\x1b]0;owned\\x07Egg\\nsaved 99" in imported.stderr
    assert "\x1b" not in imported.stderr + imported.stdout and "Traceback" not in imported.stderr
    assert [store.get_tags("production", r.production_key).get("human_label") for r in mine] == [
        "Egg",
        None,
        None,
        None,
    ]


def test_a_file_too_deep_or_too_large_is_refused_whole_with_a_clear_error(stack, tmp_path):
    deep, large = tmp_path / "deep.json", tmp_path / "large.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    with large.open("wb") as f:  # sparse: only its size is written
        f.truncate(32 * 2**20 + 1)
    for path, said in ((deep, "nested 1000 deep, more than the 64 allowed"), (large, "larger than 32 MiB")):
        refused = cli(stack, "review", "import", str(path))
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
