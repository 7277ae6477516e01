"""What a feedback request may say: a JSON object with `corrected_class` and/or `flagged`. Pure."""

from __future__ import annotations

import json

from gourmetgram import names
from ingest.frontend_error import FrontendError

MAX_BODY_BYTES = 16 * 1024
FIELDS = ("corrected_class", "flagged")
_HOW = 'send a JSON object such as {"corrected_class": "Egg"} or {"flagged": true}'


class FeedbackRefused(FrontendError):
    """A feedback request we do not carry out, with the status and a message a person understands."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse(data: bytes) -> dict:
    """The record fields a feedback body sets (`corrected_class` as the class's own name, `flagged` a bool)."""
    if len(data) > MAX_BODY_BYTES:
        raise FeedbackRefused(413, f"the feedback body is over {MAX_BODY_BYTES // 1024} KB: {_HOW}")
    try:
        body = json.loads(data)
    except RecursionError:
        raise FeedbackRefused(400, f"the feedback body is nested too deeply: {_HOW}") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise FeedbackRefused(400, f"the feedback body is not JSON ({exc}): {_HOW}") from None
    if not isinstance(body, dict):
        raise FeedbackRefused(400, f"the feedback body must be a JSON object, not {_kind(body)}: {_HOW}")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise FeedbackRefused(400, f"unknown feedback field(s) {', '.join(map(repr, unknown))}: {_HOW}")
    labels: dict = {}
    if "corrected_class" in body:
        value = body["corrected_class"]
        try:
            if not isinstance(value, str):
                raise ValueError(f"corrected_class must be the name of a Food-11 class, not {_kind(value)}")
            labels["corrected_class"] = names.class_name(names.class_index(value))
        except ValueError as exc:
            raise FeedbackRefused(400, f"{exc}; the classes are {', '.join(names.CLASSES)}") from None
    if "flagged" in body:
        if not isinstance(body["flagged"], bool):
            raise FeedbackRefused(400, f"flagged must be true or false (a JSON boolean), not {_kind(body['flagged'])}")
        labels["flagged"] = body["flagged"]
    if not labels:
        raise FeedbackRefused(400, "send corrected_class (a Food-11 class name) and/or flagged (true/false)")
    return labels


def _kind(value: object) -> str:
    """How a JSON value reads in a message (short: it is the sender's text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40])}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "an object"
