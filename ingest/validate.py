"""Checks on an upload before anything is written. Pure: each returns a UploadRefusal or the detected format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from gourmetgram import images


@dataclass(frozen=True)
class UploadRefusal:
    status: int
    message: str


def check_size(size: int, limit: int) -> UploadRefusal | None:
    if size == 0:
        return UploadRefusal(400, "the file is empty")
    if size > limit:
        return UploadRefusal(413, f"the file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
    return None


# Why an image is refused, as an HTTP status: unsupported content is 415, too big to decode safely 413.
_STATUS = {"empty": 400, "not_an_image": 415, "too_many_pixels": 413, "unreadable": 415}


def check_image(stream: IO[bytes], max_pixels: int) -> tuple[str, UploadRefusal | None]:
    """Identify the image by its content (the header only; the function decodes it fully)."""
    try:
        image = images.open_header(stream, max_pixels)
    except images.ImageRefused as exc:
        return "", UploadRefusal(
            _STATUS[exc.kind], f"{exc}: upload a {images.ACCEPTED} photo" if exc.kind == "not_an_image" else str(exc)
        )
    finally:
        stream.seek(0)
    return image.format, None
