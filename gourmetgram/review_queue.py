"""The review queue: which labelled photos a person should look at, as a pure function of their records.

A photo is queued while it has no `human_label` and at least one reason holds:
- its model confidence is under review_confidence (0.7);
- its uploader flagged or corrected it;
- it is in its day's sample: of the day's photos at or above review_confidence (UTC days, by upload
  time), the review_sample_per_day (5) whose SHA-256 of the id is smallest. That is a uniform random sample
  of the day, fixed by the ids alone, drawn once the day is over (while the day runs, a later photo could
  still take a sampled one's place, and the day would end with more reviewed than its share).
A reviewed photo comes back, "disputed", when its uploader flagged or corrected it after the review (the
record's `feedback` time is later than its review's): the uploader disagrees with the reviewer, and only a
new review (a later review time) takes it out again.

Nothing is stored: the queue is derived from the records every time, so "each photo queued once" holds
by construction: a photo is one entry whatever its reasons, and a review (a `human_label`) takes it out
for every reviewer and for Label Studio alike, until the uploader disputes it.
"""

from __future__ import annotations

import enum
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from gourmetgram import idtime, names
from gourmetgram.eventlog import RecordCache
from gourmetgram.idtime import Photo
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import FrontendSettings
from gourmetgram.store import Store


class Reason(str, enum.Enum):
    DISPUTED = "disputed"  # flagged or corrected by its uploader after it was reviewed
    FLAGGED = "flagged"
    CORRECTED = "corrected"
    LOW_CONFIDENCE = "low confidence"
    SAMPLED = "sampled"


PRIORITY = (Reason.DISPUTED, Reason.FLAGGED, Reason.CORRECTED, Reason.LOW_CONFIDENCE, Reason.SAMPLED)


@dataclass(frozen=True)
class Rule:
    confidence: float  # under it, every photo is queued
    sample_per_day: int  # of the rest, this many per (finished) day

    @classmethod
    def from_settings(cls, s: FrontendSettings) -> Rule:
        return cls(s.review_confidence, s.review_sample_per_day)


@dataclass(frozen=True)
class Queued:
    photo: Photo
    reasons: tuple[Reason, ...]

    @property
    def id(self) -> str:
        return self.photo.record.id


def labelled(photo: Photo) -> bool:
    """A photo the model labelled and that exists in production: the only kind worth reviewing."""
    r = photo.record
    return (
        r.status is Status.DONE
        and bool(r.production_key)
        and r.predicted_class is not None
        and r.confidence is not None
    )


def sample_rank(pid: str) -> bytes:
    return hashlib.sha256(pid.encode()).digest()


def daily_sample(photos: Iterable[Photo], rule: Rule, today: date) -> set[str]:
    """The ids sampled on each day before `today`: the smallest hashes among the day's confident photos
    (reviewed ones included, so that a day's share stays `sample_per_day` once they are reviewed)."""
    by_day: dict[date, list[str]] = defaultdict(list)
    for photo in photos:
        if labelled(photo) and photo.record.confidence >= rule.confidence and photo.day < today:
            by_day[photo.day].append(photo.record.id)
    return {pid for ids in by_day.values() for pid in sorted(ids, key=sample_rank)[: rule.sample_per_day]}


def review_time(record: Outcome) -> float | None:
    """When the photo was last reviewed, None if never: the page's review stamps the millisecond, while
    `reviewed_at` (whole seconds) is all that Label Studio's answers and older records carry; the later."""
    times = [names.parse_iso(t) for t in (record.reviewed_at, record.timestamps.get("reviewed")) if t]
    return max(times) if record.human_label and times else None


def disputed(record: Outcome) -> bool:
    """Its uploader flagged or corrected it after its review (feedback from before the feedback time was
    recorded cannot be placed, and counts as before)."""
    reviewed, feedback = review_time(record), record.timestamps.get("feedback")
    return bool(
        reviewed is not None
        and feedback
        and (record.flagged or record.corrected_class)
        and names.parse_iso(feedback) > reviewed
    )


def reasons(photo: Photo, rule: Rule, sampled: set[str]) -> tuple[Reason, ...]:
    r = photo.record
    found = []
    if disputed(r):
        found.append(Reason.DISPUTED)
    if r.flagged:
        found.append(Reason.FLAGGED)
    if r.corrected_class:
        found.append(Reason.CORRECTED)
    if r.confidence < rule.confidence:
        found.append(Reason.LOW_CONFIDENCE)
    if r.id in sampled:
        found.append(Reason.SAMPLED)
    return tuple(found)


def build(photos: Iterable[Photo], rule: Rule, today: date) -> list[Queued]:
    """The queue, in the order a reviewer should see it: disputed, flagged, corrected, low confidence, sampled,
    then the oldest first. `photos` should cover whole days (a day cut in two samples from its half)."""
    photos = [p for p in photos if labelled(p)]
    sampled = daily_sample(photos, rule, today)
    queue = []
    for photo in photos:
        why = reasons(photo, rule, sampled)
        if why and (not photo.record.human_label or Reason.DISPUTED in why):
            queue.append(Queued(photo, why))
    queue.sort(key=lambda q: (min(PRIORITY.index(r) for r in q.reasons), q.photo.uploaded, q.id))
    return queue


def load(
    store: Store, settings: FrontendSettings, now: float, since: float | None = None, cache: RecordCache | None = None
) -> list[Queued]:
    """The queue of the photos uploaded since `since` (default: the last review_window_days (7) UTC days)."""
    if since is None:
        since, _ = idtime.last_days(settings.review_window_days, now)
    else:
        since = idtime.day_start(idtime.utc_day(since))  # whole days: a day's sample needs all of it
    photos = idtime.read_photos(store, settings.bucket_events, since, now + 1, cache)
    return build(photos, Rule.from_settings(settings), idtime.utc_day(now))
