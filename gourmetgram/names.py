"""The names DESIGN.md fixes, as pure functions: classes, prediction ids, keys and tag values."""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath

CLASSES = (
    "Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
    "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit",
)

# The image formats we classify (Pillow's names), with the extension and Content-Type that production
# objects get: both follow the content, never the uploaded file's name. MPO is a camera's multi-picture JPEG.
IMAGE_FORMATS = {
    "JPEG": (".jpg", "image/jpeg"), "MPO": (".jpg", "image/jpeg"), "PNG": (".png", "image/png"),
    "GIF": (".gif", "image/gif"), "WEBP": (".webp", "image/webp"), "BMP": (".bmp", "image/bmp"),
    "TIFF": (".tiff", "image/tiff"),
}
# What to let Pillow try when opening untrusted bytes (an MPO opens through the JPEG plugin).
PILLOW_OPENERS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

# A web upload's feedback token is kept only as its SHA-256 (hex): in the incoming object's user metadata,
# then in its outcome record. The token itself goes to the uploader alone.
FEEDBACK_TOKEN_METADATA = "feedback-token-sha256"
FEEDBACK_TOKEN_FIELD = "feedback_token_sha256"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# The notification targets MinIO loads at start (MINIO_NOTIFY_WEBHOOK_*_GOURMETGRAM, MINIO_NOTIFY_NATS_*_GOURMETGRAM)
# and their ARNs: one per event transport (EVENT_TRANSPORT); the subscription on `incoming` names the chosen one.
TARGET_ID = "GOURMETGRAM"
WEBHOOK_ARN = f"arn:minio:sqs::{TARGET_ID}:webhook"
NATS_ARN = f"arn:minio:sqs::{TARGET_ID}:nats"
WEBHOOK, JETSTREAM = "webhook", "jetstream"
TRANSPORT_ARNS = {WEBHOOK: WEBHOOK_ARN, JETSTREAM: NATS_ARN}

# With EVENT_TRANSPORT=jetstream MinIO publishes each event to this subject; the stream keeps them until a
# function replica (a pull consumer of the durable consumer below, shared by every replica) acknowledges them.
STREAM_NAME = "GOURMETGRAM"
STREAM_SUBJECT = "gourmetgram.incoming"
CONSUMER_NAME = "classifier"

# Exactly the creations that are new photos: what the subscription asks for and the function accepts.
# Never ObjectCreated:* (it includes PutTagging, which the function's own tagging would re-trigger) and
# never mc's `put` shorthand, which means the same.
SUBSCRIBED_EVENTS = (
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
)

# S3 tag values allow letters, digits, white space and + - = . _ : / @, up to 256 characters.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")


def is_folder_marker(key: str) -> bool:
    """A zero-byte "folder/" object some tools create: never a photo."""
    return key.endswith("/")


def class_name(index: int) -> str:
    return CLASSES[index]


def class_index(name: str) -> int:
    """Index of a class given by name (case-insensitive); ValueError names the bad value."""
    for i, candidate in enumerate(CLASSES):
        if candidate.lower() == name.strip().lower():
            return i
    raise ValueError(f"{name!r} is not a Food-11 class")


def upload_id(moment: float | None = None) -> str:
    """A web upload's prediction id: a UUIDv7 (RFC 9562), the upload's time in ms then random bits."""
    ms = int((time.time() if moment is None else moment) * 1000)
    return _uuid_with_time(ms, 7, int.from_bytes(os.urandom(10), "big"))


