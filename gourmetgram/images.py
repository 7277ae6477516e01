"""Untrusted bytes as an image: identified by their content among the formats we serve, and refused before
decoding when they could not be decoded safely. Shared by the page's check and the function's preprocessing."""

from __future__ import annotations

import io
import warnings
from typing import IO

from PIL import Image, UnidentifiedImageError

from gourmetgram.names import IMAGE_FORMATS, PILLOW_OPENERS

ACCEPTED = "JPEG, PNG, GIF, WebP, BMP or TIFF"


class ImageRefused(ValueError):
    """Bytes we will not decode; `kind` says why ("empty", "not_an_image", "too_many_pixels", "unreadable"),
    the message says it to a person."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def open_header(source: bytes | IO[bytes], max_pixels: int) -> Image.Image:
    """The image with only its header read (format, size, mode known; no pixel decoded yet).

    Only the formats we serve are tried: no other Pillow plugin (EPS would run Ghostscript) sees the bytes.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    start = stream.tell()
    if stream.seek(0, io.SEEK_END) == start:
        raise ImageRefused("empty", "the file is empty (0 bytes)")
    stream.seek(start)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice it; ours (below) is lower and refuses anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=PILLOW_OPENERS)
    except UnidentifiedImageError:
        raise ImageRefused("not_an_image", f"not an image: the content is in no image format we accept "
                                           f"({ACCEPTED})") from None
    except Image.DecompressionBombError:
        raise ImageRefused("too_many_pixels", f"too many pixels (more than {max_pixels:,}): refused as a "
                                              f"decompression bomb") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused("unreadable", f"corrupt or truncated image: {exc}") from None
    if image.format not in IMAGE_FORMATS:  # a plugin may name a variant (e.g. MPO) we have not listed
        raise ImageRefused("not_an_image", f"{image.format} images are not accepted: only {ACCEPTED}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRefused("too_many_pixels", f"too many pixels: {width}x{height} is more than {max_pixels:,}")
    return image
