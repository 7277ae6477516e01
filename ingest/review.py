"""`/review`: the operator labels queued photos one at a time, by keyboard (operator pages only).

`GET /review` the page (`?id=<id>` shows that photo first); `GET /review/api/queue` the queue
(gourmetgram/review_queue.py); `GET /review/api/item/<id>` one photo, queued or not; `GET
/review/photo/<id>` the photo, read from `production` by the frontend (the browser never sees MinIO; a HEIC,
HEIF or AVIF, which not every browser draws, as a JPEG of at most VIEW_SIZE pixels a side);
`POST /review/api/<id>` `{"human_label": <class>}` saves the answer through the record (labels.py) and
answers what it replaced (`before`) and the record's new ETag; `POST /review/api/<id>/undo` with
`If-Match: <that ETag>` and `before` as its body puts record and tags back as they were, unless the record
changed since (412: the uploader's feedback or another reviewer came in between, and is kept).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from gourmetgram import idtime, names, outcome, review_queue
from gourmetgram.eventlog import RecordCache
from gourmetgram.idtime import Photo
from gourmetgram.images import ImageRefused
from gourmetgram.labels import sync_label_tags
from gourmetgram.outcome import Outcome, Status
from gourmetgram.review_queue import Queued
from gourmetgram.store import Changed, CorruptDocument, NotFound, StoreError
from ingest import context, operator, production_photos
from ingest.feedback_body import FeedbackRefused
from ingest.thumbnails import thumbnail

bp = operator.protect(Blueprint("review", __name__))
MAX_ITEMS = 500
MAX_BODY_BYTES = 4096
RECORDS_KEPT = 20_000  # records the operator pages keep parsed between requests (a few KB each)
# One key per class: the digit of its number (class_00 .. class_09), and `v` for Vegetable/Fruit (class_10).
KEYS = tuple(str(i) for i in range(10)) + ("v",)
CONTENT_TYPES = {ext: kind for ext, kind in names.IMAGE_FORMATS.values()}
# Phone formats many browsers cannot draw (Chrome and Firefox show no HEIC): shown as a JPEG this size.
AS_JPEG = frozenset({".heic", ".heif", ".avif"})
VIEW_SIZE = 1280


@bp.record_once
def _cache(state) -> None:
    state.app.extensions["gourmetgram"].setdefault("operator_records", RecordCache(RECORDS_KEPT))


def records() -> RecordCache:
    """Records the operator pages read, by ETag: a refresh fetches only what changed."""
    return current_app.extensions["gourmetgram"]["operator_records"]


@bp.get("/review")
def page():
    s = context.settings()
    return render_template(
        "review.html",
        classes=list(zip(KEYS, names.CLASSES, strict=True)),
        threshold=s.review_confidence,
        per_day=s.review_sample_per_day,
        window=s.review_window_days,
    )


@bp.get("/review/api/queue")
def queue():
    raw = request.args.get("limit", "100")
    limit = int(raw) if raw.isdecimal() and len(raw) <= 6 else 0
    if not 1 <= limit <= MAX_ITEMS:
        return jsonify({"error": f"limit must be a whole number from 1 to {MAX_ITEMS}, not {raw[:40]!r}"}), 400
    try:
        queued = review_queue.load(context.store(), context.settings(), time.time(), cache=records())
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    counts: dict[str, int] = {}
    for item in queued:
        for reason in item.reasons:
            counts[reason.value] = counts.get(reason.value, 0) + 1
    return jsonify({"total": len(queued), "reasons": counts, "items": [item_json(q) for q in queued[:limit]]})


def item_json(q: Queued) -> dict:
    r = q.photo.record
    return {
        "id": r.id,
        "photo": f"/review/photo/{r.id}",
        "predicted_class": r.predicted_class,
        "class_index": r.class_index,
        "confidence": r.confidence,
        "corrected_class": r.corrected_class,
        "flagged": bool(r.flagged),
        "reasons": [reason.value for reason in q.reasons],
        "source": r.source,
        "model_version": r.model_version,
        "human_label": r.human_label,
        "uploaded": names.timestamp_tag(datetime.fromtimestamp(q.photo.uploaded, UTC)),
    }


@bp.get("/review/api/item/<pid>")
def one_item(pid: str):
    """One photo as the queue lists it, queued or not (`/review?id=<id>` opens it first): from the event log."""
    if not names.is_prediction_id(pid):
        return jsonify({"error": f"no prediction with id {pid!r}"}), 404
    try:
        found = outcome.read(context.store(), context.settings().bucket_events, pid)
    except CorruptDocument as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    if found is None:
        return jsonify({"error": f"no prediction with id {pid!r}"}), 404
    record = found.outcome
    photo = Photo(record, idtime.photo_time(record, written=0.0))  # a read by id knows no write time
    if not review_queue.labelled(photo):
        return jsonify({"error": f"prediction {pid} is {record.status.value}: only a labelled photo is reviewed"}), 409
    rule = review_queue.Rule.from_settings(context.settings())
    return jsonify(item_json(Queued(photo, review_queue.reasons(photo, rule, sampled=set()))))


@bp.get("/review/photo/<pid>")
def photo(pid: str):
    try:
        key, data = production_photos.read(pid)
    except production_photos.NoPhoto as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    ext = key[key.rfind(".") :] if "." in key.rsplit("/", 1)[-1] else ""
    if ext in AS_JPEG:
        try:
            data, ext = thumbnail(data, context.settings().max_pixels, size=VIEW_SIZE), ".jpg"
        except ImageRefused as exc:
            return jsonify({"error": f"the photo cannot be shown: {exc}"}), 422
    response = Response(data, content_type=CONTENT_TYPES.get(ext, "application/octet-stream"))
    # Someone's upload, served from our origin: shown as an image only, never run as a document.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.post("/review/api/<pid>")
def label(pid: str):
    if not names.is_prediction_id(pid):
        return jsonify({"error": f"no prediction with id {pid!r}"}), 404
    before: dict = {}

    def change(r: Outcome) -> Outcome:
        # of the version changed last; `reviewed` is the review's millisecond (review_queue.disputed reads it)
        before.update(human_label=r.human_label, reviewed_at=r.reviewed_at, reviewed=r.timestamps.get("reviewed"))
        return reviewed(r, human_label, replace)

    store, s = context.store(), context.settings()
    try:
        human_label, replace = parse(request.mimetype, request.stream.read(MAX_BODY_BYTES + 1))
        written = outcome.update(store, s.bucket_events, pid, change)
        sync_label_tags(store, s, written)
    except FeedbackRefused as exc:
        return jsonify({"error": exc.message}), exc.status
    except NotFound as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable, please send it again: {exc}"}), 503
    record = written.outcome
    return jsonify(
        {
            "id": pid,
            "human_label": record.human_label,
            "reviewed_at": record.reviewed_at,
            "production_key": record.production_key,
            "before": before,
            "etag": written.etag,
        }
    )


UNDO_HOW = (
    'send the `before` and `etag` a review answered: the body {"human_label": <class or null>, '
    '"reviewed_at": <time or null>, "reviewed": <time or null>} with If-Match: <etag>'
)


@bp.post("/review/api/<pid>/undo")
def undo(pid: str):
    """Put the review fields of `pid`'s record back as they were before the last answer, and its tags with them:
    only if the record is still the version that answer wrote (If-Match), so nothing written since is lost."""
    if not names.is_prediction_id(pid):
        return jsonify({"error": f"no prediction with id {pid!r}"}), 404
    store, s = context.store(), context.settings()
    try:
        etag = request.headers.get("If-Match", "").strip()
        if not etag:
            raise FeedbackRefused(428, f"an undo names the record it undoes: {UNDO_HOW}")
        restore = parse_before(request.mimetype, request.stream.read(MAX_BODY_BYTES + 1))
        current = outcome.read(store, s.bucket_events, pid)
        if current is None:
            raise NotFound(f"no outcome record of prediction {pid}")
        if current.etag != etag:
            raise FeedbackRefused(
                412,
                f"prediction {pid} changed since that answer (now human_label "
                f"{current.outcome.human_label!r}): nothing undone",
            )
        written = outcome.replace(store, s.bucket_events, restored(current.outcome, restore), etag)
        sync_label_tags(store, s, written)
    except FeedbackRefused as exc:
        return jsonify({"error": exc.message}), exc.status
    except Changed:
        return jsonify({"error": f"prediction {pid} changed while it was undone: nothing undone"}), 412
    except NotFound as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable, please send it again: {exc}"}), 503
    record = written.outcome
    return jsonify(
        {"id": pid, "human_label": record.human_label, "reviewed_at": record.reviewed_at, "etag": written.etag}
    )


def restored(record: Outcome, before: dict) -> Outcome:
    """The record with its review fields, and the review's millisecond among its timestamps, as `before` says."""
    timestamps = {k: v for k, v in record.timestamps.items() if k != "reviewed"}
    if before["reviewed"] is not None:
        timestamps["reviewed"] = before["reviewed"]
    return dataclasses.replace(
        record, human_label=before["human_label"], reviewed_at=before["reviewed_at"], timestamps=timestamps
    )


