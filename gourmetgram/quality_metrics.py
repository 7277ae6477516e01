"""The quality figures (gourmetgram/quality.py) as Prometheus gauges, in the text exposition format.

Built per scrape in a registry of its own (no global state). The `day` label holds only the days of the
report's window, so the series stay bounded: window days x classes x model versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gourmetgram import names
from gourmetgram.quality import ModelQuality

PREFIX = "gourmetgram_quality"


class QualityCollector(Collector):
    def __init__(self, reports: Iterable[ModelQuality]):
        self._reports = list(reports)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def family(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["model_version", *labels])

        photos = family("photos", "Photos the model labelled in the window")
        reviewed = family("reviewed_photos", "Of them, photos a person reviewed (human_label)")
        corrected = family("corrected_photos", "Of them, photos their uploader corrected")
        flagged = family("flagged_photos", "Of them, photos their uploader flagged")
        accuracy = family("accuracy", "Accuracy on reviewed photos")
        lower = family("accuracy_lower", "Lower end of the 95 % (Wilson) interval of the accuracy")
        upper = family("accuracy_upper", "Upper end of the 95 % (Wilson) interval of the accuracy")
        ece = family("calibration_error", "Expected calibration error on reviewed photos")
        confusion = family(
            "confusion_photos", "Reviewed photos by human label and predicted class", "human_class", "predicted_class"
        )
        bin_photos = family("reliability_photos", "Reviewed photos per confidence bin", "bin")
        bin_confidence = family("reliability_confidence", "Mean confidence per confidence bin", "bin")
        bin_accuracy = family("reliability_accuracy", "Accuracy per confidence bin", "bin")
        day_classes = family("day_class_photos", "Photos per day (UTC) and predicted class", "day", "class")
        day_low = family("day_low_confidence_share", "Share of photos under the review confidence per day (UTC)", "day")
        for r in self._reports:
            v = r.model_version
            photos.add_metric([v], r.photos)
            reviewed.add_metric([v], r.reviewed)
            corrected.add_metric([v], r.corrected)
            flagged.add_metric([v], r.flagged)
            if r.reviewed:
                accuracy.add_metric([v], r.accuracy)
                lower.add_metric([v], r.interval[0])
                upper.add_metric([v], r.interval[1])
                ece.add_metric([v], r.calibration_error)
            for h, row in enumerate(r.confusion):
                for p, count in enumerate(row):
                    if count:
                        confusion.add_metric([v, names.CLASSES[h], names.CLASSES[p]], count)
            for b in r.bins:
                label = f"{b.lower:.1f}-{b.upper:.1f}"
                bin_photos.add_metric([v, label], b.count)
                if b.count:
                    bin_confidence.add_metric([v, label], b.mean_confidence)
                    bin_accuracy.add_metric([v, label], b.accuracy)
            for day, d in r.days.items():
                day_low.add_metric([v, day.isoformat()], d.low_confidence_share)
                for i, count in enumerate(d.classes):
                    day_classes.add_metric([v, day.isoformat(), names.CLASSES[i]], count)
        yield from (
            photos,
            reviewed,
            corrected,
            flagged,
            accuracy,
            lower,
            upper,
            ece,
            confusion,
            bin_photos,
            bin_confidence,
            bin_accuracy,
            day_classes,
            day_low,
        )


def exposition(reports: Iterable[ModelQuality]) -> bytes:
    """The gauges in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QualityCollector(reports))
    return generate_latest(registry)
