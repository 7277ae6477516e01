"""HEIC, HEIF and AVIF photos made at test time by real encoders from the fixture JPEGs, as phones make them:
HEIC by libheif's `heif-enc` (Debian's libheif-examples, installed by `scripts/setup.sh --test-tools`; a test
that cannot find it fails), AVIF by Pillow's libavif. Nothing is faked but the brand of the generic HEIF."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from PIL import ExifTags, Image

from gourmetgram import images
from tests.conftest import photo

ORIENTATION = ExifTags.Base.Orientation


def turned(jpeg: bytes | None = None, orientation: int = 6) -> bytes:
    """The JPEG again, with an EXIF orientation (6: the camera was turned 90° clockwise, as a phone held upright)."""
    image = Image.open(io.BytesIO(jpeg or photo()))
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def heic(jpeg: bytes | None = None, quality: int = 50) -> bytes:
    """`jpeg` (a fixture photo by default) encoded by heif-enc: brand `heic`, HEVC, its EXIF copied."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.jpg", Path(folder) / "out.heic"
        source.write_bytes(jpeg or photo())
        subprocess.run(
            ["heif-enc", "-q", str(quality), "-o", str(target), str(source)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return target.read_bytes()


def heif(jpeg: bytes | None = None) -> bytes:
    """A generic HEIF: heif-enc's HEIC with the major brand `mif1` (what makes a `.heif` rather than a `.heic`;
    `heic` stays among its compatible brands, as in the files cameras write)."""
    data = bytearray(heic(jpeg))
    assert data[4:12] == b"ftypheic"
    data[8:12] = b"mif1"
    return bytes(data)


def avif(jpeg: bytes | None = None, quality: int = 60) -> bytes:
    """`jpeg` encoded by Pillow's AVIF plugin (libavif), which writes an EXIF orientation as the container's
    rotation (`irot`), as phones do."""
    image = Image.open(io.BytesIO(jpeg or photo()))
    out = io.BytesIO()
    image.save(out, "AVIF", quality=quality, exif=image.getexif().tobytes())
    return out.getvalue()


PHONE_FORMATS = {"HEIC": heic, "HEIF": heif, "AVIF": avif}


def heic_turned_in_container(jpeg: bytes | None = None) -> bytes:
    """As an iPhone writes a photo held upright: the rotation in the container (`irot`, which libheif applies
    while decoding) and the EXIF orientation kept beside it. Encoded by libheif through pillow-heif's plugin
    (the one our images module registers)."""
    images._register_heif()
    image = Image.open(io.BytesIO(jpeg or turned()))
    out = io.BytesIO()
    image.save(out, "HEIF", quality=50, exif=image.getexif().tobytes())
    return out.getvalue()
