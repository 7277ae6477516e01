"""`GET /predictions/<id>` (long-poll with ?wait=S) and `POST /predictions/<id>/feedback`."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gourmetgram import names
from gourmetgram.labels import change_labels, label_tags
from gourmetgram.store import NotFound, StoreError
from ingest import context, feedback_body, tokens
from ingest.feedback_body import Refused

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
    return jsonify(tokens.public(doc))


@bp.post("/predictions/<pid>/feedback")
def feedback(pid: str):
    """Correct or flag a done prediction: its uploader alone, with the token `POST /predict` answered."""
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    token = tokens.bearer(request.headers.get("Authorization"))
    if token is None:
        return jsonify({"error": "feedback needs the prediction's feedback token: send 'Authorization: Bearer "
                                 "<feedback_token>' with the token POST /predict answered"}), 403
    try:
        # Read no more than a feedback body can be: the app's limit is the photo's.
        labels = feedback_body.parse(request.stream.read(feedback_body.MAX_BODY_BYTES + 1))
        record = change_labels(context.store(), context.settings(), pid,
                               lambda doc: _with_feedback(pid, doc, token, labels))
    except Refused as exc:
        return jsonify({"error": exc.message}), exc.status
    except NotFound as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable, please send it again: {exc}"}), 503
    return jsonify({"id": pid, "saved": label_tags(labels), "production_key": record["production_key"]})


def _with_feedback(pid: str, doc: dict, token: str, labels: dict) -> dict:
    """The record with the feedback applied, if the token is its uploader's and the prediction done."""
    if not tokens.matches(token, doc.get(names.FEEDBACK_TOKEN_FIELD)):
        raise Refused(403, f"this feedback token is not the one of prediction {pid}: only its uploader may "
                           "give feedback")
    if doc.get("status") != "done":
        raise Refused(409, f"prediction {pid} is {doc.get('status')}: only a done one takes feedback")
    return {**doc, **labels}
