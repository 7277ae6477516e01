"""Label Studio tasks and answers, with an export that the real Label Studio 1.23.2 wrote
(tests/fixtures/labelstudio-export.json, from tests/integration/test_labelstudio.py): the first task
answered Egg, the second Rice then Seafood, the third skipped."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from gourmetgram import idtime, names
from gourmetgram.idtime import Photo
from gourmetgram.review_queue import Queued, Reason
from gourmetgram_tools import labelstudio
from tests.conftest import FIXTURES
from tests.fakes import FakeStore
from tests.seeding import seed_photo

EXPORT = json.loads((FIXTURES / "labelstudio-export.json").read_text())
IDS = [t["meta"]["id"] for t in EXPORT]
NOW = names.parse_iso("2026-12-01T00:00:00Z")  # two days after the export's answers


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
    [task] = labelstudio.tasks(
        [Queued(Photo(record, idtime.id_time(pid)), (Reason.FLAGGED, Reason.CORRECTED))],
        lambda key: f"https://minio.example/production/{key}?signed",
    )
    assert task["data"]["image"] == f"https://minio.example/production/{record.production_key}?signed"
    assert (task["data"]["corrected_class"], task["data"]["flagged"], task["data"]["reasons"]) == (
        "Egg",
        True,
        "flagged, corrected",
    )
    assert task["meta"] == {"id": pid, "production_key": record.production_key}
    [prediction] = task["predictions"]
    assert prediction["score"] == 0.42 and prediction["model_version"] == "seeded-v1"
    assert prediction["result"] == [
        {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["Rice"]}}
    ]
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
        record.human_label, record.reviewed_at = "Bread", "2026-11-30T00:00:00Z"
        return record

    change_labels(fake_store, settings, seeded[0].id, later)
    done = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT), now=NOW)
    assert (done.saved, done.unchanged) == (1, 1) and tags(fake_store, seeded[0])["human_label"] == "Bread"


def test_what_cannot_be_imported_is_named_and_nothing_of_it_saved(fake_store, settings, seeded):
    broken = json.loads(json.dumps(EXPORT))
    broken[0]["annotations"][0]["result"][0]["value"]["choices"] = ["Pizza"]
    # the image names the second photo in another class's folder than its record's (and meta agrees with it)
    moved = f"class_00/{IDS[1]}.jpg"
    broken[1]["data"]["image"] = broken[1]["data"]["image"].replace(f"class_09/{IDS[1]}.jpg", moved)
    broken[1]["meta"]["production_key"] = moved
    broken.append({"id": 99, "data": {"image": "x"}, "annotations": []})
    broken.append("not a task")
    unknown = names.upload_id()
    broken.append(
        {
            "id": 100,
            "meta": {"id": unknown},
            "data": {"image": f"http://127.0.0.1:9000/production/class_03/{unknown}.jpg"},
            "annotations": [
                {"result": [{"type": "choices", "value": {"choices": ["Egg"]}}], "updated_at": "2026-11-29T14:00:21Z"}
            ],
        }
    )
    done = labelstudio.import_file(fake_store, settings, json.dumps(broken), now=NOW)
    assert done.saved == 0 and len(done.problems) == 5
    text = "\n".join(done.problems)
    assert "'Pizza' is not a Food-11 class" in text
    assert f"the task shows the photo {moved}, the record is of class_09/{IDS[1]}.jpg" in text
    assert "task 99: no GourmetGram prediction id" in text and "task at position 5: not a task object" in text
    assert f"{unknown}: no such prediction here" in text
    assert all("human_label" not in tags(fake_store, r) for r in seeded)


def test_one_malformed_task_is_skipped_and_the_others_saved(fake_store, settings, seeded):
    broken = json.loads(json.dumps(EXPORT))
    broken[0]["annotations"][0]["result"][0]["value"]["choices"] = 7
    done = labelstudio.import_file(fake_store, settings, json.dumps(broken), now=NOW)
    assert (done.saved, done.unanswered) == (1, 1)
    assert done.problems == [
        f"task 1 ({IDS[0]}): its annotation 1: its choices are a number, not a list of class names"
    ]
    assert "human_label" not in tags(fake_store, seeded[0]) and tags(fake_store, seeded[1])["human_label"] == "Seafood"


def test_an_answer_shown_on_another_photo_labels_neither(fake_store, settings, seeded):
    """The issue's case: meta.id names the first photo, data.image is the second's URL."""
    broken = json.loads(json.dumps(EXPORT))
    broken[0]["data"]["image"] = broken[1]["data"]["image"]
    del broken[1]["annotations"][:]
    done = labelstudio.import_file(fake_store, settings, json.dumps(broken), now=NOW)
    assert done.saved == 0 and "its data.image shows another photo" in done.problems[0]
    assert all("human_label" not in tags(fake_store, r) for r in seeded)


def test_conflicting_answers_for_one_photo_save_neither(fake_store, settings, seeded):
    """The issue's case: two answers for one photo at the same time, where the last one in the file won."""
    broken = json.loads(json.dumps(EXPORT))
    again = json.loads(json.dumps(broken[0]))
    again["id"] = 4
    again["annotations"][0]["result"][0]["value"]["choices"] = ["Bread"]
    broken.append(again)
    done = labelstudio.import_file(fake_store, settings, json.dumps(broken), now=NOW)
    assert done.saved == 1 and done.problems[0].startswith(f"{IDS[0]}: conflicting answers in one file, none saved")
    assert "human_label" not in tags(fake_store, seeded[0])


