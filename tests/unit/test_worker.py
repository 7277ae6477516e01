import json
import time
from urllib.parse import quote

import pytest

from classifier_fn.inference.infer import Prediction
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import Item, WorkQueue
from classifier_fn.pipeline.worker import process
from classifier_fn.runtime import Runtime
from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from tests.conftest import image_bytes, photo
from tests.fakes import FakeStore


class FixedBatcher:
    """Stands in for the model: always the same class, counting calls."""

    def __init__(self, index: int = 9, probability: float = 0.8734):
        self.calls = 0
        self.prediction = Prediction(
            index, probability, ((index, probability), (3, 0.0912346), (0, 0.02)), model_version="food11-test"
        )

    def predict(self, tensor, timeout=120.0, shadow=False):
        assert tuple(tensor.shape) == (3, 224, 224)
        self.calls += 1
        return self.prediction


@pytest.fixture
def rt(settings, fake_store):
    return Runtime(settings, fake_store, WorkQueue(10, 10), FixedBatcher(), "food11-test", Metrics(), "w-test")


def drop(store, key: str, data: bytes, **metadata) -> Item:
    store.put("incoming", key, data, metadata=metadata)
    return Item("incoming", key, store.head("incoming", key).etag)


def pid_of(store, item: Item) -> str:
    return names.drop_id("incoming", item.key, item.etag, store.head("incoming", item.key).last_modified)


def record(store, pid: str) -> dict:
    return store.get_json("events", names.record_key(pid))[0]


def test_a_photo_ends_in_production_with_tags_record_and_empty_incoming(rt, fake_store):
    # GIVEN a photo dropped straight into the bucket
    item = drop(fake_store, "my dir/Soup +1é.JPG", photo())
    pid = pid_of(fake_store, item)
    # WHEN the worker processes it
    assert process(rt, item) == "done"
    # THEN exactly one production object with the five tags, the record, and nothing left in incoming
    assert fake_store.keys("production") == [f"class_09/{pid}.jpg"]
    tags = fake_store.get_tags("production", f"class_09/{pid}.jpg")
    assert tags["predicted_class"] == "Soup" and tags["confidence"] == "0.873" and tags["source"] == "bucket"
    assert tags["model_version"] == "food11-test" and names.parse_iso(tags["timestamp"]) <= time.time()
    meta = fake_store.head("production", f"class_09/{pid}.jpg").metadata
    assert meta["original-key"] == "my dir/Soup %2B1%C3%A9.JPG" and meta["original-etag"] == item.etag
    doc = record(fake_store, pid)
    assert doc["status"] == "done" and doc["class_index"] == 9 and doc["production_key"] == f"class_09/{pid}.jpg"
    assert doc["incoming_key"] == item.key and doc["latency_ms"] >= 0
    # the record keeps the runner-ups (the page shows them when the model hesitates); the tags only the top-1
    assert doc["confidence"] == 0.8734 and doc["top"] == [
        {"class": "Soup", "confidence": 0.8734},
        {"class": "Egg", "confidence": 0.091235},
        {"class": "Bread", "confidence": 0.02},
    ]
    assert {"uploaded", "received", "claimed", "fetched", "decoded", "classified", "stored", "finished"} <= set(
        doc["timestamps"]
    )
    assert fake_store.keys("incoming") == []


def test_web_uploads_keep_their_id_and_source(rt, fake_store):
    pid = "0b0f5a8e-4a65-4bb3-9d6e-6b9f7d7e0c11"
    item = drop(fake_store, f"{pid}.png", image_bytes("PNG"), **{"prediction-id": pid, "source": "web"})
    process(rt, item)
    assert fake_store.keys("production") == [f"class_09/{pid}.png"]
    assert record(fake_store, pid)["source"] == "web"


