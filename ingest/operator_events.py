"""The event log for operators (REVIEW_TOKEN): `GET /review/events` the page of `/events` with a thumbnail
of each photo in production and a link to its review; `GET /review/thumbs/<id>` the thumbnail, made by
the frontend from the photo it reads with its own MinIO identity (ingest/production_photos.py).

The public `/events` shows no photo: photos are private, and this page is where operators see them.
"""

from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, jsonify

from gourmetgram.images import ImageRefused
from gourmetgram.store import StoreError
from ingest import context, operator, pages, production_photos
from ingest.thumbnails import ThumbnailCache, thumbnail

bp = operator.protect(Blueprint("operator_events", __name__))
THUMB_MAX_AGE_S = 3600  # a photo never changes under its id; an hour bounds how long a deleted one lingers
# Thumbnails made at once (each holds a photo's bytes, up to MAX_UPLOAD_BYTES, and its decoded draft): a page
# of 100 rows asks for many; the browser's own limit keeps them few, this keeps them few whoever asks.
THUMBS_AT_ONCE = 2
THUMB_WAIT_S = 10.0


@bp.record_once
def _cache(state) -> None:
    state.app.extensions["gourmetgram"].setdefault("thumbnails", ThumbnailCache())
    state.app.extensions["gourmetgram"].setdefault("thumbnail_slots", threading.BoundedSemaphore(THUMBS_AT_ONCE))


def thumbnails() -> ThumbnailCache:
    return current_app.extensions["gourmetgram"]["thumbnails"]


@bp.get("/review/events")
def page():
    return pages.render_events(operator=True)


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
