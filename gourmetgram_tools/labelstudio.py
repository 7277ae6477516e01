"""Label Studio, both ways: the review queue as Label Studio tasks, and its JSON export back as `human_label`.

Tasks carry the photo as a presigned GET URL of `production` (signed with the operator's credentials, so
Label Studio and its annotators' browsers fetch it straight from MinIO: MINIO_URL must be reachable from
there), the model's class as a pre-annotation (`predictions`, with its confidence as `score`), the
uploader's correction and flag in `data`, and the id and production key in `meta`. Label Studio keeps
`meta` and `data` in its JSON export (checked on 1.23.2), which is how an answer finds its photo again;
`labelstudio_answers` reads that export without trusting it.
"""

from __future__ import annotations

import time
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
from gourmetgram.terminal import printable
from gourmetgram_tools import labelstudio_answers as answers
from gourmetgram_tools.labelstudio_answers import CLOCK_SKEW_S, LabelStudioAnswer

FROM_NAME, TO_NAME = "label", "image"


def label_config() -> str:
    """The project's labelling interface: the photo, and one choice per Food-11 class."""
    choices = "\n".join(
        f"    <Choice value={quoteattr(c)} hotkey={quoteattr(k)}/>"
        for k, c in zip([*map(str, range(10)), "v"], names.CLASSES, strict=True)
    )
    return (
        f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )


def task(item: Queued, image_url: str) -> dict:
    r = item.photo.record
    return {
        "data": {
            "image": image_url,
            "id": r.id,
            "predicted_class": r.predicted_class,
            "confidence": r.confidence,
            "corrected_class": r.corrected_class,
            "flagged": bool(r.flagged),
            "reasons": ", ".join(reason.value for reason in item.reasons),
            "model_version": r.model_version,
            "uploaded": names.timestamp_tag(datetime.fromtimestamp(item.photo.uploaded, UTC)),
        },
        "predictions": [
            {
                "model_version": r.model_version or "unknown",
                "score": r.confidence,
                "result": [
                    {
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "type": "choices",
                        "value": {"choices": [r.predicted_class]},
                    }
                ],
            }
        ],
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


@dataclass
class Imported:
    saved: int = 0
    unchanged: int = 0  # the record already holds this answer, or a newer review
    unanswered: int = 0  # tasks with no annotation, or only skipped ones
    problems: list[str] = field(default_factory=list)  # terminal-safe: what the file names is escaped


def _held_review(pid: str, reviewed_at: object) -> float | None:
    """When the record was last reviewed; ValueError names a value that is no time. The frontend's MinIO user
    may write any record, so `reviewed_at` may be a number or a list as well as a malformed string."""
    if not reviewed_at:
        return None
    try:
        return names.parse_iso(reviewed_at)
    except (TypeError, ValueError):
        shown = repr(reviewed_at)[: answers.SHOWN_CHARS]
        raise ValueError(
            f"{pid}: its record's reviewed_at {shown} is not a time: not saved over it (check that record)"
        ) from None


def save(store: Store, settings: Settings, answer: LabelStudioAnswer, imported: Imported, now: float) -> None:
    """Save one answer as `human_label` through the record, unless the record holds a newer review. A record's
    `reviewed_at` in the future (beyond the allowed skew) is no review: an import before this check could
    store one, and it would shadow every genuine answer after it."""
    wrote = {"saved": False}  # what the last (conflict-free) application of the change did

    def change(record: Outcome) -> Outcome:
        if record.status is not Status.DONE or not record.production_key:
            raise ValueError(f"{answer.id} is {record.status.value}: only a labelled photo is reviewed")
        if answer.production_key != record.production_key:
            raise ValueError(
                f"{answer.id}: the task shows the photo {answer.production_key}, the record is of "
                f"{record.production_key}"
            )
        held = _held_review(answer.id, record.reviewed_at)
        newer = held is not None and now + CLOCK_SKEW_S >= held > names.parse_iso(answer.reviewed_at)
        wrote["saved"] = not newer and (record.human_label, record.reviewed_at) != (
            answer.human_label,
            answer.reviewed_at,
        )
        if wrote["saved"]:  # else: reviewed again since (on /review, or in a later export): that answer stays
            record.human_label, record.reviewed_at = answer.human_label, answer.reviewed_at
        return record

    try:
        change_labels(store, settings, answer.id, change)
    except NotFound:
        imported.problems.append(f"{answer.id}: no such prediction here")
        return
    except ValueError as exc:
        imported.problems.append(printable(str(exc)))
        return
    if wrote["saved"]:
        imported.saved += 1
    else:
        imported.unchanged += 1


def import_file(store: Store, settings: Settings, text: str, now: float | None = None) -> Imported:
    """Save the answers of an export's text (`read_file` bounds the file); ValueError refuses it whole."""
    now = time.time() if now is None else now
    reading = answers.read(answers.parse(text), settings.bucket_production, now)
    imported = Imported(unanswered=reading.unanswered, problems=reading.problems)
    for answer in reading.answers:
        try:
            save(store, settings, answer, imported, now)
        except StoreError as exc:
            imported.problems.append(printable(f"{answer.id}: storage is unavailable ({exc}); import the file again"))
    return imported
