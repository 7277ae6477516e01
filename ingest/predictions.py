"""`GET /predictions/<id>` (long-poll with ?wait=S) and `POST /predictions/<id>/feedback`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gourmetgram import names
from gourmetgram.store import Changed, NotFound, StoreError
from gourmetgram.waiter import FINAL
from ingest import context

bp = Blueprint("predictions", __name__)


def _not_found(pid: str):
    return jsonify({"error": f"no prediction with id {pid!r}"}), 404


@bp.get("/predictions/<pid>")
def get_prediction(pid: str):
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    s = context.settings()
    raw_wait = request.args.get("wait", "0")
    wait = _wait_seconds(raw_wait, s.long_poll_max_s)
    if wait is None:
        return jsonify({"error": f"wait must be a number of seconds from 0 to {s.long_poll_max_s:g}, "
                                 f"not {raw_wait[:40]!r}"}), 400
    try:
        doc = _current(pid)
        if doc is None:
            return _not_found(pid)
        if wait and doc.get("status") not in FINAL:
            doc = _long_poll(pid, wait) or doc
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    return jsonify(doc)


def _wait_seconds(raw: str, most: float) -> float | None:
    """`?wait=` in seconds, or None unless it is a finite number within 0..most (nan compares false)."""
    try:
        wait = float(raw)
    except ValueError:
        return None
    return wait if 0 <= wait <= most else None


def _current(pid: str) -> dict | None:
    """The record; a queued status while the photo waits in `incoming` without one; None for no such photo.

    The function writes the final record before it deletes the photo from `incoming`, so reading the
    record again after an empty listing never calls a photo that was just finished unknown."""
    waiter = context.waiter()
    doc = waiter.read(pid)
    if doc is None:
        if next(context.store().list(context.settings().bucket_incoming, prefix=pid), None) is not None:
            return {"id": pid, "status": "pending", "stage": "queued"}
        doc = waiter.read(pid)
    return doc


def _long_poll(pid: str, wait: float) -> dict | None:
    """The record once final (or when `wait` runs out, or the client hangs up), if a slot is free to wait.

    Past LONG_POLL_MAX_CONCURRENT waiting polls: None at once, so waiting clients never hold every thread."""
    slots = context.long_poll_slots()
    if not slots.acquire(blocking=False):
        return None
    try:
        # waitress (with channel_request_lookahead) says when the client has gone; other servers never do.
        gone = request.environ.get("waitress.client_disconnected", lambda: False)
        return context.waiter().wait(pid, wait, should_stop=gone)
    finally:
        slots.release()


@bp.post("/predictions/<pid>/feedback")
def feedback(pid: str):
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    s = context.settings()
    body = request.get_json(silent=True) or {}
    tags: dict[str, str] = {}
    if body.get("corrected_class") is not None:
        try:
            tags["corrected_class"] = names.class_name(names.class_index(str(body["corrected_class"])))
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
    if body.get("flagged") is not None:
        tags["flagged"] = "true" if body["flagged"] in (True, "true", 1) else "false"
    if not tags:
        return jsonify({"error": "send corrected_class (a Food-11 class name) and/or flagged (true/false)"}), 400
    store = context.store()
    record = names.record_key(pid)
    try:
        doc, _ = store.get_json(s.bucket_events, record)
        if doc.get("status") != "done":
            return jsonify({"error": f"prediction {pid} is {doc.get('status')}: only a done one takes feedback"}), 409
        # The production object first: it is the training data; the record mirrors it.
        store.set_tags(s.bucket_production, doc["production_key"], tags)
        for _ in range(5):  # the record may be rewritten meanwhile: re-read and retry
            doc, etag = store.get_json(s.bucket_events, record)
            doc.update({k: (v == "true" if k == "flagged" else v) for k, v in tags.items()})
            try:
                store.put_json(s.bucket_events, record, doc, if_match=etag)
                break
            except Changed:
                continue
    except NotFound:
        return _not_found(pid)
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    return jsonify({"id": pid, "saved": tags, "production_key": doc["production_key"]})
