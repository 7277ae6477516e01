"""Label Studio tasks and answers, with an export that the real Label Studio 1.23.2 wrote
(tests/fixtures/labelstudio-export.json, from tests/integration/test_labelstudio.py): the first task
answered Egg, the second Rice then Seafood, the third skipped."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from gourmetgram import idtime, names
from gourmetgram.cli import labelstudio
from gourmetgram.idtime import Photo
from gourmetgram.review_queue import Queued, Reason
from tests.conftest import FIXTURES
from tests.fakes import FakeStore
from tests.seeding import seed_photo

EXPORT = json.loads((FIXTURES / "labelstudio-export.json").read_text())
IDS = [t["meta"]["id"] for t in EXPORT]


@pytest.fixture
def seeded(fake_store):
    return [seed_photo(fake_store, idtime.id_time(pid), "Soup", 0.3, pid=pid) for pid in IDS]


def tags(store, record) -> dict:
    return store.get_tags("production", record.production_key)


def test_the_labelling_interface_offers_every_class_with_its_key():
    view = ET.fromstring(labelstudio.label_config())
    choices = view.find("Choices")
    assert view.find("Image").get("name") == choices.get("toName") == "image"
    assert [c.get("value") for c in choices] == list(names.CLASSES)
    assert [c.get("hotkey") for c in choices] == [*map(str, range(10)), "v"]


def test_a_task_carries_the_photo_the_models_answer_and_the_uploaders():
    pid = names.upload_id(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    record = seed_photo(FakeStore(), idtime.id_time(pid), "Rice", 0.42, pid=pid, corrected_class="Egg", flagged=True)
    [task] = labelstudio.tasks([Queued(Photo(record, idtime.id_time(pid)), (Reason.FLAGGED, Reason.CORRECTED))],
                               lambda key: f"https://minio.example/production/{key}?signed")
    assert task["data"]["image"] == f"https://minio.example/production/{record.production_key}?signed"
    assert (task["data"]["corrected_class"], task["data"]["flagged"], task["data"]["reasons"]) == \
        ("Egg", True, "flagged, corrected")
    assert task["meta"] == {"id": pid, "production_key": record.production_key}
    [prediction] = task["predictions"]
    assert prediction["score"] == 0.42 and prediction["model_version"] == "seeded-v1"
    assert prediction["result"] == [{"from_name": "label", "to_name": "image", "type": "choices",
                                     "value": {"choices": ["Rice"]}}]
    assert task["data"]["uploaded"] == "2026-03-01T00:00:00Z"


def test_the_real_export_saves_each_tasks_newest_answer(fake_store, settings, seeded):
    done = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT))
    assert (done.saved, done.unchanged, done.unanswered, done.problems) == (2, 0, 1, [])
    first, second, skipped = seeded
    assert tags(fake_store, first)["human_label"] == "Egg" and tags(fake_store, second)["human_label"] == "Seafood"
    assert "human_label" not in tags(fake_store, skipped)
    # reviewed_at is when the person answered in Label Studio (its updated_at), as a tag time
    assert tags(fake_store, second)["reviewed_at"] == EXPORT[1]["annotations"][1]["updated_at"][:19] + "Z"
    record = fake_store.get_json("events", names.record_key(first.id))[0]
    assert record["human_label"] == "Egg" and record["reviewed_at"] == tags(fake_store, first)["reviewed_at"]
    again = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT))
    assert (again.saved, again.unchanged) == (0, 2)


def test_a_newer_review_is_kept(fake_store, settings, seeded):
    from gourmetgram.labels import change_labels

    def later(record):
        record.human_label, record.reviewed_at = "Bread", "2030-01-01T00:00:00Z"
        return record

    change_labels(fake_store, settings, seeded[0].id, later)
    done = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT))
    assert (done.saved, done.unchanged) == (1, 1) and tags(fake_store, seeded[0])["human_label"] == "Bread"


def test_what_cannot_be_imported_is_named_and_the_rest_saved(fake_store, settings, seeded):
    broken = json.loads(json.dumps(EXPORT))
    broken[0]["annotations"][0]["result"][0]["value"]["choices"] = ["Pizza"]
    broken[1]["meta"]["production_key"] = "class_00/someone-else.jpg"
    broken.append({"id": 99, "data": {"image": "x"}, "annotations": []})
    broken.append("not a task")
    unknown = names.upload_id()
    broken.append({"id": 100, "meta": {"id": unknown}, "annotations": [{"result": [
        {"type": "choices", "value": {"choices": ["Egg"]}}], "updated_at": "2026-11-29T14:00:21Z"}]})
    done = labelstudio.import_file(fake_store, settings, json.dumps(broken))
    assert done.saved == 0 and len(done.problems) == 5
    text = "\n".join(done.problems)
    assert "'Pizza' is not a Food-11 class" in text and "the task names class_00/someone-else.jpg" in text
    assert "task 99: no GourmetGram prediction id" in text and "not a task object" in text
    assert f"{unknown}: no such prediction here" in text
    assert all("human_label" not in tags(fake_store, r) for r in seeded)


@pytest.mark.parametrize("text", ["{}", "not json", '{"tasks": []}'])
def test_a_file_that_is_no_export_is_refused_whole(fake_store, settings, text):
    with pytest.raises(ValueError, match="export"):
        labelstudio.import_file(fake_store, settings, text)
