"""Is this object version still in `incoming`? One HEAD, for the nudge (a worker's GET checks for itself)."""

from __future__ import annotations

from classifier_fn.function_error import FunctionError
from gourmetgram.store import NotFound, ObjectInfo, Store


class Gone(FunctionError):
    """The object is no longer where the event said: done by someone else, or deleted by its owner."""


class Stale(FunctionError):
    """The key holds a newer version than the event's: that upload has an event of its own."""


def current_version(store: Store, bucket: str, key: str, etag: str | None) -> ObjectInfo:
    """The object as it is now, if it is version `etag` (any version when `etag` is empty)."""
    try:
        info = store.head(bucket, key)
    except NotFound:
        raise Gone(f"{bucket}/{key} is gone") from None
    if etag and info.etag != etag:
        raise Stale(f"{bucket}/{key} is now version {info.etag}, not {etag}")
    return info
