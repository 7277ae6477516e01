"""MinIO webhook bodies -> `ObjectEvent`s. The only place object keys are URL-decoded. Pure."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from classifier_fn.body import NotAnObject, json_object
from classifier_fn.function_error import FunctionError
from gourmetgram import names

# Exactly what the subscription asks for; tagging, retention and access events are never work.
ACCEPTED = frozenset(names.SUBSCRIBED_EVENTS)
MAX_KEY_BYTES = 1024  # S3's (and MinIO's) limit on an object name


class MalformedEvent(FunctionError, ValueError):
    """The body is not a MinIO S3 event."""


@dataclass(frozen=True)
class ObjectEvent:
    name: str
    bucket: str
    key: str  # decoded: the real object name
    etag: str  # without quotes; "" when MinIO omitted it
    size: int | None  # None when MinIO omitted it (0-byte objects)
    time: str  # eventTime as sent
    invalid: str = ""  # why no object can have this key ("" for a possible key): never look it up
    version_id: str | None = None  # with versioning on `incoming`: exactly the version this event is about

    @property
    def accepted(self) -> bool:
        return self.name in ACCEPTED

    @property
    def folder_marker(self) -> bool:
        """A zero-byte "folder/" object: MinIO leaves the size of a zero-byte object out of its event."""
        return names.is_folder_marker(self.key, self.size or 0)


def parse_body(body: bytes) -> list[ObjectEvent]:
    """Every record of a webhook body. MinIO sends one per POST; more are tolerated."""
    try:
        doc = json_object(body)
    except NotAnObject as exc:
        raise MalformedEvent(str(exc)) from None
    if not isinstance(doc.get("Records"), list):
        raise MalformedEvent("the body has no Records list")
    return [parse_record(r) for r in doc["Records"]]


def parse_record(record: Any) -> ObjectEvent:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        raw_key = obj["key"]
        bucket = s3["bucket"]["name"]
        name = record["eventName"]
    except (KeyError, TypeError):
        raise MalformedEvent("record lacks eventName, s3.bucket.name or s3.object.key") from None
    if not all(isinstance(v, str) for v in (raw_key, bucket, name)) or not raw_key:
        raise MalformedEvent("record has a non-string or empty key, bucket or event name")
    size = obj.get("size")
    # MinIO encodes keys form-style (space -> '+', '+' -> '%2B'), like AWS; a key is UTF-8.
    try:
        key, invalid = unquote_plus(raw_key, errors="strict"), ""
    except UnicodeDecodeError:
        key, invalid = unquote_plus(raw_key), "the key is not UTF-8"
    return ObjectEvent(
        name=name,
        bucket=bucket,
        key=key,
        etag=str(obj.get("eTag", "")).strip('"'),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        time=str(record.get("eventTime", "")),
        invalid=invalid or key_problem(key),
        version_id=_version_id(obj.get("versionId")),
    )


def _version_id(value: Any) -> str | None:
    """MinIO's version ids are UUIDs (absent without versioning); anything else is not one, and the object
    is then taken by key and ETag as without versioning."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else None
    except ValueError:
        return None


def key_problem(key: str) -> str:
    """Why no object in MinIO can have this (decoded) key, or "" if one can.

    MinIO refuses `.` and `..` segments, `//`, a leading `/`, NUL and names over 1024 bytes. Control
    characters are refused here too although MinIO stores them (checked on the pinned build): a key with
    one is left to the reconciler, which lists `incoming` and so still finds a real object of that name.
    """
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"the key is longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/") or "//" in key:
        return "the key starts with '/' or contains '//'"
    if any(segment.strip() in (".", "..") for segment in key.split("/")):
        return "the key has a '.' or '..' segment"
    if any(unicodedata.category(c) == "Cc" for c in key):
        return "the key contains a NUL or another control character"
    return ""
