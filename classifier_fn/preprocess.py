"""Image bytes -> normalised 224x224 tensor, exactly as the course's validation transform. Pure."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from classifier_fn.decoding import DecodeBudget
from classifier_fn.errors import Rejected
from gourmetgram import images

SIZE = 224
# Resize(224) on the shorter side would blow a 1x10000 strip up to 224x2,240,000 pixels.
MAX_ASPECT = 20
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


@dataclass(frozen=True)
class Prepared:
    tensor: torch.Tensor  # 3x224x224 float32
    format: str           # Pillow's name of the detected format, e.g. "JPEG"
    width: int
    height: int
    mode: str


def prepare(data: bytes, max_pixels: int = 40_000_000, budget: DecodeBudget | None = None) -> Prepared:
    """Decode and preprocess; with `budget`, the decode waits for its share of the decoding budget."""
    try:
        image = images.open_header(data, max_pixels)
    except images.ImageRefused as exc:
        raise Rejected(str(exc)) from None
    fmt, mode = image.format or "", image.mode
    width, height = image.size
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise Rejected(f"aspect ratio {width}x{height} is too extreme to be a food photo (over {MAX_ASPECT}:1)")
    # A mode other than RGB is converted: a second full-size copy for a while.
    pixels = width * height * (1 if mode == "RGB" else 2)
    with budget.take(pixels) if budget else contextlib.nullcontext():
        try:
            image.load()  # a truncated or corrupt file fails here, not in the middle of a batch
            # In place, and no convert for RGB: each would copy a camera-sized image for nothing.
            ImageOps.exif_transpose(image, in_place=True)
            rgb = image if image.mode == "RGB" else image.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise Rejected(f"corrupt or truncated {fmt or 'image'}: {exc}") from None
        width, height = rgb.size
        return Prepared(to_tensor(rgb), fmt, width, height, mode)


def to_tensor(rgb: Image.Image) -> torch.Tensor:
    """Resize(224) on the shorter side, CenterCrop(224), ToTensor, Normalize(ImageNet)."""
    w, h = rgb.size
    if w <= h:
        new_w, new_h = SIZE, int(SIZE * h / w)
    else:
        new_w, new_h = int(SIZE * w / h), SIZE
    if (new_w, new_h) != (w, h):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int(round((new_h - SIZE) / 2.0))
    left = int(round((new_w - SIZE) / 2.0))
    rgb = rgb.crop((left, top, left + SIZE, top + SIZE))
    array = np.asarray(rgb, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)
    return (tensor - _MEAN) / _STD
