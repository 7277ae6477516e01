"""Small JPEG copies of the photos in `production`, for the operators' event log (`/review/thumbs/<id>`).

A photo in production passed the function's checks, but its bytes are still someone's upload: they are
opened through `gourmetgram.images` (our formats only, the pixel limit before any decoding). JPEGs are
decoded at a fraction of their size (Pillow's draft mode), so a camera photo costs little to shrink.
A photo never changes under its id, so its thumbnail is kept: the newest `capacity` of them, in memory.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from gourmetgram import images
from gourmetgram.lru import Lru

SIZE = 160  # pixels on the longer side
QUALITY = 80
KEPT = 512  # thumbnails kept (a few KB each: about 3 MB)


def thumbnail(data: bytes, max_pixels: int, size: int = SIZE) -> bytes:
    """`data` as a JPEG of at most `size` pixels on its longer side; `images.ImageRefused` if it is no image
    we would decode."""
    image = images.open_header(data, max_pixels)
    try:
        image.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 of the size; others ignore it
        ImageOps.exif_transpose(image, in_place=True)  # as the photo is seen, not as the camera stored it
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=QUALITY, optimize=True)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise images.ImageRefused("unreadable", f"corrupt or truncated image: {exc}") from None
    return out.getvalue()


class ThumbnailCache(Lru[str, bytes]):
    """The thumbnails made last, by prediction id, at most `capacity`; safe across request threads."""

    def __init__(self, capacity: int = KEPT):
        super().__init__(capacity)