def json_body(mimetype: str, data: bytes, names_: tuple[str, str], how: str) -> object:
    """The parsed JSON of a review or an undo, `names_` ("a review", "review") naming it in the refusals.
    JSON only: another site's page cannot send it without asking first (CORS), even with the browser's
    basic-auth credentials."""
    article, noun = names_
    if mimetype != "application/json":
        raise FeedbackRefused(415, f"{article} is JSON (Content-Type: application/json): {how}")
    if len(data) > MAX_BODY_BYTES:
        raise FeedbackRefused(413, f"{article} body is at most {MAX_BODY_BYTES} bytes: {how}")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise FeedbackRefused(400, f"the {noun} body is not JSON: {how}") from None


def parse_before(mimetype: str, data: bytes) -> dict:
    """The review fields to put back: a class (its own spelling) or null, and a tag time or null."""
    body = json_body(mimetype, data, ("an undo", "undo"), UNDO_HOW)
    # "reviewed" came later: an undo that names none (a page loaded before) clears the millisecond
    if not isinstance(body, dict) or not {"human_label", "reviewed_at"} <= set(body) <= {
        "human_label",
        "reviewed_at",
        "reviewed",
    }:
        raise FeedbackRefused(400, UNDO_HOW)
    label, at, millisecond = body["human_label"], body["reviewed_at"], body.get("reviewed")
    if not (millisecond is None or isinstance(millisecond, str) and MILLISECOND.fullmatch(millisecond)) or (
        millisecond is not None and at is None
    ):
        raise FeedbackRefused(400, UNDO_HOW)
    if (
        (label is None) != (at is None)
        or not (label is None or isinstance(label, str))
        or not (at is None or isinstance(at, str) and TAG_TIME.fullmatch(at))
    ):
        raise FeedbackRefused(400, UNDO_HOW)
    try:
        label = None if label is None else names.class_name(names.class_index(label))
    except ValueError as exc:
        raise FeedbackRefused(400, f"{exc}; the classes are {', '.join(names.CLASSES)}") from None
    return {"human_label": label, "reviewed_at": at, "reviewed": millisecond}


MILLISECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # names.now_iso's form
TAG_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")  # names.timestamp_tag's form


HOW = 'send a JSON object such as {"human_label": "Egg"} (and "replace": true to change an earlier review)'


def parse(mimetype: str, data: bytes) -> tuple[str, bool]:
    """The class a review names (its own spelling) and whether it may replace an earlier review."""
    body = json_body(mimetype, data, ("a review", "review"), HOW)
    if not isinstance(body, dict) or set(body) - {"human_label", "replace"} or "human_label" not in body:
        raise FeedbackRefused(400, HOW)
    value, replace = body["human_label"], body.get("replace", False)
    if not isinstance(value, str) or not isinstance(replace, bool):
        raise FeedbackRefused(400, HOW)
    try:
        return names.class_name(names.class_index(value)), replace
    except ValueError as exc:
        raise FeedbackRefused(400, f"{exc}; the classes are {', '.join(names.CLASSES)}") from None


def reviewed(record: Outcome, human_label: str, replace: bool) -> Outcome:
    """The record with a reviewer's answer; refused for a photo that is not done, or already reviewed."""
    if record.status is not Status.DONE or not record.production_key:
        raise FeedbackRefused(
            409, f"prediction {record.id} is {record.status.value}: only a labelled photo is reviewed"
        )
    if record.human_label and not replace:
        raise FeedbackRefused(
            409,
            f"prediction {record.id} was reviewed already ({record.human_label!r} at "
            f'{record.reviewed_at}); send "replace": true to change it',
        )
    # `reviewed_at` is a tag's time (whole seconds); the record's timestamps keep the millisecond, so that
    # feedback a moment after the review is told from feedback a moment before it (review_queue.disputed).
    now = time.time()
    return dataclasses.replace(
        record,
        human_label=human_label,
        reviewed_at=names.timestamp_tag(datetime.fromtimestamp(now, UTC)),
        timestamps={**record.timestamps, "reviewed": names.now_iso(now)},
    )