def drop_id(bucket: str, key: str, etag: str, last_modified: datetime, version_id: str | None = None) -> str:
    """A dropped object's prediction id, the same for every event of one object version and ordered by time.

    UUIDv8 layout: the object's Last-Modified in whole seconds (as HEAD reports it, so every path to the
    object computes the same value) as 48 bits of milliseconds, then a SHA-256 of `<bucket>/<key>@<etag>`.
    With `version_id`, of `<bucket>/<key>@<etag>#<version_id>`: the id of a second version of the same bytes
    under the same key in the same second (a requeue, `mc cp` twice), whose plain id is the first one's.
    """
    ms = int(last_modified.timestamp()) * 1000
    name = f"{bucket}/{key}@{etag}" + (f"#{version_id}" if version_id else "")
    digest = hashlib.sha256(name.encode()).digest()
    return _uuid_with_time(ms, 8, int.from_bytes(digest[:10], "big"))


def drop_id_candidates(bucket: str, key: str, etag: str, put_started: float, put_ended: float) -> list[str]:
    """The ids an object PUT between the two moments can have (its Last-Modified is not known to the client)."""
    first, last = math.floor(put_started) - 1, math.floor(put_ended) + 1
    return [drop_id(bucket, key, etag, datetime.fromtimestamp(t, UTC)) for t in range(first, last + 1)]


def _uuid_with_time(ms: int, version: int, bits: int) -> str:
    # 48 bits of time, 4 of version, 12 + 62 of `bits`, the RFC 4122 variant in between.
    value = (ms & (1 << 48) - 1) << 80 | version << 76 | (bits >> 62 & 0xFFF) << 64 | 0b10 << 62 | bits & (1 << 62) - 1
    return str(uuid.UUID(int=value))


def honoured_upload_id(key: str, metadata_id: str | None) -> str | None:
    """The upload's own id from its metadata, if it belongs to this key: the frontend stores uploads as
    `<id><ext>` at the top of `incoming`. Any other key carrying an id (a production object copied back,
    hostile metadata) is a new photo with an id of its own."""
    if not metadata_id or not is_prediction_id(metadata_id):
        return None
    return metadata_id if "/" not in key and PurePosixPath(key).stem == metadata_id else None


def token_hash(value: str | None) -> str | None:
    """`value` if it is a SHA-256 hex digest (as the frontend writes it), else None."""
    return value if value and _SHA256_HEX.fullmatch(value) else None


def is_prediction_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def extension(detected_format: str | None) -> str:
    """The extension of a detected image format (Pillow's name), '' for anything else."""
    return IMAGE_FORMATS.get((detected_format or "").upper(), ("", ""))[0]


def content_type(detected_format: str | None) -> str:
    return IMAGE_FORMATS.get((detected_format or "").upper(), ("", "application/octet-stream"))[1]


def production_key(index: int, pid: str, ext: str) -> str:
    return f"class_{index:02d}/{pid}{ext}"


def quarantine_key(pid: str, incoming_key: str) -> str:
    """`<id>/<the file's name>`: unique per photo, and still telling the operator which file it was."""
    return f"{pid}/{PurePosixPath(incoming_key).name[:200] or 'object'}"


def record_key(pid: str) -> str:
    return f"{pid}.json"


def confidence_tag(probability: float) -> str:
    return f"{probability:.3f}"


def timestamp_tag(moment: datetime | None = None) -> str:
    """DESIGN's tag time: UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso(moment: float | None = None) -> str:
    """A record's time: UTC to the millisecond, `YYYY-MM-DDTHH:MM:SS.mmmZ` (as MinIO's eventTime)."""
    t = time.time() if moment is None else moment
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """Seconds since the epoch of an ISO time; a time without a zone is refused, never taken as local."""
    moment = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z as UTC
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return moment.timestamp()


def tag_value(text: str) -> str:
    """Make free text (a reason, a key) a legal S3 tag value."""
    return _TAG_UNSAFE.sub("_", text)[:256]


def production_tags(index: int, probability: float, model_version: str, source: str,
                    moment: datetime | None = None) -> dict[str, str]:
    return {
        "predicted_class": class_name(index),
        "confidence": confidence_tag(probability),
        "timestamp": timestamp_tag(moment),
        "model_version": tag_value(model_version),
        "source": "web" if source == "web" else "bucket",
    }
