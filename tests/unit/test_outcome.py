import re

import pytest

from gourmetgram import names, outcome
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import AlreadyExists, Changed, CorruptDocument, NotFound, StoreUnavailable

PID = "0190f3c4-5b6a-7c8d-9e0f-112233445566"
DEADLINE = "2026-11-29T10:00:00.000Z"
AT_DEADLINE = names.parse_iso(DEADLINE)


def record(status: Status = Status.PENDING, **fields) -> Outcome:
    return Outcome(**{"id": PID, "status": status, "incoming_key": f"{PID}.jpg", "incoming_etag": "e", **fields})


@pytest.mark.parametrize(
    ("status", "field"),
    [
        pytest.param(Status.PENDING, "expires_at", id="a-claim"),
        pytest.param(Status.FAILED, "retry_after", id="a-back-off"),
    ],
)
def test_a_deadline_has_passed_from_its_very_moment_on(status, field):
    r = record(status, **{field: DEADLINE})
    assert not r.expired(AT_DEADLINE - 0.001)
    assert r.expired(AT_DEADLINE) and r.expired(AT_DEADLINE + 3600)


def test_expired_uses_the_moment_it_is_given_and_else_the_clock():
    in_the_past = record(expires_at="2000-01-01T00:00:00.000Z")
    assert in_the_past.expired()
    assert not in_the_past.expired(names.parse_iso("1999-12-31T23:59:59.000Z"))
    assert not record(expires_at=names.now_iso(names.parse_iso(DEADLINE) + 10**9)).expired()


def test_without_a_deadline_a_claim_never_lapses_and_a_failure_may_be_retried_at_once():
    assert not record(Status.PENDING).expired(AT_DEADLINE)
    assert record(Status.FAILED).expired(AT_DEADLINE)


@pytest.mark.parametrize("status", [Status.DONE, Status.REJECTED])
def test_a_final_record_never_expires_whatever_its_old_deadlines(status):
    assert not record(status).expired(AT_DEADLINE)
    assert not record(status, expires_at=DEADLINE, retry_after=DEADLINE).expired(AT_DEADLINE + 3600)


def test_a_deadline_in_another_time_zone_is_the_same_moment():
    # 11:00 at +01:00 is 10:00Z: the machine's own zone (UTC here) plays no part
    r = record(Status.FAILED, retry_after="2026-11-29T11:00:00.000+01:00")
    assert not r.expired(AT_DEADLINE - 1) and r.expired(AT_DEADLINE)


def test_only_done_and_rejected_are_final():
    assert [s for s in Status if s.final] == [Status.DONE, Status.REJECTED]
    assert record(Status.DONE).final and not record(Status.FAILED).final


def test_stamp_records_the_moment_of_a_step():
    r = record()
    r.stamp("claimed", AT_DEADLINE)
    r.stamp("done", AT_DEADLINE + 1.5)
    assert r.timestamps == {"claimed": DEADLINE, "done": "2026-11-29T10:00:01.500Z"}


def test_the_json_has_the_set_fields_the_status_as_text_and_keeps_unknown_fields():
    r = record(
        Status.DONE,
        class_index=9,
        confidence=0.9,
        flagged=False,
        timestamps={"done": DEADLINE},
        extra={"added_by_a_newer_version": [1, 2]},
    )
    doc = r.to_json()
    assert doc == {
        "id": PID,
        "status": "done",
        "incoming_key": f"{PID}.jpg",
        "incoming_etag": "e",
        "source": "bucket",
        "class_index": 9,
        "confidence": 0.9,
        "flagged": False,
        "attempts": 0,
        "timestamps": {"done": DEADLINE},
        "added_by_a_newer_version": [1, 2],
    }
    again = Outcome.from_json(doc)
    assert again == r and again.status is Status.DONE
    assert again.to_json() == doc


def test_the_top_classes_are_kept_when_set_and_absent_when_not():
    top = [{"class": "Bread", "confidence": 0.18}, {"class": "Soup", "confidence": 0.15}]
    doc = record(Status.DONE, confidence=0.18, top=top).to_json()
    assert doc["top"] == top and Outcome.from_json(doc).top == top
    assert "top" not in record(Status.DONE).to_json() and record(Status.DONE).top is None


def test_the_json_is_a_copy_the_record_does_not_share():
    r = record(timestamps={"claimed": DEADLINE})
    doc = r.to_json()
    doc["timestamps"]["claimed"] = "changed"
    assert r.timestamps == {"claimed": DEADLINE}
    back = Outcome.from_json(doc)
    doc["timestamps"]["done"] = "later"
    assert back.timestamps == {"claimed": "changed"}


