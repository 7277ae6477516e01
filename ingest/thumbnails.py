"""Small JPEG copies of the photos in `production`, for the operators' event log (`/review/thumbs/<id>`).

A photo in production passed the function's checks, but its bytes are still someone's upload: they are
opened through `gourmetgram.images` (our formats only, the pixel limit before any decoding). JPEGs are
decoded at a fraction of their size (Pillow's draft mode), so a camera photo costs little to shrink.
A photo never changes under its id, so its thumbnail is kept: the newest `capacity` of them, in memory.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from PIL import Image, ImageOps

from gourmetgram import images

SIZE = 160          # pixels on the longer side
QUALITY = 80
KEPT = 512          # thumbnails kept (a few KB each: about 3 MB)


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


class ThumbnailCache:
    """The thumbnails made last, by prediction id, at most `capacity`; safe across request threads."""

    def __init__(self, capacity: int = KEPT):
        self._capacity = capacity
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pid: str) -> bytes | None:
        with self._lock:
            found = self._kept.get(pid)
            if found is not None:
                self._kept.move_to_end(pid)
            return found

    def put(self, pid: str, data: bytes) -> None:
        with self._lock:
            self._kept[pid] = data
            self._kept.move_to_end(pid)
            while len(self._kept) > self._capacity:
                self._kept.popitem(last=False)
