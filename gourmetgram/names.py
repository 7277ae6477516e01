"""The names DESIGN.md fixes, as pure functions: classes, prediction ids, keys and tag values."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import PurePosixPath

CLASSES = (
    "Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
    "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit",
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
_FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp",
                      "BMP": ".bmp", "TIFF": ".tiff", "MPO": ".jpg"}

# Fixed namespace so every process derives the same id for the same object version.
_ID_NAMESPACE = uuid.NAMESPACE_URL

# S3 tag values allow letters, digits, white space and + - = . _ : / @, up to 256 characters.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")


def class_name(index: int) -> str:
    return CLASSES[index]


def class_index(name: str) -> int:
    """Index of a class given by name (case-insensitive); ValueError names the bad value."""
    for i, candidate in enumerate(CLASSES):
        if candidate.lower() == name.strip().lower():
            return i
    raise ValueError(f"{name!r} is not a Food-11 class")


def prediction_id(bucket: str, key: str, etag: str, metadata_id: str | None = None) -> str:
    """The upload's own id when it carries a valid one, else a UUIDv5 of `<bucket>/<key>@<etag>`."""
    if metadata_id:
        try:
            return str(uuid.UUID(metadata_id))
        except ValueError:
            pass  # hostile or garbled metadata: fall back to the derived id
    return str(uuid.uuid5(_ID_NAMESPACE, f"{bucket}/{key}@{etag}"))


def is_prediction_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def extension(key: str, detected_format: str | None) -> str:
    """Lower-cased image extension of the key, else the one of the detected format, else ''."""
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return suffix
    return _FORMAT_EXTENSIONS.get((detected_format or "").upper(), "")


def production_key(index: int, pid: str, ext: str) -> str:
    return f"class_{index:02d}/{pid}{ext}"


def record_key(pid: str) -> str:
    return f"{pid}.json"


def confidence_tag(probability: float) -> str:
    return f"{probability:.3f}"


def timestamp_tag(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        "source": source if source in ("web", "bucket") else "bucket",
    }
