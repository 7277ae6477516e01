"""DECODE=fast: a large JPEG decoded at 1/2, 1/4 or 1/8 scale, then exactly the exact path's transform; and
the default decode, which may be `fast` only where the evidence says it changes no more than re-encoding."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classifier_fn.inference import model, preprocess
from classifier_fn.inference.preprocess import FAST_MIN_SIDE, draft_scale, prepare
from gourmetgram.settings import Settings
from tests.conftest import FIXTURES, PHOTOS, ROOT, image_bytes, in_ci, photo

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


# --- the default: fast only if it changes the probabilities no more than re-encoding does -----------------
@dataclass
class Change:
    largest: float  # the largest change of any class probability, over every photo and size
    top1: int  # photos whose predicted class changed


def _changes(paths: list[Path]) -> tuple[Change, Change]:
    """(fast vs exact on each photo as a quality-90 JPEG, quality 80 vs 90 both exact) at 640, 1500, 3000 px."""
    module = model.for_inference(model.load(FIXTURES / "food11_full.pth").module)

    def probabilities(datas: list[bytes], decode: str) -> torch.Tensor:
        batch = torch.stack([prepare(d, decode=decode).tensor for d in datas])
        with torch.inference_mode():
            return torch.softmax(module(batch.contiguous(memory_format=torch.channels_last)), 1)

    fast, reencoded = Change(0.0, 0), Change(0.0, 0)
    originals = [Image.open(p).convert("RGB") for p in paths]
    for side in SIDES:
        images = [sized(i, side) for i in originals]
        q90, q80 = [jpeg(i, quality=90) for i in images], [jpeg(i, quality=80) for i in images]
        exact90 = probabilities(q90, "exact")
        for change, other in ((fast, probabilities(q90, "fast")), (reencoded, probabilities(q80, "exact"))):
            change.largest = max(change.largest, (other - exact90).abs().max().item())
            change.top1 += int((other.argmax(1) != exact90.argmax(1)).sum())
    return fast, reencoded


def _fixture_photos() -> list[Path]:
    """The bench's sample photos, and every photo of ../shared/fixtures/food (present beside the clone in CI)."""
    shared = Path(os.environ.get("GOURMETGRAM_SHARED", ROOT.parent / "shared")) / "fixtures" / "food"
    found = sorted(shared.rglob("*.jpg"))
    if not found and in_ci():
        pytest.fail(f"shared fixtures not found at {shared}")
    return sorted(PHOTOS.glob("*.jpg")) + found


@pytest.mark.slow
def test_the_default_decode_is_fast_only_where_it_changes_no_more_than_re_encoding():
    paths = _fixture_photos()
    fast, reencoded = _changes(paths)
    print(
        f"\n{len(paths)} photos at {SIDES} px: fast vs exact: largest change {fast.largest:.3f}, top-1 changes "
        f"{fast.top1}; quality 80 vs 90: largest change {reencoded.largest:.3f}, top-1 changes {reencoded.top1}"
    )
    no_worse = fast.largest <= reencoded.largest and fast.top1 <= reencoded.top1
    assert Settings().decode == ("fast" if no_worse else "exact"), json.dumps(
        {"fast": vars(fast), "re-encoding": vars(reencoded)}
    )