def test_a_record_without_timestamps_reads_with_none():
    assert (
        Outcome.from_json(
            {"id": PID, "status": "pending", "incoming_key": "a", "incoming_etag": "e", "timestamps": None}
        ).timestamps
        == {}
    )


@pytest.mark.parametrize(
    ("theirs", "same"),
    [
        pytest.param({}, True, id="same-key-etag-and-time"),
        pytest.param({"incoming_key": "b.jpg"}, False, id="another-key"),
        pytest.param({"incoming_etag": "f"}, False, id="another-etag"),
        pytest.param({"incoming_modified": "2026-11-29T10:05:00Z"}, False, id="the-same-bytes-uploaded-later"),
        pytest.param({"incoming_modified": None}, True, id="a-record-from-before-modified-times"),
        pytest.param({"incoming_version": "v2"}, False, id="a-twin-in-the-same-second"),
        pytest.param({"incoming_version": None}, True, id="a-record-from-before-version-ids"),
    ],
)
def test_two_records_speak_of_one_object_version_by_key_etag_time_and_version(theirs, same):
    mine = record(incoming_modified="2026-11-29T10:00:00Z", incoming_version="v1")
    other = record(**{"incoming_modified": "2026-11-29T10:00:00Z", "incoming_version": "v1", **theirs})
    assert mine.same_version(other) is same and other.same_version(mine) is same


@pytest.mark.parametrize(
    ("theirs", "twin"),
    [
        pytest.param({"incoming_version": "v2"}, True, id="same-key-etag-and-second-another-version"),
        pytest.param({}, False, id="the-same-version"),
        pytest.param({"incoming_version": None}, False, id="a-version-unknown"),
        pytest.param({"incoming_version": "v2", "incoming_key": "b.jpg"}, False, id="another-key"),
        pytest.param({"incoming_version": "v2", "incoming_etag": "f"}, False, id="another-etag"),
        pytest.param(
            {"incoming_version": "v2", "incoming_modified": "2026-11-29T10:00:01Z"}, False, id="another-second"
        ),
        pytest.param({"incoming_version": "v2", "incoming_modified": None}, False, id="a-time-unknown"),
    ],
)
def test_a_twin_is_the_same_bytes_key_and_second_under_another_version_id(theirs, twin):
    mine = record(incoming_modified="2026-11-29T10:00:00Z", incoming_version="v1")
    other = record(**{"incoming_modified": "2026-11-29T10:00:00Z", "incoming_version": "v1", **theirs})
    assert mine.twin_of(other) is twin and other.twin_of(mine) is twin


def test_read_create_and_replace_through_the_store(fake_store):
    assert outcome.read(fake_store, "events", PID) is None
    created = outcome.create(fake_store, "events", record(worker="w1"))
    assert fake_store.keys("events") == [f"{PID}.json"]
    got = outcome.read(fake_store, "events", PID)
    assert got.outcome == created.outcome and got.etag == created.etag
    with pytest.raises(AlreadyExists):
        outcome.create(fake_store, "events", record(worker="w2"))
    replaced = outcome.replace(fake_store, "events", record(worker="w3"), created.etag)
    assert replaced.etag != created.etag and outcome.read(fake_store, "events", PID).outcome.worker == "w3"
    with pytest.raises(Changed):
        outcome.replace(fake_store, "events", record(worker="w4"), created.etag)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1, 2]", id="a-list"),
        pytest.param(b'{"id": "x"}', id="no-status"),
        pytest.param(b'{"id": "x", "status": "lost", "incoming_key": "a", "incoming_etag": "e"}', id="unknown-status"),
        pytest.param(b'{"status": "done"}', id="missing-fields"),
    ],
)
def test_a_record_that_is_no_outcome_is_named_with_its_etag(fake_store, body):
    etag = fake_store.put("events", f"{PID}.json", body)
    with pytest.raises(CorruptDocument, match=f"the record of {PID} is not an outcome record") as raised:
        outcome.read(fake_store, "events", PID)
    assert raised.value.etag == etag


