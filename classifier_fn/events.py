"""MinIO webhook bodies -> `ObjectEvent`s. The only place object keys are URL-decoded. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

# Exactly what the subscription asks for; tagging, retention and access events are never work.
ACCEPTED = frozenset({
    "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
})


class MalformedEvent(ValueError):
    """The body is not a MinIO S3 event."""


@dataclass(frozen=True)
class ObjectEvent:
    name: str
    bucket: str
    key: str          # decoded: the real object name
    etag: str         # without quotes; "" when MinIO omitted it
    size: int | None  # None when MinIO omitted it (0-byte objects)
    time: str         # eventTime as sent

    @property
    def accepted(self) -> bool:
        return self.name in ACCEPTED


def parse_body(body: bytes) -> list[ObjectEvent]:
    """Every record of a webhook body. MinIO sends one per POST; more are tolerated."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
        raise MalformedEvent("body has no Records list")
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
    return ObjectEvent(
        name=name,
        bucket=bucket,
        # MinIO encodes keys form-style (space -> '+', '+' -> '%2B'), like AWS.
        key=unquote_plus(raw_key),
        etag=str(obj.get("eTag", "")).strip('"'),
        size=size if isinstance(size, int) else None,
        time=str(record.get("eventTime", "")),
    )
