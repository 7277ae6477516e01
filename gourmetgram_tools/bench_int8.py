"""The int8 model's part of `gourmetgram bench`: the model alone, float against int8 (one thread, batch 8), and how
much int8 changes the answers on the fixture photos beside what re-encoding a photo (JPEG quality 90 against 80)
changes, as the evidence for the fast decode was weighed (tests/integration/test_fast_decode_evidence.py)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from PIL import Image

from gourmetgram.settings import Settings

ALONE_BATCH = 8
ALONE_SECONDS = 3.0  # per round and model
ALONE_ROUNDS = 3  # alternately, best of each: a busy neighbour slows one round, not the figure
TARGET_INT8_VS_FP32 = 2.5
REENCODE_SIDES = (640, 1500, 3000)  # as the fast decode's evidence test


def make_int8(settings: Settings, images: list[bytes]) -> bytes:
    """An int8 file of MODEL_PATH's model, calibrated on `images` (the bench's sample photos: its speed does not
    depend on what it was calibrated on)."""
    import torch

    from classifier_fn.inference import model, preprocess, quantized

    source = model.load(settings.model_path)
    batch = torch.stack([preprocess.prepare(data).tensor for data in images])
    return quantized.to_bytes(quantized.quantize(source.module, [batch]), source=source.version)


def model_alone(settings: Settings, int8_data: bytes) -> dict:
    """Images per second of the float and the int8 model as the function serves each (folded or quantized, traced),
    on one thread, batch ALONE_BATCH, on the same input; their ratio."""
    import torch

    from classifier_fn.inference import model
    from classifier_fn.running import warm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        served = {
            "fp32": model.for_inference(model.load(settings.model_path).module),
            "int8": model.for_inference(model.load_bytes(int8_data, "the bench's int8 model").module),
        }
        batch = torch.rand(ALONE_BATCH, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        batch = batch.contiguous(memory_format=torch.channels_last)
        best = dict.fromkeys(served, 0.0)
        for module in served.values():
            warm(module, ALONE_BATCH)
        for _ in range(ALONE_ROUNDS):
            for name, module in served.items():
                with torch.inference_mode():
                    started, done = time.perf_counter(), 0
                    while time.perf_counter() - started < ALONE_SECONDS:
                        module(batch)
                        done += ALONE_BATCH
                best[name] = max(best[name], done / (time.perf_counter() - started))
    finally:
        torch.set_num_threads(threads)
    return {
        "batch": ALONE_BATCH,
        "threads": 1,
        "fp32_images_per_s": best["fp32"],
        "int8_images_per_s": best["int8"],
        "ratio": best["int8"] / best["fp32"],
        "target": TARGET_INT8_VS_FP32,
    }


def _jpeg(image: Image.Image, side: int, quality: int) -> bytes:
    scale = side / max(image.size)
    out = io.BytesIO()
    image.resize((round(image.width * scale), round(image.height * scale))).save(out, "JPEG", quality=quality)
    return out.getvalue()


def answers_changed(settings: Settings, int8_data: bytes, photos: list[Path]) -> dict:
    """On `photos` at REENCODE_SIDES (JPEG quality 90, exact decode): int8 against float (photos whose top class
    changed, largest change of any probability), beside quality 80 against 90 on the float model."""
    import torch

    from classifier_fn.inference import model, preprocess

    fp32 = model.load(settings.model_path).module
    int8 = model.load_bytes(int8_data, "the bench's int8 model").module

    def probabilities(module, datas: list[bytes]) -> torch.Tensor:
        batch = torch.stack([preprocess.prepare(d).tensor for d in datas])
        with torch.inference_mode():
            return torch.softmax(module(batch), 1)

    changes = {"int8": {"largest": 0.0, "top1": 0}, "reencoding": {"largest": 0.0, "top1": 0}}
    originals = [Image.open(p).convert("RGB") for p in photos]
    for side in REENCODE_SIDES:
        q90 = [_jpeg(i, side, 90) for i in originals]
        q80 = [_jpeg(i, side, 80) for i in originals]
        reference = probabilities(fp32, q90)
        for name, other in (("int8", probabilities(int8, q90)), ("reencoding", probabilities(fp32, q80))):
            changes[name]["largest"] = max(changes[name]["largest"], float((other - reference).abs().max()))
            changes[name]["top1"] += int((other.argmax(1) != reference.argmax(1)).sum())
    return {"photos": len(photos) * len(REENCODE_SIDES), **changes}
