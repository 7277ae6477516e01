"""`gourmetgram model replay`: the challenger labels, in the shadow, photos a person already reviewed, so the
comparison on human labels exists the day a challenger is set instead of weeks later.

Each photo is read from `production` (at a bounded rate: the replay shares MinIO with production traffic),
preprocessed exactly as the function does, run through the challenger, and its answer written into the
record's `shadow` with a conditional write over the record as read (a record changed meanwhile, by a review
for instance, is read again and the answer added to the new version). A record that has the challenger's
answer already is left alone, so a second run writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gourmetgram import idtime, model_registry, names, outcome
from gourmetgram.model_registry import CHALLENGER, RegistryError
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store, StoreError

DEFAULT_RATE = 4.0  # photos per second: a few GETs a second beside production's traffic
MAX_RATE = 100.0
PROGRESS_EVERY = 50  # without a terminal: one line per this many photos


def shadow_of(record: Outcome) -> str | None:
    """The model version of the record's shadow answer, if it has one."""
    shadow = record.shadow
    return str(shadow.get("model_version")) if isinstance(shadow, dict) and shadow.get("model_version") else None


def needs_answer(record: Outcome, version: str) -> bool:
    """A done photo a person reviewed, in production, that `version` has not labelled (in production or the
    shadow)."""
    return (
        record.status is Status.DONE
        and bool(record.human_label)
        and bool(record.production_key)
        and record.model_version != version
        and shadow_of(record) != version
    )


def to_do(records: Iterable[Outcome], version: str) -> list[Outcome]:
    return [r for r in records if needs_answer(r, version)]


def shadow_answer(version: str, index: int, confidence: float) -> dict:
    """The record's `shadow` field (docs/contract.md#models)."""
    return {
        "model_version": version,
        "predicted_class": names.CLASSES[index],
        "class_index": index,
        "confidence": round(float(confidence), 6),
    }


@dataclass
class Report:
    version: str
    candidates: int = 0
    written: int = 0
    already: int = 0  # answered meanwhile (another replay, the function's shadow)
    missing: int = 0  # record or photo gone
    failed: list[str] = field(default_factory=list)  # "<id>: why"


class Pace:
    """At most `rate` calls of `wait` per second, evenly spaced (a burst would still hit MinIO at once)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self._interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


def challenger_version(store: Store) -> str:
    version = model_registry.read_alias(store, CHALLENGER).version
    if version is None:
        raise RegistryError("no challenger is set: `gourmetgram model challenge VERSION` sets one")
    return version


def load_classifier(store: Store, version: str, settings: Settings) -> Callable[[bytes], tuple[int, float]]:
    """photo bytes -> (class index, confidence) by the registry's model `version`, as the function computes it."""
    import torch

    from classifier_fn.inference import model, preprocess

    loaded = model.load_bytes(model_registry.read_model(store, version), f"model {version} from the registry")
    module = model.for_inference(loaded.module)

    def classify(data: bytes) -> tuple[int, float]:
        tensor = preprocess.prepare(data, settings.max_pixels, decode=settings.decode).tensor
        with torch.inference_mode():
            batch = tensor[None].contiguous(memory_format=torch.channels_last)
            probabilities = torch.softmax(module(batch), dim=1)[0]
        confidence, index = probabilities.max(dim=0)
        return int(index), float(confidence)

    return classify


def replay(
    store: Store,
    settings: Settings,
    since: float,
    *,
    rate: float = DEFAULT_RATE,
    classify: Callable[[bytes], tuple[int, float]] | None = None,
    version: str | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    pace: Pace | None = None,
) -> Report:
    """Give the challenger's answer to every reviewed photo uploaded since `since` that lacks it."""
    version = version or challenger_version(store)
    records = [p.record for p in idtime.read_photos(store, settings.bucket_events, since, time.time() + 1)]
    todo = to_do(records, version)
    report = Report(version, len(todo))
    if not todo:
        return report
    classify = classify or load_classifier(store, version, settings)
    pace = pace or Pace(rate)
    for done, record in enumerate(todo, 1):
        pace.wait()
        _answer(store, settings, record, version, classify, report)
        progress(done, len(todo))
    return report


def _answer(
    store: Store,
    settings: Settings,
    record: Outcome,
    version: str,
    classify: Callable[[bytes], tuple[int, float]],
    report: Report,
) -> None:
    from classifier_fn.inference.errors import Rejected

    assert record.production_key is not None  # needs_answer checked it
    try:
        data = store.read(settings.bucket_production, record.production_key, limit=settings.max_object_bytes)
        if len(data) > settings.max_object_bytes:
            raise Rejected(f"file too large: over {settings.max_object_bytes:,} bytes")
        index, confidence = classify(data)
    except NotFound:
        report.missing += 1
        return
    except (Rejected, StoreError) as exc:
        report.failed.append(f"{record.id}: {exc}")
        return
    answer = shadow_answer(version, index, confidence)
    wrote = False

    def add_answer(current: Outcome) -> Outcome:
        nonlocal wrote
        wrote = shadow_of(current) != version  # else someone answered meanwhile: the update writes nothing
        if wrote:
            current.shadow = answer
        return current

    try:
        # Read, change, If-Match on the ETag read; a record changed meanwhile is read again and changed again.
        outcome.update(store, settings.bucket_events, record.id, add_answer)
    except NotFound:
        report.missing += 1
        return
    except StoreError as exc:
        report.failed.append(f"{record.id}: {exc}")
        return
    if wrote:
        report.written += 1
    else:
        report.already += 1
