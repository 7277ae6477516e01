from prometheus_client.parser import text_string_to_metric_families

from gourmetgram import quality, quality_metrics
from tests.unit.test_quality import seeded


def samples(text: str) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_gauges_carry_the_figures_of_the_report():
    found = samples(quality_metrics.exposition(quality.compute(seeded(), 0.7)).decode())

    def value(name, **labels):
        return found[(f"gourmetgram_quality_{name}", tuple(sorted(labels.items())))]

    assert value("photos", model_version="v1") == 12 and value("photos", model_version="v2") == 3
    assert value("reviewed_photos", model_version="v1") == 10
    assert value("accuracy", model_version="v1") == 0.8
    assert round(value("accuracy_lower", model_version="v1"), 4) == 0.4902
    assert round(value("accuracy_upper", model_version="v1"), 4) == 0.9433
    assert value("confusion_photos", model_version="v1", human_class="Egg", predicted_class="Rice") == 1
    assert value("reliability_accuracy", model_version="v1", bin="0.8-0.9") == 0.5
    assert value("day_low_confidence_share", model_version="v1", day="2026-03-02") == 5 / 6
    assert value("day_class_photos", model_version="v1", day="2026-03-01", **{"class": "Soup"}) == 4
    # no accuracy for a version nobody reviewed (rather than a made-up 0)
    assert ("gourmetgram_quality_accuracy", (("model_version", "v2"),)) not in found
