"""A prediction's photo as the operator pages read it: its record names the key in `production`, and the
frontend fetches it with its own MinIO identity (the browser never sees MinIO or its credentials)."""

from __future__ import annotations

from gourmetgram import names, outcome
from gourmetgram.store import CorruptDocument, NotFound
from ingest import context
from ingest.frontend_error import FrontendError


class NoPhoto(FrontendError):
    """No photo to show for this id (404): the message says why to a person."""


def read(pid: str) -> tuple[str, bytes]:
    """The production key and bytes of prediction `pid`'s photo; NoPhoto, or StoreError when MinIO fails."""
    s = context.settings()
    if not names.is_prediction_id(pid):
        raise NoPhoto(f"no photo with id {pid!r}")
    try:
        found = outcome.read(context.store(), s.bucket_events, pid)
    except CorruptDocument as exc:
        raise NoPhoto(str(exc)) from None
    key = found.outcome.production_key if found else None
    if not key:
        raise NoPhoto(f"prediction {pid} has no photo in {s.bucket_production}")
    try:
        return key, context.store().read(s.bucket_production, key, limit=s.max_object_bytes)
    except NotFound:
        raise NoPhoto(f"the photo of prediction {pid} is gone from {s.bucket_production}") from None
