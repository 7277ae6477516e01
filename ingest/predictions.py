"""`GET /predictions/<id>` (long-poll with ?wait=S) and `POST /predictions/<id>/feedback`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gourmetgram import names
from gourmetgram.store import Changed, NotFound, StoreError
from ingest import context

bp = Blueprint("predictions", __name__)


def _not_found(pid: str):
    return jsonify({"error": f"no prediction with id {pid!r}"}), 404


@bp.get("/predictions/<pid>")
def get_prediction(pid: str):
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    s = context.settings()
    try:
        wait = min(max(float(request.args.get("wait", 0)), 0.0), s.long_poll_max_s)
    except ValueError:
        return jsonify({"error": "wait must be a number of seconds"}), 400
    try:
        doc = context.waiter().wait(pid, wait)
        if doc is None:
            # No record yet: still queued if the photo is in incoming.
            if next(context.store().list(s.bucket_incoming, prefix=pid), None) is None:
                return _not_found(pid)
            doc = {"id": pid, "status": "pending", "stage": "queued"}
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    return jsonify(doc)


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
