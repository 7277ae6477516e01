"""Checks on an upload before anything is written. Pure: each returns a Refusal or the detected format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError

from gourmetgram.names import IMAGE_FORMATS, PILLOW_OPENERS


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


def check_size(size: int, limit: int) -> Refusal | None:
    if size == 0:
        return Refusal(400, "the file is empty")
    if size > limit:
        return Refusal(413, f"the file is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
    return None


def check_image(stream: IO[bytes], max_pixels: int) -> tuple[str, Refusal | None]:
    """Identify the image by its content (the header only; the function decodes it fully)."""
    try:
        # Over Pillow's own limit it warns (an error where warnings are errors); ours below is lower anyway.
        image = Image.open(stream, formats=PILLOW_OPENERS)
        fmt, (width, height) = image.format or "", image.size
    except UnidentifiedImageError:
        return "", Refusal(415, "this is not an image: upload a JPEG, PNG, GIF, WebP, BMP or TIFF photo")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "", Refusal(413, f"the image has too many pixels (over {max_pixels:,})")
    except (OSError, ValueError, SyntaxError) as exc:
        return "", Refusal(415, f"the image cannot be read: {exc}")
    finally:
        stream.seek(0)
    if fmt not in IMAGE_FORMATS:
        return fmt, Refusal(415, f"{fmt or 'this'} images are not accepted: upload a JPEG, PNG, GIF, WebP, BMP or TIFF")
    if width * height > max_pixels:
        return fmt, Refusal(413, f"the image has too many pixels: {width}x{height} is more than {max_pixels:,}")
    return fmt, None
