"""`GET /predictions/<id>` (long-poll with ?wait=S) and `POST /predictions/<id>/feedback`."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, jsonify, request

from gourmetgram import names
from gourmetgram.labels import change_labels, tag_values
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import CorruptDocument, NotFound, StoreError
from gourmetgram.waiter import parse_wait
from ingest import context, feedback_body, tokens
from ingest.feedback_body import FeedbackRefused

bp = Blueprint("predictions", __name__)


def _not_found(pid: str):
    return jsonify({"error": f"no prediction with id {pid!r}"}), 404


@bp.get("/predictions/<pid>")
def get_prediction(pid: str):
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    s = context.settings()
    raw_wait = request.args.get("wait", "0")
    wait = parse_wait(raw_wait, s.long_poll_max_s)
    if wait is None:
        return jsonify(
            {"error": f"wait must be a number of seconds from 0 to {s.long_poll_max_s:g}, not {raw_wait[:40]!r}"}
        ), 400
    try:
        doc = _current(pid)
        if doc is None:
            return _not_found(pid)
        if wait and not Status(doc["status"]).final:
            doc = _long_poll(pid, wait) or doc
    except CorruptDocument:
        return jsonify(
            {
                "error": f"the record of prediction {pid} is unreadable; the function rewrites it when "
                "it works the photo again"
            }
        ), 502
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503
    return jsonify(for_uploader(doc))


# The challenger's answer is for the operators' comparison (their event log shows records whole): the uploader,
# anyone with the id, is told the champion's answer only.
OPERATORS_ONLY = ("shadow",)


def for_uploader(doc: dict) -> dict:
    return {k: v for k, v in tokens.public(doc).items() if k not in OPERATORS_ONLY}


def _current(pid: str) -> dict | None:
    """The record; a queued status while the photo waits in `incoming` without one; None for no such photo.

    The function writes the final record before it deletes the photo from `incoming`, so reading the
    record again after an empty listing never calls a photo that was just finished unknown. A photo this
    process has just stored needs no listing: until the function's claim it is in `incoming`, unless deleted
    from there by hand (it then reads as queued for up to a minute: ingest.recent_uploads)."""
    waiter = context.waiter()
    record = waiter.read(pid)
    if record is None:
        if pid in context.recent_uploads():
            return _queued(pid)
        if next(context.store().list(context.settings().bucket_incoming, prefix=pid), None) is not None:
            return _queued(pid)
        record = waiter.read(pid)
    return record.to_json() if record else None


def _queued(pid: str) -> dict:
    return {"id": pid, "status": Status.PENDING.value, "stage": "queued"}


def _long_poll(pid: str, wait: float) -> dict | None:
    """The record once final (or when `wait` runs out, or the client hangs up), if a slot is free to wait.

    Past long_poll_max_concurrent waiting polls: None at once, so waiting clients never hold every thread."""
    slots = context.long_poll_slots()
    if not slots.acquire(blocking=False):
        return None
    try:
        # waitress (with channel_request_lookahead) says when the client has gone; other servers never do.
        gone = request.environ.get("waitress.client_disconnected", lambda: False)
        # `_current` has just read the record: the first read waits for the first pause (or the photo's arrival).
        record = context.waiter().wait(pid, wait, should_stop=gone, read_first=False)
        return record.to_json() if record else None
    finally:
        slots.release()


@bp.post("/predictions/<pid>/feedback")
def feedback(pid: str):
    """Correct or flag a done prediction: its uploader alone, with the token `POST /predict` answered."""
    if not names.is_prediction_id(pid):
        return _not_found(pid)
    token = tokens.bearer(request.headers.get("Authorization"))
    if token is None:
        return jsonify(
            {
                "error": "feedback needs the prediction's feedback token: send 'Authorization: Bearer "
                "<feedback_token>' with the token POST /predict answered"
            }
        ), 403
    try:
        # Read no more than a feedback body can be: the app's limit is the photo's.
        labels = feedback_body.parse(request.stream.read(feedback_body.MAX_BODY_BYTES + 1))
        record = change_labels(
            context.store(), context.settings(), pid, lambda doc: _with_feedback(pid, doc, token, labels)
        )
    except FeedbackRefused as exc:
        return jsonify({"error": exc.message}), exc.status
    except NotFound as exc:
        return jsonify({"error": str(exc)}), 404
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable, please send it again: {exc}"}), 503
    # As the record holds them now: a "correction" to the predicted class is saved as none (null).
    saved = {name: tag_values({name: getattr(record, name)}).get(name) for name in labels}
    return jsonify({"id": pid, "saved": saved, "production_key": record.production_key})


def _with_feedback(pid: str, record: Outcome, token: str, labels: dict) -> Outcome:
    """The record with the feedback applied, if the token is its uploader's and the prediction done."""
    if not tokens.matches(token, record.feedback_token_sha256):
        raise FeedbackRefused(
            403, f"this feedback token is not the one of prediction {pid}: only its uploader may give feedback"
        )
    if record.status is not Status.DONE:
        raise FeedbackRefused(409, f"prediction {pid} is {record.status.value}: only a done one takes feedback")
    if labels.get("corrected_class") == record.predicted_class:
        # The model was right: that is no correction (training data must not hold one equal to the
        # prediction), and it takes back an earlier one, so an uploader can undo a wrong pick.
        labels = {**labels, "corrected_class": None}
    # When: feedback later than a review brings the photo back to the review queue (review_queue.disputed).
    return dataclasses.replace(record, **labels, timestamps={**record.timestamps, "feedback": names.now_iso()})