def test_a_future_time_is_not_saved_and_one_saved_before_does_not_shadow_real_answers(fake_store, settings, seeded):
    from gourmetgram.labels import change_labels

    future = json.loads(json.dumps(EXPORT))
    future[0]["annotations"][0]["updated_at"] = "9999-12-31T23:59:59Z"
    done = labelstudio.import_file(fake_store, settings, json.dumps(future), now=NOW)
    assert done.saved == 1 and "'9999-12-31T23:59:59Z' is in the future" in done.problems[0]
    assert "human_label" not in tags(fake_store, seeded[0])

    def poisoned(record):  # what an import before this check stored
        record.human_label, record.reviewed_at = "Bread", "9999-12-31T23:59:59Z"
        return record

    change_labels(fake_store, settings, seeded[0].id, poisoned)
    done = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT), now=NOW)
    assert (done.saved, done.unchanged, done.problems) == (1, 1, [])
    assert tags(fake_store, seeded[0])["human_label"] == "Egg"
    assert tags(fake_store, seeded[0])["reviewed_at"] == "2026-11-29T14:00:21Z"


@pytest.mark.parametrize(
    "stored",
    [5, ["2026-11-30T00:00:00Z"], {"at": 1}, "yesterday"],
    ids=["a-number", "a-list", "an-object", "not-a-time"],
)
def test_a_record_whose_reviewed_at_is_no_time_is_named_and_the_other_answers_are_saved(
    fake_store, settings, seeded, stored
):
    """The frontend's MinIO user may write any record: its reviewed_at is not trusted to be a time."""
    key = names.record_key(seeded[0].id)
    doc, _ = fake_store.get_json("events", key)
    fake_store.put_json("events", key, {**doc, "human_label": "Bread", "reviewed_at": stored})
    done = labelstudio.import_file(fake_store, settings, json.dumps(EXPORT), now=NOW)
    assert done.saved == 1 and done.problems == [
        f"{seeded[0].id}: its record's reviewed_at {stored!r} is not a time: not saved over it (check that record)"
    ]
    assert fake_store.get_json("events", key)[0]["human_label"] == "Bread"  # left as it was
    assert tags(fake_store, seeded[1])["human_label"] == "Seafood"  # the export's other answer, saved


@pytest.mark.parametrize("text", ["{}", "not json", '{"tasks": []}', "[" * 1000 + "]" * 1000])
def test_a_file_that_is_no_export_is_refused_whole(fake_store, settings, text):
    with pytest.raises(ValueError, match="export"):
        labelstudio.import_file(fake_store, settings, text)
