"""`gourmetgram model replay` on the in-memory store, with a stand-in classifier: which records it answers, the
conditional write that keeps a change made meanwhile, idempotence, and the pace."""

from __future__ import annotations

import time

import pytest

from gourmetgram import model_registry, names, outcome
from gourmetgram.model_registry import CHALLENGER
from gourmetgram.outcome import Status
from gourmetgram.settings import Settings
from gourmetgram_tools import replay
from tests.fakes import FakeStore
from tests.seeding import seed_photo

CHALLENGER_VERSION = "food11-cccccccccccc"
CHAMPION_VERSION = "food11-aaaaaaaaaaaa"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(buckets=("incoming", "production", "quarantine", "events", "models"), versioned=())


def seeded(store, **kwargs):
    kwargs.setdefault("model_version", CHAMPION_VERSION)
    return seed_photo(store, time.time() - 3600, kwargs.pop("predicted", "Soup"), 0.9, **kwargs)


class Classifier:
    """Answers Rice (index 7) with 0.75 and counts the photos it saw."""

    def __init__(self):
        self.seen: list[bytes] = []

    def __call__(self, data: bytes) -> tuple[int, float]:
        self.seen.append(data)
        return names.class_index("Rice"), 0.75


def run(store, classify, **kwargs):
    return replay.replay(
        store, Settings(), time.time() - 86400, classify=classify, version=CHALLENGER_VERSION, **kwargs
    )


def test_only_reviewed_done_photos_without_the_challengers_answer_are_scored(store):
    wanted = seeded(store, human_label="Soup", data=b"photo one")
    older_shadow = seeded(store, human_label="Egg", data=b"photo two")
    outcome.update(
        store, "events", older_shadow.id, lambda r: setattr(r, "shadow", {"model_version": "food11-old"}) or r
    )
    seeded(store)  # not reviewed
    seeded(store, human_label="Soup", model_version=CHALLENGER_VERSION)  # the challenger labelled it in production
    answered = seeded(store, human_label="Soup")
    outcome.update(
        store, "events", answered.id, lambda r: setattr(r, "shadow", {"model_version": CHALLENGER_VERSION}) or r
    )
    seeded(store, human_label="Soup", status=Status.REJECTED)
    classify = Classifier()
    report = run(store, classify)
    assert (report.candidates, report.written, report.already, report.missing, report.failed) == (2, 2, 0, 0, [])
    assert sorted(classify.seen) == [b"photo one", b"photo two"]  # read from production
    record = outcome.read(store, "events", wanted.id).outcome
    assert record.shadow == {
        "model_version": CHALLENGER_VERSION,
        "predicted_class": "Rice",
        "class_index": 7,
        "confidence": 0.75,
    }
    assert record.predicted_class == "Soup" and record.model_version == CHAMPION_VERSION  # production untouched
    assert outcome.read(store, "events", older_shadow.id).outcome.shadow["model_version"] == CHALLENGER_VERSION
    # production's tags are not the shadow's
    assert store.get_tags("production", record.production_key)["predicted_class"] == "Soup"


def test_a_second_run_does_nothing(store):
    seeded(store, human_label="Soup")
    assert run(store, Classifier()).written == 1
    classify = Classifier()
    again = run(store, classify)
    assert (again.candidates, again.written) == (0, 0) and classify.seen == []


def test_a_record_changed_meanwhile_is_read_again_and_keeps_both_changes(store):
    photo = seeded(store, human_label="Soup")
    original = store.put_json
    raced = []

    def put_json(bucket, key, doc, **kwargs):
        if kwargs.get("if_match") and not raced:  # a reviewer's flag lands between the read and the write
            raced.append(key)
            current, etag = store.get_json(bucket, key)
            original(bucket, key, {**current, "flagged": True}, if_match=etag)
        return original(bucket, key, doc, **kwargs)

    store.put_json = put_json
    report = run(store, Classifier())
    record = outcome.read(store, "events", photo.id).outcome
    assert raced and report.written == 1
    assert record.flagged is True and record.shadow["model_version"] == CHALLENGER_VERSION


def test_an_answer_written_meanwhile_is_counted_not_overwritten(store):
    photo = seeded(store, human_label="Soup")
    live = {"model_version": CHALLENGER_VERSION, "predicted_class": "Egg", "class_index": 3, "confidence": 0.6}

    def classify_while_the_function_answers(data):
        outcome.update(store, "events", photo.id, lambda r: setattr(r, "shadow", live) or r)
        return 7, 0.75

    report = run(store, classify_while_the_function_answers)
    assert (report.written, report.already) == (0, 1)
    assert outcome.read(store, "events", photo.id).outcome.shadow == live


def test_a_missing_photo_and_an_unreadable_one_are_reported_and_the_rest_go_on(store):
    gone = seeded(store, human_label="Soup")
    store.delete("production", gone.production_key)
    broken = seeded(store, human_label="Soup", data=b"not an image")
    fine = seeded(store, human_label="Soup")

    def classify(data):
        if data == b"not an image":
            from classifier_fn.inference.errors import Rejected

            raise Rejected("not an image")
        return 7, 0.75

    report = run(store, classify)
    assert (report.written, report.missing) == (1, 1)
    assert report.failed == [f"{broken.id}: not an image"]
    assert outcome.read(store, "events", fine.id).outcome.shadow is not None


def test_progress_is_reported_per_photo(store):
    for _ in range(3):
        seeded(store, human_label="Soup")
    seen = []
    run(store, Classifier(), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_without_a_challenger_replay_says_so(store):
    with pytest.raises(model_registry.RegistryError, match="no challenger is set"):
        replay.replay(store, Settings(), time.time() - 60, classify=Classifier())


def test_the_challenger_alias_is_what_replay_scores_by_default(store):
    info, _ = model_registry.add(store, b"bytes", format="state_dict", by="t")
    model_registry.set_alias(store, model_registry.read_alias(store, CHALLENGER), info.version, by="t")
    seeded(store, human_label="Soup")
    report = replay.replay(store, Settings(), time.time() - 86400, classify=Classifier())
    assert report.version == info.version and report.written == 1


def test_the_pace_spaces_calls_evenly():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pace = replay.Pace(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pace.wait()
    assert slept == [0.25, 0.25]  # the first at once, then one every 1/4 s
    now[0] += 10  # a slow photo: no catching up in a burst afterwards
    pace.wait()
    pace.wait()
    assert slept == [0.25, 0.25, 0.25]