def test_update_changes_a_copy_and_writes_only_a_change(fake_store):
    outcome.create(fake_store, "events", record(Status.DONE))

    def flag(r: Outcome) -> Outcome:  # changes the record it is given: update must hand it a copy
        r.flagged = True
        return r

    written = outcome.update(fake_store, "events", PID, flag)
    assert written.outcome.flagged and outcome.read(fake_store, "events", PID).etag == written.etag
    fake_store.calls.clear()
    unchanged = outcome.update(fake_store, "events", PID, flag)
    assert unchanged.etag == written.etag and "put_json" not in fake_store.calls


def test_update_of_a_missing_or_deleted_record_is_not_found(fake_store):
    with pytest.raises(NotFound, match=f"no outcome record of prediction {PID}"):
        outcome.update(fake_store, "events", PID, lambda r: r)
    outcome.create(fake_store, "events", record())
    original = fake_store.get_json

    def read_then_deleted(bucket, key):
        got = original(bucket, key)
        fake_store.delete(bucket, key)
        return got

    fake_store.get_json = read_then_deleted
    with pytest.raises(NotFound, match=f"no outcome record of prediction {PID}"):
        outcome.update(fake_store, "events", PID, lambda r: Outcome.from_json({**r.to_json(), "flagged": True}))


def test_update_reapplies_the_change_to_a_record_written_meanwhile(fake_store):
    outcome.create(fake_store, "events", record(Status.DONE))
    original, writes = fake_store.put_json, []

    def other_writer_first(bucket, key, doc, **kwargs):
        if not writes:
            writes.append("theirs")
            original(bucket, key, {**fake_store.get_json(bucket, key)[0], "human_label": "Soup"})
        return original(bucket, key, doc, **kwargs)

    fake_store.put_json = other_writer_first
    outcome.update(fake_store, "events", PID, lambda r: Outcome.from_json({**r.to_json(), "flagged": True}))
    fake_store.put_json = original
    stored = outcome.read(fake_store, "events", PID).outcome
    assert stored.flagged is True and stored.human_label == "Soup"


def test_update_gives_up_after_ten_lost_races(fake_store, monkeypatch):
    outcome.create(fake_store, "events", record(Status.DONE))
    original, tries = fake_store.put_json, []

    def always_beaten(bucket, key, doc, **kwargs):
        if kwargs.get("if_match"):
            tries.append(1)
            original(bucket, key, {**fake_store.get_json(bucket, key)[0], "n": len(tries)})
        return original(bucket, key, doc, **kwargs)

    fake_store.put_json = always_beaten
    with pytest.raises(StoreUnavailable, match=f"record of {PID} kept changing: gave up after 10 tries"):
        outcome.update(fake_store, "events", PID, lambda r: Outcome.from_json({**r.to_json(), "flagged": True}))
    assert len(tries) == 10


# --- what the MinIO console shows of a record (its tags and user metadata) -----------------------------------
MINIO_TAG = re.compile(r"[a-zA-Z0-9+\-._:/@ =]{1,128}")  # minio-go pkg/tags, as the pinned MinIO checks them
MINIO_TAG_VALUE = re.compile(r"[a-zA-Z0-9+\-._:/@ =]{0,256}")
MINIO_USER_METADATA_BYTES = 2048  # header names (x-amz-meta-...) and values together


def assert_minio_takes(tags: dict[str, str], metadata: dict[str, str]) -> None:
    assert len(tags) <= 10
    assert all(MINIO_TAG.fullmatch(k) and MINIO_TAG_VALUE.fullmatch(v) for k, v in tags.items()), tags
    assert all(v.isascii() and v.isprintable() for v in metadata.values()), metadata
    assert sum(len(f"x-amz-meta-{k}") + len(v) for k, v in metadata.items()) <= MINIO_USER_METADATA_BYTES


def test_a_done_web_upload_shows_its_class_confidence_and_labels():
    r = record(
        Status.DONE,
        source="web",
        original_filename="Crème brûlée (2).jpg",
        predicted_class="Noodles/Pasta",
        class_index=6,
        confidence=0.87349,
        corrected_class="Egg",
        flagged=True,
        human_label="Dessert",
        reviewed_at="2026-11-29T10:00:00Z",
        model_version="m",
        latency_ms=40,
    )
    assert outcome.console_tags(r) == {
        "status": "done",
        "source": "web",
        "file_name": "Creme brulee 2.jpg",
        "predicted_class": "Noodles/Pasta",
        "confidence": "0.873",
        "corrected_class": "Egg",
        "flagged": "true",
        "human_label": "Dessert",
    }
    assert outcome.console_metadata(r) == {"file-name": "Cr%C3%A8me br%C3%BBl%C3%A9e (2).jpg"}
    assert_minio_takes(outcome.console_tags(r), outcome.console_metadata(r))