def test_a_production_photo_dropped_again_is_a_new_photo_with_its_own_record(rt, fake_store):
    # GIVEN a web upload that is done
    pid = names.upload_id()
    first = drop(fake_store, f"{pid}.jpg", photo(), **{"prediction-id": pid, "source": "web"})
    assert process(rt, first) == "done"
    [done_key] = fake_store.keys("production")
    # WHEN an operator copies its production object (metadata and all) back into incoming
    copy = fake_store.head("production", done_key)
    again = drop(fake_store, "again.jpg", fake_store.read("production", done_key), **copy.metadata)
    new_pid = pid_of(fake_store, again)
    # THEN it is classified as a new photo: its own id, record and production object; the first is untouched
    assert process(rt, again) == "done"
    assert new_pid != pid and record(fake_store, new_pid)["incoming_key"] == "again.jpg"
    assert record(fake_store, new_pid)["source"] == "bucket"
    assert sorted(fake_store.keys("production")) == sorted([done_key, f"class_09/{new_pid}.jpg"])
    assert record(fake_store, pid)["incoming_key"] == f"{pid}.jpg"
    assert fake_store.keys("incoming") == []


def test_another_photo_under_a_done_uploads_key_is_new_work(rt, fake_store):
    pid = names.upload_id()
    first = drop(fake_store, f"{pid}.jpg", photo(), **{"prediction-id": pid, "source": "web"})
    assert process(rt, first) == "done"
    # A different photo PUT under the same key with the same id: not the version the id was made for.
    other = drop(fake_store, f"{pid}.jpg", photo("10_36.jpg"), **{"prediction-id": pid, "source": "web"})
    other_pid = pid_of(fake_store, other)
    assert process(rt, other) == "done"
    assert other_pid != pid and record(fake_store, other_pid)["incoming_etag"] == other.etag
    assert record(fake_store, pid)["incoming_etag"] == first.etag and len(fake_store.keys("production")) == 2


def test_the_same_bytes_dropped_again_later_are_a_new_photo(rt, fake_store):
    first = drop(fake_store, "soup.jpg", photo())
    fake_store.age("incoming", "soup.jpg", 5)  # uploaded five seconds ago
    first_pid = pid_of(fake_store, first)
    assert process(rt, first) == "done"
    again = drop(fake_store, "soup.jpg", photo())  # same key, same bytes, same ETag, a new upload
    assert again.etag == first.etag and pid_of(fake_store, again) != first_pid
    assert process(rt, again) == "done"
    assert len(fake_store.keys("production")) == 2


def test_an_id_in_the_metadata_of_an_odd_key_is_not_honoured(rt, fake_store):
    pid = names.upload_id()
    item = drop(fake_store, f"folder/{pid}.jpg", photo(), **{"prediction-id": pid, "source": "web"})
    own = pid_of(fake_store, item)
    assert process(rt, item) == "done"
    assert fake_store.keys("production") == [f"class_09/{own}.jpg"] and record(fake_store, own)["source"] == "bucket"


def test_a_repeated_event_does_no_second_work(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    assert process(rt, item) == "done"
    assert process(rt, Item("incoming", "a.jpg", item.etag)) == "gone"
    assert rt.batcher.calls == 1 and len(fake_store.keys("production")) == 1


def test_a_crash_between_record_and_delete_is_finished_later(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    fake_store.fail_next["delete"] = 99  # the delete never gets through this time
    process(rt, item)
    assert fake_store.keys("incoming") == ["a.jpg"]
    fake_store.fail_next.clear()
    assert process(rt, Item("incoming", "a.jpg", item.etag)) == "finished"
    assert fake_store.keys("incoming") == [] and rt.batcher.calls == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="zero-bytes"),
        pytest.param(b"hello, I am text", "not an image", id="text"),
    ],
)
def test_bad_files_go_to_quarantine_with_a_reason(rt, fake_store, data, reason):
    item = drop(fake_store, "bad/file.jpg", data)
    pid = pid_of(fake_store, item)
    assert process(rt, item) == "rejected"
    doc = record(fake_store, pid)
    assert doc["status"] == "rejected" and reason in doc["reason"]
    assert fake_store.keys("quarantine") == [doc["quarantine_key"]] == [f"{pid}/file.jpg"]
    assert reason in fake_store.get_tags("quarantine", doc["quarantine_key"])["reason"]
    assert fake_store.keys("incoming") == [] and fake_store.keys("production") == []
    assert rt.batcher.calls == 0


