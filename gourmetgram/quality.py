"""How good the model is on real traffic, per model version, from the outcome records (`compute` is pure;
`load` reads a time window of records for it).

Accuracy counts only photos a person reviewed (`human_label`): uploaders' corrections come mostly from
those who disagree, so they would bias it. Everything else (class mix, low-confidence share) counts every
labelled photo.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from gourmetgram import idtime, names
from gourmetgram.eventlog import RecordCache
from gourmetgram.idtime import Photo
from gourmetgram.outcome import Status
from gourmetgram.settings import FrontendSettings
from gourmetgram.store import Store

Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval
RELIABILITY_BINS = 10


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion: sound for small samples and for 0 % or 100 %."""
    if total == 0:
        return None
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Bin:
    """Reviewed photos whose confidence is in [lower, upper)."""

    lower: float
    upper: float
    count: int = 0
    confidence_sum: float = 0.0
    correct: int = 0

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.count if self.count else None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.count if self.count else None


@dataclass
class Day:
    photos: int = 0
    low_confidence: int = 0
    classes: list[int] = field(default_factory=lambda: [0] * len(names.CLASSES))  # by predicted class

    @property
    def low_confidence_share(self) -> float:
        return self.low_confidence / self.photos if self.photos else 0.0


@dataclass
class ModelQuality:
    model_version: str
    photos: int = 0
    reviewed: int = 0
    correct: int = 0
    corrected: int = 0
    flagged: int = 0
    # confusion[human][predicted]: rows are what a person said, columns what the model said
    confusion: list[list[int]] = field(default_factory=lambda: [[0] * len(names.CLASSES) for _ in names.CLASSES])
    bins: list[Bin] = field(
        default_factory=lambda: [Bin(i / RELIABILITY_BINS, (i + 1) / RELIABILITY_BINS) for i in range(RELIABILITY_BINS)]
    )
    days: dict[date, Day] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.correct, self.reviewed)

    @property
    def calibration_error(self) -> float | None:
        """Expected calibration error: the gap between confidence and accuracy, weighted by bin size."""
        if not self.reviewed:
            return None
        return sum(b.count * abs(b.accuracy - b.mean_confidence) for b in self.bins if b.count) / self.reviewed

    def add(self, photo: Photo, low_confidence: float) -> None:
        r = photo.record
        predicted = names.class_index(r.predicted_class)
        human = names.class_index(r.human_label) if r.human_label else None
        self.photos += 1
        self.corrected += bool(r.corrected_class)
        self.flagged += bool(r.flagged)
        day = self.days.setdefault(photo.day, Day())
        day.photos += 1
        day.low_confidence += r.confidence < low_confidence
        day.classes[predicted] += 1
        if human is not None:
            self.reviewed += 1
            self.correct += human == predicted
            self.confusion[human][predicted] += 1
            b = self.bins[min(int(r.confidence * RELIABILITY_BINS), RELIABILITY_BINS - 1)]
            b.count += 1
            b.confidence_sum += r.confidence
            b.correct += human == predicted


def compute(photos: Iterable[Photo], low_confidence: float) -> list[ModelQuality]:
    """One report per model version (most photos first) over the done photos; others are not the model's."""
    reports: dict[str, ModelQuality] = {}
    for photo in photos:
        r = photo.record
        if r.status is not Status.DONE or r.predicted_class is None or r.confidence is None:
            continue
        version = r.model_version or "unknown"
        try:
            reports.setdefault(version, ModelQuality(version)).add(photo, low_confidence)
        except ValueError:
            continue  # a class name no version of ours wrote: not a record to count
    for report in reports.values():
        report.days = dict(sorted(report.days.items()))
    return sorted(reports.values(), key=lambda m: (-m.photos, m.model_version))


def load(
    store: Store, settings: FrontendSettings, since: float, until: float, cache: RecordCache | None = None
) -> list[ModelQuality]:
    """The reports of the photos uploaded in [since, until); low confidence is under `review_confidence`."""
    photos = idtime.read_photos(store, settings.bucket_events, since, until, cache)
    return compute(photos, settings.review_confidence)


def to_json(report: ModelQuality) -> dict:
    """A report as plain JSON values (days as ISO dates)."""
    return {
        "model_version": report.model_version,
        "photos": report.photos,
        "reviewed": report.reviewed,
        "correct": report.correct,
        "accuracy": report.accuracy,
        "accuracy_95": list(report.interval) if report.interval else None,
        "calibration_error": report.calibration_error,
        "corrected": report.corrected,
        "flagged": report.flagged,
        "classes": list(names.CLASSES),
        "confusion": report.confusion,
        "reliability": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "photos": b.count,
                "confidence": b.mean_confidence,
                "accuracy": b.accuracy,
            }
            for b in report.bins
        ],
        "days": {
            day.isoformat(): {
                "photos": d.photos,
                "low_confidence": d.low_confidence,
                "low_confidence_share": d.low_confidence_share,
                "classes": d.classes,
            }
            for day, d in report.days.items()
        },
    }