def test_a_rejected_drop_shows_its_key_and_reason_readable_in_tags_and_exact_in_metadata():
    reason = "not an image: the content is in no image format we accept (JPEG, PNG, GIF, WebP, BMP or TIFF)"
    r = record(Status.REJECTED, incoming_key="lunch/menu.pdf", reason=reason, quarantine_key=f"{PID}/menu.pdf")
    assert outcome.console_tags(r) == {
        "status": "rejected",
        "source": "bucket",
        "file_name": "lunch/menu.pdf",
        "reason": "not an image: the content is in no image format we accept JPEG PNG GIF WebP BMP or TIFF",
    }
    metadata = outcome.console_metadata(r)
    assert metadata == {"file-name": "lunch/menu.pdf", "reason": reason}
    assert_minio_takes(outcome.console_tags(r), metadata)


def test_a_pending_record_and_an_unflagged_one_say_so():
    assert outcome.console_tags(record()) == {"status": "pending", "source": "bucket", "file_name": f"{PID}.jpg"}
    assert outcome.console_tags(record(Status.DONE, flagged=False, confidence=0))["flagged"] == "false"
    assert outcome.console_tags(record(Status.DONE, confidence=0))["confidence"] == "0.000"
    assert outcome.console_tags(record(Status.DONE, confidence=1))["confidence"] == "1.000"


def test_every_field_at_its_longest_still_fits_minio():
    long = "寿司 «x» % " * 2000
    r = record(
        Status.DONE,
        source=long,
        original_filename=long,
        predicted_class=long,
        confidence=0.5,
        reason=long,
        corrected_class=long,
        flagged=True,
        human_label=long,
    )
    tags, metadata = outcome.console_tags(r), outcome.console_metadata(r)
    assert len(tags) == 9
    assert_minio_takes(tags, metadata)
    assert set(metadata) == {"file-name", "reason"}
    assert all(v.endswith("...") and len(v) <= outcome.METADATA_VALUE_MAX for v in metadata.values())
    assert outcome.console_metadata(record(original_filename="a" * 2000))["file-name"] == "a" * 897 + "..."


def test_fields_of_an_unexpected_type_never_stop_a_write():
    # A record from a newer version or edited by hand: its rewrite (a label, a requeue) must still go through.
    r = Outcome.from_json(
        {
            "id": PID,
            "status": "done",
            "incoming_key": 7,
            "incoming_etag": "e",
            "source": None,
            "confidence": "high",
            "flagged": "yes",
            "predicted_class": ["Egg"],
            "reason": {"a": 1},
        }
    )
    tags, metadata = outcome.console_tags(r), outcome.console_metadata(r)
    assert tags == {
        "status": "done",
        "file_name": "7",
        "confidence": "high",
        "flagged": "yes",
        "predicted_class": "Egg",
        "reason": "a: 1",
    }
    assert metadata == {"file-name": "7", "reason": "{'a': 1}"}
    assert outcome.console_tags(record(Status.DONE, confidence=True))["confidence"] == "True"


def test_every_write_of_a_record_carries_its_tags_and_metadata(fake_store):
    key = f"{PID}.json"
    outcome.create(fake_store, "events", record(original_filename="été.jpg", source="web"))
    assert fake_store.get_tags("events", key) == {"status": "pending", "source": "web", "file_name": "ete.jpg"}
    assert fake_store.head("events", key).metadata == {"file-name": "%C3%A9t%C3%A9.jpg"}
    failed = outcome.replace(
        fake_store,
        "events",
        record(Status.FAILED, reason="storage unavailable"),
        outcome.read(fake_store, "events", PID).etag,
    )
    assert fake_store.get_tags("events", key)["reason"] == "storage unavailable"
    done = record(Status.DONE, predicted_class="Soup", confidence=0.5)
    outcome.replace(fake_store, "events", done, failed.etag)
    assert fake_store.get_tags("events", key) == {
        "status": "done",
        "source": "bucket",
        "file_name": f"{PID}.jpg",
        "predicted_class": "Soup",
        "confidence": "0.500",
    }
    assert fake_store.head("events", key).metadata == {"file-name": f"{PID}.jpg"}  # the old reason went

    def flag(r: Outcome) -> Outcome:
        r.flagged = True
        return r

    outcome.update(fake_store, "events", PID, flag)
    assert fake_store.get_tags("events", key)["flagged"] == "true"
