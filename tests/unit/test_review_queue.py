from datetime import UTC, date, datetime

import pytest

from gourmetgram import idtime, names, review_queue
from gourmetgram.idtime import Photo
from gourmetgram.outcome import Outcome, Status
from gourmetgram.review_queue import Reason, Rule
from tests.seeding import seed_photo

DAY1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
RULE = Rule(confidence=0.7, sample_per_day=2)
TODAY = date(2026, 3, 3)


def photo(moment: float, confidence: float = 0.9, **fields) -> Photo:
    pid = names.upload_id(moment)
    record = Outcome(id=pid, status=fields.pop("status", Status.DONE), incoming_key="k", incoming_etag="e",
                     predicted_class="Soup", class_index=9, confidence=confidence,
                     production_key=f"class_09/{pid}.jpg", **fields)
    return Photo(record, moment)


def ids(queue) -> list[str]:
    return [q.id for q in queue]


def test_low_confidence_flagged_and_corrected_photos_are_queued_once_each():
    low = photo(DAY1 + 1 * HOUR, 0.69)
    flagged_and_low = photo(DAY1 + 2 * HOUR, 0.2, flagged=True)
    corrected = photo(DAY1 + 3 * HOUR, 0.99, corrected_class="Egg")
    confident = [photo(DAY1 + 4 * HOUR + i, 0.95) for i in range(3)]
    unflagged = photo(DAY1 + 5 * HOUR, 0.95, flagged=False)
    at_threshold = photo(DAY1 + 6 * HOUR, 0.7)
    queue = review_queue.build([low, flagged_and_low, corrected, *confident, unflagged, at_threshold],
                               Rule(0.7, sample_per_day=0), TODAY)
    # flagged first, then corrected, then low confidence; a photo with two reasons is one entry
    assert ids(queue) == [flagged_and_low.record.id, corrected.record.id, low.record.id]
    assert [q.reasons for q in queue] == [(Reason.FLAGGED, Reason.LOW_CONFIDENCE), (Reason.CORRECTED,),
                                          (Reason.LOW_CONFIDENCE,)]


def test_each_finished_day_adds_its_sample_of_the_confident_rest():
    day1 = [photo(DAY1 + i * 60) for i in range(10)]
    day2 = [photo(DAY1 + 86400 + i * 60) for i in range(3)]
    today = [photo(DAY1 + 2 * 86400 + i * 60) for i in range(10)]
    queue = review_queue.build(day1 + day2 + today, RULE, TODAY)
    sampled = {q.id for q in queue if Reason.SAMPLED in q.reasons}
    for day in (day1, day2):
        expected = sorted((p.record.id for p in day), key=review_queue.sample_rank)[:2]
        assert sampled & {p.record.id for p in day} == set(expected)
    # today is not over: its sample is drawn tomorrow, when no later photo can take a place in it
    assert not sampled & {p.record.id for p in today}
    assert len(queue) == 4 and len(set(ids(queue))) == 4


def test_the_sample_does_not_depend_on_the_order_or_on_other_days():
    day1 = [photo(DAY1 + i * 60) for i in range(20)]
    other_day = [photo(DAY1 + 86400 + i) for i in range(5)]
    alone = set(ids(review_queue.build(day1, RULE, TODAY)))
    assert set(ids(review_queue.build(list(reversed(day1)) + other_day, RULE, TODAY))) >= alone


def test_a_review_takes_a_photo_out_and_keeps_its_days_share():
    day1 = [photo(DAY1 + i * 60) for i in range(10)]
    queue = review_queue.build(day1, RULE, TODAY)
    first = next(p for p in day1 if p.record.id == queue[0].id)
    first.record.human_label = "Soup"
    after = review_queue.build(day1, RULE, TODAY)
    # the reviewed photo leaves; no other photo of the day takes its place in the sample
    assert ids(after) == ids(queue)[1:]


@pytest.mark.parametrize("fields", [
    pytest.param({"status": Status.REJECTED}, id="rejected"),
    pytest.param({"status": Status.PENDING}, id="pending"),
    pytest.param({"human_label": "Egg"}, id="reviewed"),
])
def test_only_unreviewed_labelled_photos_are_queued(fields):
    assert review_queue.build([photo(DAY1, 0.1, flagged=True, **fields)], RULE, TODAY) == []


def test_load_reads_whole_days_of_the_window(fake_store, settings):
    s = settings.replace(review_confidence=0.5, review_sample_per_day=1, review_window_days=2)
    now = DAY1 + 2 * 86400 + 10 * HOUR  # 2026-03-03 10:00
    too_old = seed_photo(fake_store, DAY1 + 23 * HOUR, "Soup", 0.1)
    yesterday = [seed_photo(fake_store, DAY1 + 86400 + i * HOUR, "Rice", 0.9) for i in range(3)]
    today_low = seed_photo(fake_store, now - HOUR, "Egg", 0.3)
    queue = review_queue.load(fake_store, s, now)
    sample = min((r.id for r in yesterday), key=review_queue.sample_rank)
    assert ids(queue) == [today_low.id, sample] and too_old.id not in ids(queue)
    assert idtime.utc_day(queue[1].photo.uploaded) == date(2026, 3, 2)
