"""decode="fast": a large JPEG decoded at 1/2, 1/4 or 1/8 scale, then exactly the exact path's transform. Which
decode is the default is evidence over many photos: tests/integration/test_fast_decode_evidence.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from classifier_fn.inference import preprocess
from classifier_fn.inference.preprocess import FAST_MIN_SIDE, draft_scale, prepare
from tests.conftest import PHOTOS, image_bytes, photo

SIDES = (640, 1500, 3000)


def sized(image: Image.Image, side: int) -> Image.Image:
    """`image` with its longer side `side` pixels."""
    scale = side / max(image.size)
    return image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
    )


def jpeg(image: Image.Image, side: int | None = None, quality: int = 90) -> bytes:
    out = io.BytesIO()
    (sized(image, side) if side else image).save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "size", "scale"),
    [
        pytest.param("JPEG", (640, 480), 1, id="640-too-small-to-gain"),
        pytest.param("JPEG", (1500, 1125), 1, id="1500-too-small-to-gain"),
        pytest.param("JPEG", (2048, 1536), 2, id="2048"),
        pytest.param("JPEG", (3000, 2250), 2, id="3000"),
        pytest.param("JPEG", (4032, 3024), 4, id="4032-a-phone"),
        pytest.param("JPEG", (8000, 6000), 8, id="8000"),
        pytest.param("JPEG", (2000, 1344), 2, id="shorter-side-just-twice-three-times-the-input"),
        pytest.param("JPEG", (2000, 1343), 1, id="shorter-side-one-pixel-short"),
        pytest.param("PNG", (3000, 2250), 1, id="not-a-jpeg"),
    ],
)
def test_the_scale_keeps_the_shorter_side_at_least_three_times_the_input(fmt, size, scale):
    assert draft_scale(fmt, *size) == scale
    assert FAST_MIN_SIDE == 672 and (scale == 1 or min(size) // scale >= FAST_MIN_SIDE)


def test_a_large_jpeg_is_decoded_small_then_transformed_exactly():
    data = jpeg(Image.open(io.BytesIO(photo("1_17.jpg"))).convert("RGB"), 3000)
    fast, exact = prepare(data, decode="fast"), prepare(data)
    assert (exact.decode, exact.width, exact.height) == ("exact", 3000, 2250)
    assert fast.decode == "fast 1/2" and (fast.width, fast.height) == (1500, 1125)  # at least 672 on each side
    assert fast.tensor.shape == exact.tensor.shape == (3, 224, 224)
    assert torch.equal(fast.tensor, preprocess.to_tensor(_drafted(data, 2)))  # the exact transform after the decode
    assert (fast.tensor - exact.tensor).abs().mean() < 0.05  # the same picture, a little softer


def _drafted(data: bytes, scale: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.draft(image.mode, (image.width // scale, image.height // scale))
    return image.convert("RGB")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(image_bytes("PNG", (3000, 2250)), "a PNG", id="png"),
        pytest.param(image_bytes("JPEG", (640, 480)), "a small JPEG", id="small-jpeg"),
    ],
)
def test_other_formats_and_small_photos_take_the_exact_path(data, kind):
    fast = prepare(data, decode="fast")
    assert fast.decode == "exact", kind
    assert torch.equal(fast.tensor, prepare(data).tensor)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpegs_decode_fast_too(mode):
    data = image_bytes("JPEG", (3000, 1500), mode)
    prepared = prepare(data, decode="fast")
    assert prepared.decode == "fast 1/2" and prepared.mode == mode and prepared.tensor.shape == (3, 224, 224)


def test_exif_orientation_is_applied_after_a_fast_decode():
    image = Image.new("RGB", (3000, 1500), "white")
    image.paste((255, 0, 0), (0, 0, 1500, 1500))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise: red on top
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    prepared = prepare(out.getvalue(), decode="fast")
    assert prepared.decode == "fast 1/2" and (prepared.width, prepared.height) == (750, 1500)
    green = prepared.tensor[1]
    assert green[:50].mean() < green[-50:].mean()


def test_the_exact_transform_is_torchvisions_bit_for_bit():
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    for path in sorted(PHOTOS.glob("*.jpg")):
        rgb = Image.open(path).convert("RGB").resize((224, 224))
        reference = (torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float() / 255 - mean) / std
        assert torch.equal(preprocess.to_tensor(rgb), reference)
