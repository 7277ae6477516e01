"""The names docs/contract.md fixes, as pure functions: classes, prediction ids, keys and tag values."""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath

CLASSES = (
    "Bread",
    "Dairy product",
    "Dessert",
    "Egg",
    "Fried food",
    "Meat",
    "Noodles/Pasta",
    "Rice",
    "Seafood",
    "Soup",
    "Vegetable/Fruit",
)

# The image formats we classify (Pillow's names), with the extension and Content-Type that production
# objects get: both follow the content, never the uploaded file's name. MPO is a camera's multi-picture JPEG;
# HEIC is our name for a HEIF whose brand says HEVC (the iPhone camera's photos), which Pillow calls HEIF too.
IMAGE_FORMATS = {
    "JPEG": (".jpg", "image/jpeg"),
    "MPO": (".jpg", "image/jpeg"),
    "PNG": (".png", "image/png"),
    "GIF": (".gif", "image/gif"),
    "WEBP": (".webp", "image/webp"),
    "BMP": (".bmp", "image/bmp"),
    "TIFF": (".tiff", "image/tiff"),
    "HEIC": (".heic", "image/heic"),
    "HEIF": (".heif", "image/heif"),
    "AVIF": (".avif", "image/avif"),
}
# What to let Pillow try when opening untrusted bytes (an MPO opens through the JPEG plugin, HEIC and HEIF
# through pillow-heif's HEIF plugin). AVIF first: both claim the generic `mif1` brand, and libavif declines
# an HEVC one, so each file reaches the decoder of its codec.
PILLOW_OPENERS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF")

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

# S3 tag values allow letters, digits, white space and + - = . _ : / @, up to 256 characters (MinIO refuses
# the whole write otherwise: the pinned server checks ASCII letters, digits and spaces only).
TAG_VALUE_MAX = 256
_TAG_SAFE = re.compile(r"[A-Za-z0-9 +\-=._:/@]")
# What free text's other characters become in a tag value, so that it still reads as the text: brackets and
# quotes go (their content stays), a comma is a pause, a semicolon a colon, `&` a plus.
_TAG_SPELLED = {",": " ", ";": ":", "&": "+", "<": "", ">": "", '"': "", "'": "", "`": ""}
_TAG_DROPPED = {"Mn", "Ps", "Pe", "Pi", "Pf"}  # accents left by NFKD; opening, closing and quoting marks
_UNTAGGABLE = "\0"  # stands for a character with no tag spelling until runs of them become one "_"
CUT = "..."
# Printable ASCII but `%` (and the space, see metadata_value) stays as it is in a user-metadata value.
_META_SAFE = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"%"}


def is_folder_marker(key: str, size: int) -> bool:
    """A zero-byte "folder/" object some tools create: never a photo. A key ending in '/' that holds bytes is
    an object like any other (S3 lets any key hold any bytes): it is classified or quarantined."""
    return key.endswith("/") and size == 0


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
    """The tags' time (docs/contract.md#tags): UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`."""
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
    """Free text (a reason, a file name) as a legal S3 tag value that still reads as the text, the same for
    the same text: accents dropped (`crème` -> `creme`), brackets and quotes dropped, any white space one
    space, dashes `-`, commas spaces, and each run of characters with no spelling one `_`. At most
    TAG_VALUE_MAX characters: a longer value is cut and ends in CUT."""
    spelled = "".join(_tag_char(c) for c in unicodedata.normalize("NFKD", text))
    value = re.sub(f"{_UNTAGGABLE}+", "_", re.sub(" +", " ", spelled)).strip()
    if len(value) > TAG_VALUE_MAX:
        value = value[: TAG_VALUE_MAX - len(CUT)].rstrip() + CUT
    return value


def _tag_char(c: str) -> str:
    if _TAG_SAFE.fullmatch(c):
        return c
    if c in _TAG_SPELLED:
        return _TAG_SPELLED[c]
    if c.isspace():
        return " "
    category = unicodedata.category(c)
    if category in _TAG_DROPPED:
        return ""
    return "-" if category == "Pd" else _UNTAGGABLE


def metadata_value(text: str, limit: int) -> str:
    """Free text as a user-metadata (`x-amz-meta-*`) value: ASCII, as HTTP headers are, and shown as the exact
    text by the MinIO console, whose metadata panel URL-decodes each value. So: UTF-8 percent-encoded, but
    printable ASCII other than `%` left readable. A space stays only between two other characters: HTTP
    strips leading and trailing ones and SigV4 folds repeated ones, which would change the text. At most
    `limit` characters: a longer value is cut between characters and ends in CUT."""
    pieces = []
    for i, c in enumerate(text):
        lone_space = c == " " and 0 < i < len(text) - 1 and text[i - 1] != " " and text[i + 1] != " "
        pieces.append(c if c in _META_SAFE or lone_space else _percent(c))
    value = "".join(pieces)
    if len(value) <= limit:
        return value
    kept, used = [], len(CUT)
    for piece in pieces:
        if used + len(piece) > limit:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + CUT


def _percent(c: str) -> str:
    return "".join(f"%{byte:02X}" for byte in c.encode("utf-8", "surrogatepass"))


def production_tags(
    index: int, probability: float, model_version: str, source: str, moment: datetime | None = None
) -> dict[str, str]:
    return {
        "predicted_class": class_name(index),
        "confidence": confidence_tag(probability),
        "timestamp": timestamp_tag(moment),
        "model_version": tag_value(model_version),
        "source": "web" if source == "web" else "bucket",
    }
