from datetime import UTC, date, datetime

import pytest

from gourmetgram import names, quality
from gourmetgram.idtime import Photo
from gourmetgram.outcome import Outcome, Status

DAY1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def photo(
    day: int, predicted: str, confidence: float, human: str | None = None, version: str = "v1", **fields
) -> Photo:
    moment = DAY1 + day * 86400 + 3600
    pid = names.upload_id(moment)
    return Photo(
        Outcome(
            id=pid,
            status=fields.pop("status", Status.DONE),
            incoming_key="k",
            incoming_etag="e",
            predicted_class=predicted,
            confidence=confidence,
            human_label=human,
            model_version=version,
            **fields,
        ),
        moment,
    )


def seeded() -> list[Photo]:
    """10 reviewed photos of v1 (8 right), 2 unreviewed, over two days; 3 photos of v2."""
    v1 = [photo(0, "Soup", 0.95, "Soup") for _ in range(4)]  # right, confident
    v1 += [photo(0, "Rice", 0.85, "Rice"), photo(0, "Rice", 0.85, "Egg")]  # one right, one wrong
    v1 += [photo(1, "Bread", 0.65, "Bread"), photo(1, "Bread", 0.65, "Bread"), photo(1, "Meat", 0.35, "Bread")]
    v1 += [photo(1, "Egg", 0.99, "Egg")]
    v1 += [photo(1, "Soup", 0.5, corrected_class="Egg"), photo(1, "Soup", 0.6, flagged=True)]
    v2 = [photo(1, "Egg", 0.9, version="v2") for _ in range(3)]
    ignored = [photo(1, "Egg", 0.9, "Soup", status=Status.REJECTED), photo(1, "Pizza", 0.9, "Soup")]
    return v1 + v2 + ignored


def test_the_figures_of_a_known_set():
    [v1, v2] = quality.compute(seeded(), low_confidence=0.7)
    assert (v1.model_version, v1.photos, v1.reviewed, v1.correct) == ("v1", 12, 10, 8)
    assert (v1.corrected, v1.flagged) == (1, 1)
    assert v1.accuracy == 0.8
    low, high = v1.interval
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)  # Wilson, 8 of 10
    egg, bread, rice, meat, soup = (names.class_index(c) for c in ("Egg", "Bread", "Rice", "Meat", "Soup"))
    assert v1.confusion[soup][soup] == 4 and v1.confusion[egg][rice] == 1 and v1.confusion[bread][meat] == 1
    assert sum(map(sum, v1.confusion)) == 10
    filled = {round(b.lower, 1): (b.count, b.mean_confidence, b.accuracy) for b in v1.bins if b.count}
    assert filled == {
        0.3: (1, 0.35, 0.0),
        0.6: (2, 0.65, 1.0),
        0.8: (2, 0.85, 0.5),
        0.9: (5, pytest.approx(0.958), 1.0),
    }
    # ECE: (1*0.35 + 2*0.35 + 2*0.35 + 5*0.042) / 10
    assert v1.calibration_error == pytest.approx((0.35 + 0.7 + 0.7 + 5 * 0.042) / 10, abs=1e-9)
    assert list(v1.days) == [date(2026, 3, 1), date(2026, 3, 2)]
    first, second = v1.days.values()
    assert (first.photos, first.low_confidence) == (6, 0)
    assert (second.photos, second.low_confidence, second.low_confidence_share) == (6, 5, 5 / 6)
    assert second.classes[names.class_index("Bread")] == 2 and second.classes[soup] == 2
    assert (v2.photos, v2.reviewed, v2.accuracy, v2.interval, v2.calibration_error) == (3, 0, None, None, None)


@pytest.mark.parametrize(
    ("correct", "total", "expected"),
    [
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (1, 1, (0.2065, 1.0)),
        (50, 100, (0.4038, 0.5962)),
    ],
)
def test_the_wilson_interval(correct, total, expected):
    low, high = quality.wilson_interval(correct, total)
    assert (round(low, 4), round(high, 4)) == expected
    assert quality.wilson_interval(0, 0) is None


def test_the_json_form_carries_every_figure():
    [v1, _] = quality.compute(seeded(), 0.7)
    doc = quality.to_json(v1)
    assert doc["accuracy"] == 0.8 and doc["accuracy_95"] == list(v1.interval)
    assert doc["days"]["2026-03-02"]["low_confidence"] == 5 and len(doc["reliability"]) == 10