def test_a_photo_under_a_key_ending_in_a_slash_is_labelled_with_the_extension_of_its_content(rt, fake_store):
    # GIVEN a JPEG whose key ends in '/' (S3 lets a "folder" key hold bytes), so it has no extension of its own
    item = drop(fake_store, "weird/dirwithdata/", photo())
    pid = pid_of(fake_store, item)
    # WHEN it is worked, THEN it is a photo like any other: in production as .jpg, image/jpeg, with its record
    assert process(rt, item) == "done"
    assert fake_store.keys("production") == [f"class_09/{pid}.jpg"]
    assert fake_store.head("production", f"class_09/{pid}.jpg").content_type == "image/jpeg"
    doc = record(fake_store, pid)
    assert doc["status"] == "done" and doc["incoming_key"] == "weird/dirwithdata/"
    assert fake_store.keys("incoming") == []


def test_a_file_under_a_key_ending_in_a_slash_that_is_no_photo_is_quarantined_under_its_last_segment(rt, fake_store):
    item = drop(fake_store, "notes/textdir/", b"hello, I am text")
    pid = pid_of(fake_store, item)
    assert process(rt, item) == "rejected"
    doc = record(fake_store, pid)
    assert "not an image" in doc["reason"] and doc["quarantine_key"] == f"{pid}/textdir"
    assert fake_store.keys("quarantine") == [f"{pid}/textdir"] and fake_store.keys("incoming") == []


def test_a_zero_byte_folder_marker_that_reaches_the_worker_is_left_alone_without_a_record(rt, fake_store):
    item = drop(fake_store, "folder/", b"")
    assert process(rt, item) == "marker"
    assert fake_store.keys("incoming") == ["folder/"]
    assert fake_store.keys("events") == [] and fake_store.keys("quarantine") == []


def test_over_the_size_limit_is_rejected_without_reading(rt, fake_store):
    rt.settings = rt.settings.replace(max_object_bytes=1000)
    item = drop(fake_store, "big.jpg", photo())
    assert process(rt, item) == "rejected"
    [key] = fake_store.keys("quarantine")
    assert "file too large" in fake_store.get_tags("quarantine", key)["reason"]
    assert "read" not in fake_store.calls


