"""The check a model passes before it serves: it loads, it fits the memory left, and it answers the bundled photos
with 11 finite probabilities that sum to 1. Then it is built for serving (BatchNorm folded, traced, warmed).

A model from the registry is swapped in while the function runs: a file that loads but answers NaN, or one too
large for the container, would otherwise label production or get the function killed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from classifier_fn.function_error import FunctionError
from classifier_fn.inference import preprocess
from classifier_fn.inference.infer import ServedModel
from classifier_fn.inference.mobilenet import NUM_CLASSES
from classifier_fn.inference.model import LoadedModel, ModelLoadError, for_inference, load_bytes
from gourmetgram import memory

# Three small food photos (an egg dish, a dessert, fruit; under 20 KB each) that every model answers before it serves.
CHECK_PHOTOS = tuple(sorted((Path(__file__).parent / "check_photos").glob("*.jpg")))
# Room needed, as a multiple of the model file's size: its bytes, the loaded tensors, the served copy (folded and
# traced) and the old model's still serving beside it, with margin. MobileNetV2 (9 MB): 54 MB.
MEMORY_FACTOR = 6
# A file is counted as at least this large: an int8 model's file (2.7 MB) is rebuilt through a float MobileNetV2 of
# this size (its structure, before the int8 tensors load into it), so it needs a float model's room, not its own.
SMALLEST_COUNTED = 9_000_000
SUM_TOLERANCE = 1e-3  # how far from 1 the probabilities of one photo may sum (float rounding is ~1e-6)


class ModelRefused(FunctionError):
    """The model failed its check: it must not serve. The message says why, for /readyz and the log."""


class TooLarge(ModelRefused):
    """Not served for the memory left now, which changes: unlike the other refusals, it says nothing of the file."""


Room = Callable[[], tuple[int | None, str]]  # (bytes this process may still take, how that was found)


def fits(size: int, room: Room = memory.headroom) -> None:
    """ModelRefused when a model file of `size` bytes (at least SMALLEST_COUNTED), times MEMORY_FACTOR, is more than
    the memory left."""
    free, how = room()
    counted = max(size, SMALLEST_COUNTED)
    needed = counted * MEMORY_FACTOR
    if free is not None and needed > free:
        raise TooLarge(
            f"too large for the memory left: {counted:,} bytes x {MEMORY_FACTOR} = {needed:,} needed, "
            f"{free:,} free ({how})"
        )


def answers_photos(module: torch.nn.Module, name: str) -> None:
    """ModelRefused unless `module` gives each bundled photo NUM_CLASSES finite probabilities summing to 1."""
    batch = torch.stack([preprocess.prepare(p.read_bytes()).tensor for p in CHECK_PHOTOS])
    try:
        with torch.inference_mode():
            probs = torch.softmax(module(batch.contiguous(memory_format=torch.channels_last)), dim=1)
    except Exception as exc:  # a model that cannot even run a batch
        raise ModelRefused(f"{name} fails on the check photos: {exc.__class__.__name__}: {exc}") from None
    if tuple(probs.shape) != (len(CHECK_PHOTOS), NUM_CLASSES):
        shape, photos = tuple(probs.shape), len(CHECK_PHOTOS)
        raise ModelRefused(f"{name} answers {shape} for {photos} photos, not {NUM_CLASSES} classes each")
    if not torch.isfinite(probs).all():
        raise ModelRefused(f"{name} answers probabilities that are not finite (NaN or infinite weights?)")
    sums = probs.sum(dim=1).tolist()
    if any(not math.isclose(s, 1.0, abs_tol=SUM_TOLERANCE) for s in sums):
        raise ModelRefused(f"{name}'s probabilities do not sum to 1: {sums}")


def checked(data: bytes, name: str, batch_size: int, room: Room = memory.headroom) -> tuple[LoadedModel, ServedModel]:
    """The model file `data` loaded, checked and built for serving; ModelRefused (with why) if it fails."""
    fits(len(data), room)
    try:
        loaded = load_bytes(data, name)
    except ModelLoadError as exc:
        raise ModelRefused(str(exc)) from None
    answers_photos(loaded.module, loaded.version)  # before building: a refused model costs no build
    module = for_inference(loaded.module)  # checked against the module's own logits (model.as_graph)
    warm(module, batch_size)
    return loaded, ServedModel(module, loaded.version, loaded.is_demo)


def warm(module: torch.nn.Module, batch_size: int) -> None:
    # The first passes allocate and pick kernels; do that before the first photo waits for it.
    with torch.inference_mode():
        for size in sorted({1, batch_size}):
            module(torch.zeros(size, 3, preprocess.SIZE, preprocess.SIZE).contiguous(memory_format=torch.channels_last))
