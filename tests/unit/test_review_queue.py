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
    record = Outcome(
        id=pid,
        status=fields.pop("status", Status.DONE),
        incoming_key="k",
        incoming_etag="e",
        predicted_class="Soup",
        class_index=9,
        confidence=confidence,
        production_key=f"class_09/{pid}.jpg",
        **fields,
    )
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
    queue = review_queue.build(
        [low, flagged_and_low, corrected, *confident, unflagged, at_threshold], Rule(0.7, sample_per_day=0), TODAY
    )
    # flagged first, then corrected, then low confidence; a photo with two reasons is one entry
    assert ids(queue) == [flagged_and_low.record.id, corrected.record.id, low.record.id]
    assert [q.reasons for q in queue] == [
        (Reason.FLAGGED, Reason.LOW_CONFIDENCE),
        (Reason.CORRECTED,),
        (Reason.LOW_CONFIDENCE,),
    ]


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


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"status": Status.REJECTED}, id="rejected"),
        pytest.param({"status": Status.PENDING}, id="pending"),
        pytest.param({"human_label": "Egg"}, id="reviewed"),
    ],
)
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


def reviewed_photo(moment: float, review: float, feedback: float | None, page_review: bool = True, **fields) -> Photo:
    """A confident photo (in no queue of its own) reviewed at `review`, with the uploader's feedback at `feedback`."""
    p = photo(
        moment, 0.95, human_label="Soup", reviewed_at=names.timestamp_tag(datetime.fromtimestamp(review, UTC)), **fields
    )
    if page_review:
        p.record.stamp("reviewed", review)
    if feedback is not None:
        p.record.stamp("feedback", feedback)
    return p


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"flagged": True}, id="flagged"),
        pytest.param({"corrected_class": "Egg"}, id="corrected"),
    ],
)
def test_a_flag_or_correction_after_the_review_brings_the_photo_back_as_disputed(fields):
    disputed = reviewed_photo(DAY1, review=DAY1 + HOUR, feedback=DAY1 + 2 * HOUR, **fields)
    before = reviewed_photo(DAY1 + 1, review=DAY1 + HOUR, feedback=DAY1 + HOUR - 60, **fields)  # then reviewed
    [queued] = review_queue.build([disputed, before], Rule(0.7, sample_per_day=0), TODAY)
    assert queued.id == disputed.record.id and queued.reasons[0] is Reason.DISPUTED
    assert set(queued.reasons) == {
        Reason.DISPUTED,
        *((Reason.FLAGGED,) if "flagged" in fields else (Reason.CORRECTED,)),
    }


def test_the_millisecond_tells_feedback_just_after_a_review_from_feedback_just_before_it():
    # reviewed_at has whole seconds (12:00:00 for a review at 12:00:00.700)
    review = DAY1 + 12 * HOUR + 0.7
    after = reviewed_photo(DAY1, review, feedback=review + 0.1, flagged=True)
    before = reviewed_photo(DAY1 + 1, review, feedback=review - 0.4, flagged=True)
    assert ids(review_queue.build([after, before], Rule(0.7, 0), TODAY)) == [after.record.id]


def test_a_review_from_label_studio_has_only_its_seconds_and_the_later_review_counts():
    # Label Studio's answers set reviewed_at alone: a re-review there, after the dispute, takes it out again
    rereviewed = reviewed_photo(DAY1, review=DAY1 + HOUR, feedback=DAY1 + 2 * HOUR, flagged=True)
    rereviewed.record.reviewed_at = names.timestamp_tag(datetime.fromtimestamp(DAY1 + 3 * HOUR, UTC))
    only_seconds = reviewed_photo(
        DAY1 + 1, review=DAY1 + HOUR, feedback=DAY1 + 2 * HOUR, page_review=False, flagged=True
    )
    assert ids(review_queue.build([rereviewed, only_seconds], Rule(0.7, 0), TODAY)) == [only_seconds.record.id]


@pytest.mark.parametrize(
    ("feedback", "fields"),
    [
        pytest.param(DAY1 + 2 * HOUR, {"flagged": False}, id="unflagged-after-the-review"),
        pytest.param(DAY1 + 2 * HOUR, {"corrected_class": None}, id="correction-taken-back"),
        pytest.param(None, {"flagged": True}, id="feedback-time-unknown"),
        pytest.param(DAY1 + HOUR, {"flagged": True}, id="same-moment-as-the-review"),
    ],
)
def test_no_dispute_without_a_flag_or_correction_given_after_the_review(feedback, fields):
    p = reviewed_photo(DAY1, review=DAY1 + HOUR, feedback=feedback, **fields)
    assert review_queue.build([p], Rule(0.7, 0), TODAY) == []
    assert not review_queue.disputed(p.record)


def test_feedback_on_an_unreviewed_photo_is_flagged_not_disputed():
    p = photo(DAY1, 0.95, flagged=True)
    p.record.stamp("feedback", DAY1 + HOUR)
    assert [q.reasons for q in review_queue.build([p], Rule(0.7, 0), TODAY)] == [(Reason.FLAGGED,)]


def test_a_disputed_photo_comes_before_every_other_reason():
    flagged_low = photo(DAY1, 0.1, flagged=True)
    disputed = reviewed_photo(DAY1 + HOUR, review=DAY1 + 2 * HOUR, feedback=DAY1 + 3 * HOUR, corrected_class="Egg")
    assert ids(review_queue.build([flagged_low, disputed], Rule(0.7, 0), TODAY)) == [
        disputed.record.id,
        flagged_low.record.id,
    ]
