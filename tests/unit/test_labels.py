import dataclasses

import pytest

from gourmetgram import labels, names, outcome
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import NotFound, StoreUnavailable
from tests.fakes import FakeStore

PID = "0190f3c4-5b6a-7c8d-9e0f-112233445566"
KEY = f"class_09/{PID}.jpg"
MODEL_TAGS = {
    "predicted_class": "Soup",
    "confidence": "0.900",
    "timestamp": "2026-11-26T10:00:00Z",
    "model_version": "food11-test",
    "source": "web",
}


class InterleavingStore(FakeStore):
    """A FakeStore that runs `before[method]` once, just before that method next acts: another writer's
    step landing in the middle of ours, at exactly the worst moment."""

    def __init__(self):
        super().__init__()
        self.before: dict[str, object] = {}

    def _enter(self, name: str) -> None:
        super()._enter(name)
        step = self.before.pop(name, None)
        if step:
            step()


@pytest.fixture
def store() -> InterleavingStore:
    s = InterleavingStore()
    s.put("production", KEY, b"photo", tags=MODEL_TAGS)
    s.put_json(
        "events",
        names.record_key(PID),
        Outcome(id=PID, status=Status.DONE, incoming_key=f"{PID}.jpg", incoming_etag="e", production_key=KEY).to_json(),
    )
    s.calls.clear()
    return s


def record(store) -> dict:
    return store.get_json("events", names.record_key(PID))[0]


def setting(**fields):
    return lambda record: dataclasses.replace(record, **fields)


def test_labels_go_to_the_record_and_to_the_tags_beside_the_models(store, settings):
    changed = labels.change_labels(store, settings, PID, setting(corrected_class="Egg", flagged=False))
    assert changed.to_json() == record(store) and record(store)["corrected_class"] == "Egg"
    assert store.get_tags("production", KEY) == {**MODEL_TAGS, "corrected_class": "Egg", "flagged": "false"}


def test_any_human_label_takes_the_same_path(store, settings):
    # The review page's labels: one more writer of the record, tags written from it.
    labels.change_labels(store, settings, PID, setting(human_label="Seafood", reviewed_at="2026-11-27T09:00:00Z"))
    assert store.get_tags("production", KEY) == {
        **MODEL_TAGS,
        "human_label": "Seafood",
        "reviewed_at": "2026-11-27T09:00:00Z",
    }


def test_a_label_removed_from_the_record_leaves_the_tags(store, settings):
    labels.change_labels(store, settings, PID, setting(corrected_class="Egg", flagged=True))
    labels.change_labels(store, settings, PID, setting(corrected_class=None))
    assert store.get_tags("production", KEY) == {**MODEL_TAGS, "flagged": "true"}


def test_a_record_written_in_between_is_re_read_and_both_changes_kept(store, settings):
    # GIVEN another writer flags the photo between our read of the record and our conditional write
    store.before["put_json"] = lambda: store.put_json(
        "events", names.record_key(PID), {**record(store), "flagged": True}
    )
    # WHEN we correct the class
    labels.change_labels(store, settings, PID, setting(corrected_class="Egg"))
    # THEN our write was refused (If-Match), re-applied to their version, and the tags show both
    assert record(store)["corrected_class"] == "Egg" and record(store)["flagged"] is True
    assert store.get_tags("production", KEY) == {**MODEL_TAGS, "corrected_class": "Egg", "flagged": "true"}


def test_tags_written_from_an_older_record_are_written_again_from_the_newer(store, settings):
    # GIVEN another writer changes the record AND writes its tags while our tag write is in flight, ours
    # computed from the record before theirs: our stale tag write lands last
    def other_writer():
        labels.change_labels(store, settings, PID, setting(flagged=True))

    store.before["put_tags"] = other_writer
    # WHEN we correct the class
    labels.change_labels(store, settings, PID, setting(corrected_class="Egg"))
    # THEN we saw the record change across our tag write and wrote the tags again: they equal the record
    assert record(store)["corrected_class"] == "Egg" and record(store)["flagged"] is True
    assert store.get_tags("production", KEY) == {**MODEL_TAGS, "corrected_class": "Egg", "flagged": "true"}
    assert store.calls.count("put_tags") == 3  # theirs, our stale one, our repair


def test_a_change_that_refuses_writes_nothing(store, settings):
    def refuse(doc):
        raise PermissionError("not yours")

    with pytest.raises(PermissionError):
        labels.change_labels(store, settings, PID, refuse)
    assert "put_json" not in store.calls and store.get_tags("production", KEY) == MODEL_TAGS


def test_a_change_that_alters_nothing_still_brings_the_tags_up_to_date(store, settings):
    store.put_json("events", names.record_key(PID), {**record(store), "corrected_class": "Egg"})
    store.calls.clear()
    labels.change_labels(store, settings, PID, setting(corrected_class="Egg"))
    assert "put_json" not in store.calls and store.get_tags("production", KEY)["corrected_class"] == "Egg"


def test_a_missing_record_or_photo_is_named(store, settings):
    with pytest.raises(NotFound, match="no outcome record of prediction 0190"):
        labels.change_labels(store, settings, "0190f3c4-0000-7000-8000-000000000000", setting(flagged=True))
    store.delete("production", KEY)
    with pytest.raises(NotFound, match=f"the labelled photo production/{KEY} is gone"):
        labels.change_labels(store, settings, PID, setting(flagged=True))


def test_endless_contention_gives_up_as_unavailable(store, settings):
    class AlwaysLosing(InterleavingStore):
        def put_json(self, bucket, key, doc, **kwargs):
            if kwargs.get("if_match"):
                super().put_json(bucket, key, {**record(self), "n": record(self).get("n", 0) + 1})
            return super().put_json(bucket, key, doc, **kwargs)

    losing = AlwaysLosing()
    losing.buckets = store.buckets
    with pytest.raises(StoreUnavailable, match="kept changing"):
        outcome.update(losing, "events", PID, setting(flagged=True))
