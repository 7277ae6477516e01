"""The default decode may be `fast` only where the evidence says it changes the model's probabilities no more
than re-encoding a photo does: the bench's photos and every photo of ../shared/fixtures/food (beside the clone
in CI) at three sizes, through the real model. Evidence over a corpus, not a unit: it runs with the whole suite."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from classifier_fn.inference import model
from classifier_fn.inference.preprocess import prepare
from gourmetgram.settings import Settings
from tests.conftest import FIXTURES, PHOTOS, ROOT, in_ci
from tests.unit.test_fast_decode import SIDES, jpeg, sized


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