def test_transient_errors_are_retried_then_succeed(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    fake_store.fail_next["read"] = 2
    assert process(rt, item) == "done"


def test_lasting_trouble_is_recorded_failed_and_left_for_the_reconciler(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    pid = pid_of(fake_store, item)
    fake_store.fail_next["copy"] = 99
    assert process(rt, item) == "failed"
    doc = record(fake_store, pid)
    assert doc["status"] == "failed" and "storage unavailable" in doc["reason"]
    assert names.parse_iso(doc["retry_after"]) > time.time()
    assert fake_store.keys("incoming") == ["a.jpg"]


def test_minio_down_at_claim_leaves_the_object_in_place(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    fake_store.down = True
    # "unavailable", not "failed": nothing was recorded, so a message transport gives the event back (nak)
    assert process(rt, item) == "unavailable"
    fake_store.down = False
    assert fake_store.keys("incoming") == ["a.jpg"] and fake_store.keys("production") == []
    assert fake_store.keys("events") == []


def test_minio_gone_after_the_claim_is_unavailable_not_failed_while_the_record_stays_pending(rt, fake_store):
    # GIVEN MinIO that answers the GET and the claim, then goes away during the copy
    item = drop(fake_store, "a.jpg", photo())
    pid = pid_of(fake_store, item)
    real_copy = fake_store.copy

    def copy_then_down(*args, **kwargs):
        fake_store.down = True
        return real_copy(*args, **kwargs)

    fake_store.copy = copy_then_down
    # WHEN the worker cannot even record the failure
    result = process(rt, item)
    fake_store.down = False
    # THEN it says so ("unavailable": a stream message comes back), not "failed" (which is acked as final)
    assert result == "unavailable"
    assert record(fake_store, pid)["status"] == "pending" and fake_store.keys("incoming") == ["a.jpg"]


def test_a_replaced_object_is_not_classified_under_the_old_version(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    fake_store.put("incoming", "a.jpg", photo("10_36.jpg"))  # overwritten before the worker came
    assert process(rt, item) == "stale"
    assert fake_store.keys("production") == []


def test_a_web_uploads_record_names_the_uploaders_file(rt, fake_store):
    # GIVEN a web upload (stored as <id><ext>) whose metadata carries the file's name, percent-encoded
    pid = names.upload_id()
    name = "Soupe à l'oignon 100%.JPG"
    item = drop(
        fake_store,
        f"{pid}.jpg",
        photo(),
        **{"prediction-id": pid, "source": "web", "original-filename": quote(name, safe="")},
    )
    # WHEN it is classified
    assert process(rt, item) == "done"
    # THEN its record names the file as the uploader knows it, beside the key it was stored under
    doc = record(fake_store, pid)
    assert doc["original_filename"] == name and doc["incoming_key"] == f"{pid}.jpg"
    # AND a dropped object with the same metadata but no upload of its own is named by its key alone
    other = drop(fake_store, "dropped.jpg", photo(), **{"original-filename": quote(name, safe="")})
    other_pid = pid_of(fake_store, other)
    assert process(rt, other) == "done"
    assert "original_filename" not in record(fake_store, other_pid)


TOKEN_HASH = "ab" * 32


def test_the_feedback_token_hash_reaches_the_record_of_the_upload_it_was_issued_for(rt, fake_store):
    pid = names.upload_id()
    item = drop(
        fake_store,
        f"{pid}.jpg",
        photo(),
        **{"prediction-id": pid, "source": "web", names.FEEDBACK_TOKEN_METADATA: TOKEN_HASH},
    )
    assert process(rt, item) == "done"
    assert record(fake_store, pid)[names.FEEDBACK_TOKEN_FIELD] == TOKEN_HASH
    # The production object does not carry it: a copy of it back into incoming could not either.
    [key] = fake_store.keys("production")
    assert TOKEN_HASH not in repr(fake_store.head("production", key).metadata)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("again.jpg", id="another-name"),
        pytest.param("folder/{pid}.jpg", id="in-a-folder"),
    ],
)
def test_a_copy_carrying_an_uploads_metadata_does_not_carry_its_token(rt, fake_store, key):
    # GIVEN the incoming object of a web upload, copied with its metadata (token hash included) under another key
    pid = names.upload_id()
    item = drop(
        fake_store,
        key.format(pid=pid),
        photo(),
        **{"prediction-id": pid, "source": "web", names.FEEDBACK_TOKEN_METADATA: TOKEN_HASH},
    )
    own = pid_of(fake_store, item)
    # WHEN it is classified: a new photo with an id of its own
    assert process(rt, item) == "done"
    # THEN its record has no token hash: whoever held the upload's token cannot relabel the copy
    assert own != pid and names.FEEDBACK_TOKEN_FIELD not in record(fake_store, own)


def test_a_foreign_upload_id_gets_no_token_either(rt, fake_store):
    # GIVEN a done web upload, then another photo PUT under its key with its id and a token hash of its own
    pid = names.upload_id()
    first = drop(
        fake_store,
        f"{pid}.jpg",
        photo(),
        **{"prediction-id": pid, "source": "web", names.FEEDBACK_TOKEN_METADATA: TOKEN_HASH},
    )
    assert process(rt, first) == "done"
    other = drop(
        fake_store,
        f"{pid}.jpg",
        photo("10_36.jpg"),
        **{"prediction-id": pid, "source": "web", names.FEEDBACK_TOKEN_METADATA: "cd" * 32},
    )
    other_pid = pid_of(fake_store, other)
    assert process(rt, other) == "done"
    # THEN the upload keeps its own hash and the other photo's record has none
    assert record(fake_store, pid)[names.FEEDBACK_TOKEN_FIELD] == TOKEN_HASH
    assert names.FEEDBACK_TOKEN_FIELD not in record(fake_store, other_pid)


def test_a_malformed_token_hash_is_not_recorded(rt, fake_store):
    pid = names.upload_id()
    item = drop(
        fake_store,
        f"{pid}.jpg",
        photo(),
        **{"prediction-id": pid, "source": "web", names.FEEDBACK_TOKEN_METADATA: "not-a-sha256"},
    )
    assert process(rt, item) == "done"
    assert names.FEEDBACK_TOKEN_FIELD not in record(fake_store, pid)


def test_a_worker_whose_claim_was_taken_over_never_overwrites_the_new_owners_record(rt, fake_store):
    # GIVEN a worker so slow that its claim lapsed and another worker took the photo over meanwhile
    item = drop(fake_store, "slow.jpg", photo())
    pid = pid_of(fake_store, item)

    class TakenOverWhileClassifying(FixedBatcher):
        def predict(self, tensor, timeout=120.0, shadow=False):
            doc, etag = fake_store.get_json("events", names.record_key(pid))
            fake_store.put_json("events", names.record_key(pid), {**doc, "worker": "the-new-owner"}, if_match=etag)
            return super().predict(tensor, timeout)

    rt.batcher = TakenOverWhileClassifying()
    # WHEN the slow worker finishes
    assert process(rt, item) == "overtaken"
    # THEN the new owner's record stands and the photo stays in incoming for it
    assert record(fake_store, pid)["worker"] == "the-new-owner" and record(fake_store, pid)["status"] == "pending"
    assert fake_store.keys("incoming") == ["slow.jpg"]


def test_an_error_after_the_done_record_never_turns_it_into_failed(rt, fake_store, monkeypatch):
    from classifier_fn.pipeline import worker

    item = drop(fake_store, "a.jpg", photo())
    pid = pid_of(fake_store, item)

    def broken_delete(rt_, info):
        raise RuntimeError("a bug after the record was written")

    monkeypatch.setattr(worker, "_delete_incoming", broken_delete)
    process(rt, item)
    assert record(fake_store, pid)["status"] == "done"  # the failure could not overwrite it


def test_a_second_rejected_file_of_the_same_name_keeps_the_first_in_quarantine(rt, fake_store):
    first = drop(fake_store, "cam/IMG_0001.jpg", b"not a photo, the first")
    fake_store.age("incoming", "cam/IMG_0001.jpg", 5)
    first_pid = pid_of(fake_store, first)
    assert process(rt, first) == "rejected"
    second = drop(fake_store, "cam/IMG_0001.jpg", b"not a photo either, the second")
    second_pid = pid_of(fake_store, second)
    assert process(rt, second) == "rejected"
    keys = {record(fake_store, pid)["quarantine_key"]: pid for pid in (first_pid, second_pid)}
    assert sorted(fake_store.keys("quarantine")) == sorted(keys)
    for key, pid in keys.items():
        assert fake_store.head("quarantine", key).metadata["prediction-id"] == pid


def _again_in_the_same_second(store, first: Item, moment, data: bytes) -> Item:
    """The same bytes under the same key, written at `moment`, the Last-Modified of `first` (MinIO's has
    whole seconds)."""
    again = drop(store, first.key, data)
    store.written_at("incoming", first.key, moment)
    return again


def test_a_file_requeued_within_the_second_of_its_first_verdict_gets_a_record_of_its_own(rt, fake_store):
    # GIVEN a text file rejected, then copied back into incoming (as `requeue` does) in the same second
    first = drop(fake_store, "requeue/notes.jpg", b"plain text")
    first_pid = pid_of(fake_store, first)
    moment = fake_store.head("incoming", first.key).last_modified
    assert process(rt, first) == "rejected"
    verdict = record(fake_store, first_pid)
    fake_store.delete("quarantine", verdict["quarantine_key"])
    again = _again_in_the_same_second(fake_store, first, moment, b"plain text")
    assert pid_of(fake_store, again) == first_pid  # docs/contract.md#prediction-ids: one derived id for both
    again_version = fake_store.head("incoming", again.key).version_id
    # WHEN the function meets the copy, THEN it is a new photo version with its own id and verdict
    assert process(rt, again) == "rejected"
    assert record(fake_store, first_pid) == verdict  # the old verdict stays, as history
    (qkey,) = fake_store.keys("quarantine")
    second_pid = fake_store.head("quarantine", qkey).metadata["prediction-id"]
    assert second_pid != first_pid and qkey != verdict["quarantine_key"]
    second = record(fake_store, second_pid)
    assert second["status"] == "rejected" and second["incoming_version"] == again_version
    assert second_pid[:13] == first_pid[:13]  # still ordered by the object's time
    assert fake_store.keys("incoming") == []


def test_the_same_photo_dropped_twice_in_one_second_is_two_photos(rt, fake_store):
    first = drop(fake_store, "twice.jpg", photo())
    info = fake_store.head("incoming", "twice.jpg")
    first_version = info.version_id
    again = _again_in_the_same_second(fake_store, first, info.last_modified, photo())
    second_version = fake_store.head("incoming", "twice.jpg").version_id
    queued = [Item("incoming", "twice.jpg", first.etag, version_id=v) for v in (first_version, second_version)]
    assert [process(rt, item) for item in queued] == ["done", "done"]
    assert process(rt, Item("incoming", "twice.jpg", again.etag, version_id=second_version)) == "gone"
    stored = fake_store.keys("production")
    assert len(stored) == 2
    versions = {record(fake_store, key.split("/")[1].removesuffix(".jpg"))["incoming_version"] for key in stored}
    assert versions == {first_version, second_version}
    assert fake_store.versions("incoming", "twice.jpg") == []


def test_a_twins_production_copy_is_no_proof_for_a_forged_record_under_the_versions_own_id(rt, fake_store):
    # GIVEN a photo done, and its twin (same bytes, key and second) waiting
    first = drop(fake_store, "twin.jpg", photo())
    info = fake_store.head("incoming", "twin.jpg")
    assert process(rt, first) == "done"
    (first_copy,) = fake_store.keys("production")
    _again_in_the_same_second(fake_store, first, info.last_modified, photo())
    twin = fake_store.head("incoming", "twin.jpg")
    # AND a forged done record under the twin's version-bound id that names the first photo's copy
    pid = names.drop_id("incoming", "twin.jpg", twin.etag, twin.last_modified, twin.version_id)
    forged = Outcome(
        id=pid,
        status=Status.DONE,
        incoming_key="twin.jpg",
        incoming_etag=twin.etag,
        incoming_modified=names.timestamp_tag(twin.last_modified),
        incoming_version=twin.version_id,
        production_key=first_copy,
    )
    fake_store.put_json("events", names.record_key(pid), forged.to_json())
    # WHEN the twin is worked, THEN it is classified for real (the copy names another record)
    assert process(rt, Item("incoming", "twin.jpg", twin.etag, version_id=twin.version_id)) == "done"
    assert len(fake_store.keys("production")) == 2 and record(fake_store, pid)["production_key"] != first_copy


def test_a_claim_that_finds_only_foreign_records_works_on_none_of_them(rt, fake_store, monkeypatch):
    from classifier_fn.pipeline import worker
    from classifier_fn.pipeline.claim import IdFrom

    # GIVEN an upload id that is another photo's, and (against _ids' promise) no id left after it
    other = names.upload_id()
    fake_store.put_json(
        "events",
        names.record_key(other),
        Outcome(id=other, status=Status.DONE, incoming_key=f"{other}.jpg", incoming_etag="another").to_json(),
    )
    monkeypatch.setattr(worker, "_ids", lambda item, info: [(other, IdFrom.UPLOAD)])
    item = drop(fake_store, f"{other}.jpg", photo(), **{"prediction-id": other})
    # THEN nothing is written over the other photo's record and the photo waits for a later attempt
    assert process(rt, item) == "unavailable"
    assert record(fake_store, other)["incoming_etag"] == "another" and fake_store.keys("incoming") == [item.key]


def test_a_forged_final_record_does_not_get_a_photo_deleted_unclassified(rt, fake_store):
    # GIVEN a record claiming the photo is done, written by someone who may write records (the frontend's
    # identity may, for labels), with no production object behind it
    item = drop(fake_store, "victim.jpg", photo())
    pid = pid_of(fake_store, item)
    info = fake_store.head("incoming", "victim.jpg")
    forged = Outcome(
        id=pid,
        status=Status.DONE,
        incoming_key="victim.jpg",
        incoming_etag=item.etag,
        incoming_modified=names.timestamp_tag(info.last_modified),
        production_key="class_00/x.jpg",
    )
    fake_store.put_json("events", names.record_key(pid), forged.to_json())
    # WHEN the function meets the photo
    assert process(rt, item) == "done"
    # THEN the forged record is taken over and the photo classified for real
    doc = record(fake_store, pid)
    assert doc["production_key"] == f"class_09/{pid}.jpg" and fake_store.keys("production") == [doc["production_key"]]


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"status": "pending", "expires_at": "2099-01-01T00:00:00.000Z"}, id="claim-for-ever"),
        pytest.param({"status": "failed", "retry_after": "2099-01-01T00:00:00.000Z"}, id="back-off-for-ever"),
        pytest.param({"status": "pending", "incoming_key": "another.jpg"}, id="another-version-under-a-drop-id"),
        pytest.param("not json at all", id="not-json"),
        pytest.param(["a", "list"], id="not-an-object"),
    ],
)
def test_a_record_that_cannot_be_genuine_is_taken_over(rt, fake_store, forged):
    item = drop(fake_store, "photo.jpg", photo())
    pid = pid_of(fake_store, item)
    info = fake_store.head("incoming", "photo.jpg")
    if isinstance(forged, dict):
        base = Outcome(
            id=pid,
            status=Status.PENDING,
            incoming_key="photo.jpg",
            incoming_etag=item.etag,
            incoming_modified=names.timestamp_tag(info.last_modified),
        ).to_json()
        fake_store.put_json("events", names.record_key(pid), {**base, **forged})
    else:
        fake_store.put(
            "events",
            names.record_key(pid),
            json.dumps(forged).encode() if forged != "not json at all" else b"not json at all",
        )
    assert process(rt, item) == "done"
    assert record(fake_store, pid)["status"] == "done" and fake_store.keys("incoming") == []


