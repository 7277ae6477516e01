"""Label Studio, both ways: the review queue as Label Studio tasks, and its JSON export back as `human_label`.

Tasks carry the photo as a presigned GET URL of `production` (signed with the operator's credentials, so
Label Studio and its annotators' browsers fetch it straight from MinIO: MINIO_URL must be reachable from
there), the model's class as a pre-annotation (`predictions`, with its confidence as `score`), the
uploader's correction and flag in `data`, and the id and production key in `meta`. Label Studio keeps
`meta` and `data` in its JSON export (checked on 1.23.2), which is how an answer finds its photo again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import quoteattr

from gourmetgram import names
from gourmetgram.labels import change_labels
from gourmetgram.outcome import Outcome, Status
from gourmetgram.review_queue import Queued
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store, StoreError

FROM_NAME, TO_NAME = "label", "image"


def label_config() -> str:
    """The project's labelling interface: the photo, and one choice per Food-11 class."""
    choices = "\n".join(f"    <Choice value={quoteattr(c)} hotkey={quoteattr(k)}/>"
                        for k, c in zip([*map(str, range(10)), "v"], names.CLASSES, strict=True))
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def task(item: Queued, image_url: str) -> dict:
    r = item.photo.record
    return {
        "data": {"image": image_url, "id": r.id, "predicted_class": r.predicted_class, "confidence": r.confidence,
                 "corrected_class": r.corrected_class, "flagged": bool(r.flagged),
                 "reasons": ", ".join(reason.value for reason in item.reasons), "model_version": r.model_version,
                 "uploaded": names.timestamp_tag(datetime.fromtimestamp(item.photo.uploaded, UTC))},
        "predictions": [{"model_version": r.model_version or "unknown", "score": r.confidence, "result": [
            {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
             "value": {"choices": [r.predicted_class]}}]}],
        "meta": {"id": r.id, "production_key": r.production_key},
    }


def tasks(queue: list[Queued], presign: Callable[[str], str]) -> list[dict]:
    """The queue as Label Studio tasks; `presign(production_key)` gives each photo's URL."""
    return [task(item, presign(item.photo.record.production_key)) for item in queue]


def presigner(settings: Settings, expires: timedelta) -> Callable[[str], str]:
    """Presigned GETs of production objects (computed here: no request to MinIO)."""
    from gourmetgram.store import minio_client

    client = minio_client(settings)
    return lambda key: client.presigned_get_object(settings.bucket_production, key, expires=expires)


@dataclass(frozen=True)
class Answer:
    """One task's answer: the class a person chose for a photo, and when."""

    id: str
    production_key: str | None
    human_label: str
    reviewed_at: str  # tag time, UTC seconds


@dataclass
class Imported:
    saved: int = 0
    unchanged: int = 0   # the record already holds this answer, or a newer review
    unanswered: int = 0  # tasks with no annotation, or only skipped ones
    problems: list[str] = field(default_factory=list)


def answers(export: object, imported: Imported) -> list[Answer]:
    """The answers of a Label Studio JSON export (a list of tasks): each task's newest annotation that was
    not skipped. What cannot be understood is named in `imported.problems`, never guessed."""
    if not isinstance(export, list):
        raise ValueError("a Label Studio JSON export is a list of tasks (Export > JSON); this file is not")
    found = []
    for n, t in enumerate(export, 1):
        where = f"task {t.get('id', n) if isinstance(t, dict) else n}"
        if not isinstance(t, dict):
            imported.problems.append(f"{where}: not a task object")
            continue
        meta, data = t.get("meta") or {}, t.get("data") or {}
        pid = meta.get("id") or data.get("id")
        if not isinstance(pid, str) or not names.is_prediction_id(pid):
            imported.problems.append(f"{where}: no GourmetGram prediction id in its meta or data (not ours?)")
            continue
        done = [a for a in t.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        done.sort(key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
        if not done:
            imported.unanswered += 1
            continue
        try:
            found.append(Answer(pid, meta.get("production_key"), _choice(done[-1]), _when(done[-1])))
        except ValueError as exc:
            imported.problems.append(f"{where} ({pid}): {exc}")
    return found


def _choice(annotation: dict) -> str:
    chosen = [c for result in annotation.get("result") or [] if isinstance(result, dict)
              and result.get("type") == "choices" for c in (result.get("value") or {}).get("choices") or []]
    if len(chosen) != 1:
        raise ValueError(f"expected one chosen class, found {chosen!r}")
    return names.class_name(names.class_index(chosen[0]))  # ValueError names a class that is not Food-11's


def _when(annotation: dict) -> str:
    raw = annotation.get("updated_at") or annotation.get("created_at")
    moment = names.parse_iso(raw) if isinstance(raw, str) else datetime.now(UTC).timestamp()
    return names.timestamp_tag(datetime.fromtimestamp(moment, UTC))


def save(store: Store, settings: Settings, answer: Answer, imported: Imported) -> None:
    """Save one answer as `human_label` through the record, unless the record holds a newer review."""
    wrote = {"saved": False}  # what the last (conflict-free) application of the change did

    def change(record: Outcome) -> Outcome:
        if record.status is not Status.DONE or not record.production_key:
            raise ValueError(f"{answer.id} is {record.status.value}: only a labelled photo is reviewed")
        if answer.production_key and answer.production_key != record.production_key:
            raise ValueError(f"{answer.id}: the task names {answer.production_key}, the record "
                             f"{record.production_key}")
        newer = record.reviewed_at and names.parse_iso(record.reviewed_at) > names.parse_iso(answer.reviewed_at)
        wrote["saved"] = not newer and (record.human_label, record.reviewed_at) != (answer.human_label,
                                                                                   answer.reviewed_at)
        if wrote["saved"]:  # else: reviewed again since (on /review, or in a later export): that answer stays
            record.human_label, record.reviewed_at = answer.human_label, answer.reviewed_at
        return record

    try:
        change_labels(store, settings, answer.id, change)
    except NotFound:
        imported.problems.append(f"{answer.id}: no such prediction here")
        return
    except ValueError as exc:
        imported.problems.append(str(exc))
        return
    if wrote["saved"]:
        imported.saved += 1
    else:
        imported.unchanged += 1


def import_file(store: Store, settings: Settings, text: str) -> Imported:
    imported = Imported()
    try:
        export = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc}): export the project from Label Studio as JSON") from None
    for answer in answers(export, imported):
        try:
            save(store, settings, answer, imported)
        except StoreError as exc:
            imported.problems.append(f"{answer.id}: storage is unavailable ({exc}); import the file again")
    return imported
