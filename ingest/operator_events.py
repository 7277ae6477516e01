"""The event log, for operators only (REVIEW_TOKEN): `GET /review/events` the page, with a thumbnail of each
photo in production and a link to its review; `GET /review/api/events` its records; `GET /review/thumbs/<id>`
the thumbnail, made by the frontend from the photo it reads with its own MinIO identity
(ingest/production_photos.py).

There is no public event log: its file names carry uploaders' names, places and dates, and the photos are
private. The old public addresses (`/events`, `/api/events`) redirect here.
"""

from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from gourmetgram import names
from gourmetgram.images import ImageRefused
from gourmetgram.outcome import Status
from gourmetgram.store import StoreError
from ingest import context, operator, production_photos
from ingest.event_reads import PAGE_SIZES, EventLogBusy
from ingest.thumbnails import ThumbnailCache, thumbnail

bp = operator.protect(Blueprint("operator_events", __name__))
THUMB_MAX_AGE_S = 3600  # a photo never changes under its id; an hour bounds how long a deleted one lingers
# Thumbnails made at once (each holds a photo's bytes, up to MAX_UPLOAD_BYTES, and its decoded draft): a page
# of 100 rows asks for many; the browser's own limit keeps them few, this keeps them few whoever asks.
THUMBS_AT_ONCE = 2
THUMB_WAIT_S = 10.0
MAX_EVENTS = max(PAGE_SIZES)  # rows of /review/api/events: each one not cached yet is a GET on MinIO

# The event log's columns (static/events.js fills each from the record's fields), in the order a phone shows
# them first: the photo, when, what became of it, which file (with the record's id under its name).
EVENT_COLUMNS = (
    ("photo", "Photo"),
    ("finished", "Finished"),
    ("status", "Status"),
    ("file", "File"),
    ("predicted_class", "Prediction"),
    ("confidence", "Confidence"),
    ("corrected_class", "Correction"),
    ("flagged", "Flag"),
    ("source", "Source"),
    ("latency_ms", "Latency"),
    ("reason", "Reason"),
)
# The filters of the event log (static/events.js applies them to the rows loaded): a record's status, the
# model's class, and where the photo came from.
EVENT_STATUSES = tuple(s.value for s in (Status.DONE, Status.REJECTED, Status.FAILED, Status.PENDING))
EVENT_SOURCES = (("web", "uploaded through the page"), ("bucket", "dropped into incoming"))


@bp.record_once
def _cache(state) -> None:
    state.app.extensions["gourmetgram"].setdefault("thumbnails", ThumbnailCache())
    state.app.extensions["gourmetgram"].setdefault("thumbnail_slots", threading.BoundedSemaphore(THUMBS_AT_ONCE))


def thumbnails() -> ThumbnailCache:
    return current_app.extensions["gourmetgram"]["thumbnails"]


@bp.get("/review/events")
def page():
    return render_template(
        "events.html", columns=EVENT_COLUMNS, statuses=EVENT_STATUSES, classes=names.CLASSES, sources=EVENT_SOURCES
    )


@bp.get("/review/api/events")
def records():
    """The `limit` newest outcome records, newest first by the photo's time (docs/architecture.md#the-event-log)."""
    raw = request.args.get("limit", "50")
    limit = int(raw) if raw.isdecimal() and len(raw) <= 6 else 0
    if not 1 <= limit <= MAX_EVENTS:
        return jsonify({"error": f"limit must be a whole number from 1 to {MAX_EVENTS}, not {raw[:40]!r}"}), 400
    try:
        return jsonify(context.event_reads().newest(limit))
    except EventLogBusy:
        return (
            jsonify({"error": "too many requests read the event log at once: ask again in a second"}),
            503,
            {"Retry-After": "1"},
        )
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503


@bp.get("/review/thumbs/<pid>")
def thumb(pid: str):
    data = thumbnails().get(pid)
    if data is None:
        slots = current_app.extensions["gourmetgram"]["thumbnail_slots"]
        if not slots.acquire(timeout=THUMB_WAIT_S):
            return jsonify({"error": "busy making other thumbnails; try again"}), 503, {"Retry-After": "1"}
        try:
            _, photo = production_photos.read(pid)
            data = thumbnail(photo, context.settings().max_pixels)
        except production_photos.NoPhoto as exc:
            return jsonify({"error": str(exc)}), 404
        except ImageRefused as exc:
            return jsonify({"error": f"the photo of prediction {pid} cannot be shown: {exc}"}), 422
        except StoreError as exc:
            return jsonify({"error": f"storage is unavailable: {exc}"}), 503
        finally:
            slots.release()
        thumbnails().put(pid, data)
    response = Response(data, content_type="image/jpeg")
    # Kept by the operator's own browser only (operator.protect sends no-store otherwise).
    response.headers["Cache-Control"] = f"private, max-age={THUMB_MAX_AGE_S}"
    return response