def test_a_late_copy_after_a_takeover_leaves_the_labels_on_the_tags(rt, fake_store):
    # GIVEN a slow worker: while it classifies, its claim lapses, another worker finishes the photo and
    # the uploader corrects the label
    item = drop(fake_store, "slow.jpg", photo())
    pid = pid_of(fake_store, item)
    key = f"class_09/{pid}.jpg"

    class OvertakenWhileClassifying(FixedBatcher):
        def predict(self, tensor, timeout=120.0, shadow=False):
            doc, etag = fake_store.get_json("events", names.record_key(pid))
            fake_store.copy(
                fake_store.head("incoming", "slow.jpg"),
                "production",
                key,
                metadata={"prediction-id": pid},
                tags={"predicted_class": "Soup", "corrected_class": "Egg"},
            )
            fake_store.put_json(
                "events",
                names.record_key(pid),
                {**doc, "status": "done", "production_key": key, "corrected_class": "Egg"},
                if_match=etag,
            )
            return super().predict(tensor, timeout)

    rt.batcher = OvertakenWhileClassifying()
    # WHEN the slow worker's own copy lands (replacing the tags) and its record write is refused
    assert process(rt, item) == "overtaken"
    # THEN the labels are written again from the record
    assert fake_store.get_tags("production", key)["corrected_class"] == "Egg"
    assert record(fake_store, pid)["corrected_class"] == "Egg"


