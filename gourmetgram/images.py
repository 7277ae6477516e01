"""Untrusted bytes as an image: identified by their content among the formats we serve, and refused before
decoding when they could not be decoded safely. Shared by the page's check and the function's preprocessing."""

from __future__ import annotations

import functools
import io
import warnings
from typing import IO

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from gourmetgram.base_error import GourmetGramError
from gourmetgram.names import IMAGE_FORMATS, PILLOW_OPENERS

ACCEPTED = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF"


class ImageRefused(GourmetGramError, ValueError):
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
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice it; ours (below) is lower and refuses anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=PILLOW_OPENERS)
    except UnidentifiedImageError:
        raise ImageRefused(
            "not_an_image", f"not an image: the content is in no image format we accept ({ACCEPTED})"
        ) from None
    except Image.DecompressionBombError:
        raise ImageRefused(
            "too_many_pixels", f"too many pixels (more than {max_pixels:,}): refused as a decompression bomb"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused("unreadable", f"corrupt or truncated image: {exc}") from None
    if image.format == "HEIF":
        _heif_orientation_in_exif(image)
        if (image.get_format_mimetype() or "").startswith("image/heic"):  # image/heic, image/heic-sequence
            image.format = "HEIC"  # HEVC-coded (the iPhone camera's): stored as what it is (.heic, image/heic)
    if image.format not in IMAGE_FORMATS:  # a plugin may name a variant (e.g. MPO) we have not listed
        raise ImageRefused("not_an_image", f"{image.format} images are not accepted: only {ACCEPTED}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRefused("too_many_pixels", f"too many pixels: {width}x{height} is more than {max_pixels:,}")
    return image


def _heif_orientation_in_exif(image: Image.Image) -> None:
    """Make a HEIF's EXIF orientation say what is left to do after libheif's decode, so that the callers'
    `ImageOps.exif_transpose` applies the photo's orientation exactly once, as for every other format.

    libheif turns a HEIF by its container's rotation (`irot`/`imir`) while decoding; pillow-heif therefore
    resets the EXIF orientation to 1, keeping the old one as `original_orientation`. Without a container
    rotation (libheif 1.15's heif-enc copies only the EXIF), nothing would turn it: put it back."""
    kept = image.info.get("original_orientation")
    if kept is not None and not _heif_turns(image):  # (a kept 1 is put back as 1: nothing to turn)
        image.getexif()[ExifTags.Base.Orientation] = kept


def _heif_turns(image: Image.Image) -> bool:
    """Whether libheif turns or mirrors this HEIF itself. pillow-heif shows the transforms only on its
    decoder's handle (until the pixels are loaded); should that change, we trust its reset (no second turn)."""
    try:
        transforms = image._heif_file[image.tell()]._c_image.transformations  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError):
        return True
    return any(kind in ("irot", "imir") for kind, *_ in transforms)


# Thumbnails, depth and auxiliary images stay unparsed (we read the primary image alone); one decoding thread,
# since the decoding budget (classifier_fn/inference/decoding.py) counts one core per decode.
HEIF_OPTIONS = {"thumbnails": False, "depth_images": False, "aux_images": False, "decode_threads": 1}


@functools.cache
def _register_heif() -> None:
    """pillow-heif's opener, registered with Pillow once, on the first image opened."""
    pillow_heif.register_heif_opener(**HEIF_OPTIONS)