def test_the_same_bytes_uploaded_again_while_the_first_is_worked_survive_its_delete(rt, fake_store):
    # GIVEN a photo whose event (naming its version) came five seconds after its upload
    first = drop(fake_store, "again.jpg", photo())
    fake_store.age("incoming", "again.jpg", 5)
    queued = Item("incoming", "again.jpg", first.etag, version_id=fake_store.head("incoming", "again.jpg").version_id)
    first_pid = pid_of(fake_store, first)
    # AND the same bytes uploaded again under the same key before the worker is done (same ETag)
    second = drop(fake_store, "again.jpg", photo())
    # WHEN the first is worked, THEN its delete spares the second, which is worked on its own
    assert process(rt, queued) == "done"
    assert fake_store.keys("incoming") == ["again.jpg"]
    second_pid = pid_of(fake_store, second)
    assert process(rt, second) == "done" and second_pid != first_pid
    assert fake_store.keys("incoming") == [] and len(fake_store.keys("production")) == 2
    assert fake_store.versions("incoming", "again.jpg") == []  # no version, and no delete marker, left


def test_a_newer_upload_during_the_work_survives_and_the_worked_version_is_the_one_stored(rt, fake_store):
    # GIVEN a worker that has read its photo, and a different photo uploaded under the same key meanwhile
    item = drop(fake_store, "race.jpg", photo())
    pid = pid_of(fake_store, item)

    class NewUploadWhileClassifying(FixedBatcher):
        def predict(self, tensor, timeout=120.0, shadow=False):
            fake_store.put("incoming", "race.jpg", photo("10_36.jpg"))
            return super().predict(tensor, timeout)

    rt.batcher = NewUploadWhileClassifying()
    # WHEN it finishes: THEN the version it read is copied and deleted; the newer upload stays for its event
    assert process(rt, item) == "done"
    assert fake_store.head("production", record(fake_store, pid)["production_key"]).etag == item.etag
    assert fake_store.keys("incoming") == ["race.jpg"] and fake_store.head("incoming", "race.jpg").etag != item.etag


def test_a_photo_is_five_requests_and_the_version_is_deleted_by_its_id(rt, fake_store):
    item = drop(fake_store, "a.jpg", photo())
    fake_store.calls.clear()
    assert process(rt, item) == "done"
    assert fake_store.calls == ["fetch", "put_json", "copy", "put_json", "delete"]


def test_without_versioning_a_newer_upload_still_survives_or_is_labelled(settings):
    # GIVEN a bucket without versioning (a MinIO `configure` has not brought up to date): no version ids
    store = FakeStore(versioned=())
    rt = Runtime(settings, store, WorkQueue(10, 10), FixedBatcher(), "food11-test", Metrics(), "w-test")
    first = drop(store, "again.jpg", photo())
    store.age("incoming", "again.jpg", 5)
    second = drop(store, "again.jpg", photo("10_36.jpg"))  # replaces the first, as S3 does without versions
    # WHEN the first's event is worked after the second upload
    assert process(rt, first) == "stale"  # that version is gone for good: nothing to label, nothing deleted
    # THEN the second upload is still there, and is labelled by its own event
    assert store.keys("incoming") == ["again.jpg"] and store.keys("events") == []
    assert process(rt, second) == "done" and store.keys("incoming") == []


@pytest.mark.parametrize(
    ("decode", "data", "used"),
    [
        pytest.param("exact", image_bytes("JPEG", (2000, 1500)), "exact", id="exact"),
        pytest.param("fast", image_bytes("JPEG", (2000, 1500)), "fast 1/2", id="fast-large-jpeg"),
        pytest.param("fast", image_bytes("PNG", (2000, 1500)), "exact", id="fast-but-a-png"),
    ],
)
def test_the_record_names_the_decode_used(rt, fake_store, decode, data, used):
    rt.settings = rt.settings.replace(decode=decode)
    item = drop(fake_store, "photo", data)
    assert process(rt, item) == "done"
    assert record(fake_store, pid_of_done(fake_store))["decode"] == used


def pid_of_done(store) -> str:
    [key] = store.keys("events")
    return key.removesuffix(".json")


def test_a_held_nudge_is_told_once_the_record_is_final_before_the_delete_from_incoming(rt, fake_store, monkeypatch):
    item = drop(fake_store, "held.jpg", photo())
    pid = pid_of(fake_store, item)
    seen = []

    def settle(identity, result):
        seen.append((identity, result, record(fake_store, pid)["status"], fake_store.keys("incoming")))

    monkeypatch.setattr(rt.finishes, "settle", settle)
    assert process(rt, item) == "done"
    assert seen == [(item.identity, "done", "done", ["held.jpg"])]
