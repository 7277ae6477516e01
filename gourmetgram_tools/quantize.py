"""`gourmetgram model quantize`: an int8 copy of a model, calibrated on recent production photos, checked, and added
to the registry as a model of its own (a challenger to be, never a champion without the comparison).

The calibration photos are the production photos of a recent window, read from `production` and preprocessed as
the function does (so the activations' ranges are those the model meets in production), at most `--max`,
spread evenly over the classes the serving model gave them (a window of mostly one class would otherwise set the
ranges for that class alone). One photo in HELD_OUT_EVERY is kept out of the calibration: on those the int8 model
is compared with its source (same top-1 class, largest probability change), and the figures go into its info.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gourmetgram import idtime, model_registry
from gourmetgram.model_registry import CHAMPION, ModelInfo
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store, StoreError
from gourmetgram_tools.models import Refused, operator
from gourmetgram_tools.replay import Pace

# Fewer photos than this and the activations' ranges (and the agreement on the held-out part) mean little.
MIN_PHOTOS = 16
DEFAULT_MAX = 200
HELD_OUT_EVERY = 4  # every 4th photo chosen is held out: a quarter, spread over the classes like the rest
CALIBRATION_BATCH = 8
DEFAULT_RATE = 20.0  # photos read from production per second, at most: it shares MinIO with production traffic


@dataclass(frozen=True)
class CalibrationPhoto:
    id: str
    tensor: Any  # a torch.Tensor, 3x224x224 (torch is imported only by the commands that need it)


@dataclass(frozen=True)
class Quantized:
    info: ModelInfo
    new: bool  # False: the same int8 file was in the registry already
    source_version: str
    calibrated: int
    held_out: int
    skipped: list[str]  # "<id>: why" for the chosen photos that could not be read or decoded


def source_bytes(store: Store, source: str) -> tuple[bytes, str]:
    """The source model's file and a name for it in messages: `champion`, a registered version, or a file."""
    if source == CHAMPION:
        version = model_registry.read_alias(store, CHAMPION).version
        if version is None:
            raise Refused("no champion is set: give a version (`gourmetgram model list`) or a model file")
        return model_registry.read_model(store, version), f"the champion {version}"
    path = Path(source)
    if path.is_file():
        if path.stat().st_size > model_registry.MAX_MODEL_BYTES:
            raise Refused(f"{path} is over the registry's limit of {model_registry.MAX_MODEL_BYTES:,} bytes")
        return path.read_bytes(), str(path)
    if not source.startswith("food11-"):  # not a version's name: a file that is not there
        raise Refused(f"not quantized: {source} is neither a file nor a registered version (food11-…)")
    return model_registry.read_model(store, source), f"model {source}"  # UnknownVersion names what exists


def load_source(data: bytes, name: str):
    """The source as the function loads it; Refused when it does not load or is int8 already."""
    from classifier_fn.inference import model

    try:
        loaded = model.load_bytes(data, name)
    except model.ModelLoadError as exc:
        raise Refused(f"not quantized: the source does not load: {exc}") from None
    if loaded.format == model.INT8:
        raise Refused(f"not quantized: {name} is an int8 model already")
    return loaded


def choose(records: Iterable[Outcome], maximum: int) -> list[Outcome]:
    """At most `maximum` labelled production photos, taken in turn from each class the model gave (oldest first
    within a class): as many of each class as there are, up to an even share."""
    by_class: dict[int, list[Outcome]] = {}
    for r in records:
        if r.status is Status.DONE and r.production_key and r.class_index is not None:
            by_class.setdefault(r.class_index, []).append(r)
    queues = [sorted(rs, key=lambda r: r.id) for _, rs in sorted(by_class.items())]
    chosen: list[Outcome] = []
    depth = 0
    while len(chosen) < maximum and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(chosen) < maximum:
                chosen.append(q[depth])
        depth += 1
    return chosen


def split(photos: list[CalibrationPhoto]) -> tuple[list[CalibrationPhoto], list[CalibrationPhoto]]:
    """(to calibrate on, held out): every HELD_OUT_EVERY-th photo held out."""
    held = [p for i, p in enumerate(photos) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return [p for i, p in enumerate(photos) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1], held


def read_photos(
    store: Store, settings: Settings, records: list[Outcome], pace: Pace
) -> tuple[list[CalibrationPhoto], list[str]]:
    """The chosen photos read from `production` and preprocessed as the function does; (photos, skipped)."""
    from classifier_fn.inference import preprocess
    from classifier_fn.inference.errors import Rejected

    photos, skipped = [], []
    for record in records:
        assert record.production_key is not None  # choose() took only photos in production
        pace.wait()
        try:
            data = store.read(settings.bucket_production, record.production_key, limit=settings.max_object_bytes)
            tensor = preprocess.prepare(data, settings.max_pixels, decode=settings.decode).tensor
        except NotFound:
            skipped.append(f"{record.id}: gone from production")
            continue
        except (Rejected, StoreError) as exc:
            skipped.append(f"{record.id}: {exc}")
            continue
        photos.append(CalibrationPhoto(record.id, tensor))
    return photos, skipped


def batches(photos: list[CalibrationPhoto], size: int = CALIBRATION_BATCH) -> Iterable:
    import torch

    for start in range(0, len(photos), size):
        yield torch.stack([p.tensor for p in photos[start : start + size]])


def agreement(source, int8, photos: list[CalibrationPhoto]) -> dict:
    """How the int8 model answers `photos` beside its source: same top-1 class, largest probability change."""
    import torch

    same, change = 0, 0.0
    with torch.inference_mode():
        for batch in batches(photos):
            a, b = torch.softmax(source(batch), 1), torch.softmax(int8(batch), 1)
            same += int((a.argmax(1) == b.argmax(1)).sum())
            change = max(change, float((a - b).abs().max()))
    return {
        "photos": len(photos),
        "same_top1": same,
        "share": round(same / len(photos), 4) if photos else None,
        "max_probability_change": round(change, 4),
        "held_out": [p.id for p in photos],
    }


def check(data: bytes, made, photos: list[CalibrationPhoto], name: str):
    """The int8 file loaded back as the function loads it (weights only, the structure rebuilt), giving the logits of
    the model it was saved from, and answering the bundled photos with 11 finite probabilities; Refused if not."""
    import torch

    from classifier_fn.inference import model, model_check

    try:
        reloaded = model.load_bytes(data, name)
    except model.ModelLoadError as exc:
        raise Refused(f"not added: the int8 file does not load back: {exc}") from None
    with torch.inference_mode():
        for batch in batches(photos):
            if not torch.equal(reloaded.module(batch), made(batch)):
                raise Refused("not added: the int8 file loaded back does not give the logits of the model saved")
    try:
        model_check.answers_photos(reloaded.module, name)
    except model_check.ModelRefused as exc:
        raise Refused(f"not added: {exc}") from None
    return reloaded


def quantize(
    store: Store,
    settings: Settings,
    source: str,
    since: float,
    *,
    maximum: int = DEFAULT_MAX,
    note: str = "",
    by: str | None = None,
    rate: float = DEFAULT_RATE,
    progress: Callable[[str], None] = lambda line: None,
    minimum: int = MIN_PHOTOS,
) -> Quantized:
    from classifier_fn.inference import model, quantized

    data, name = source_bytes(store, source)
    loaded = load_source(data, name)  # before any photo is read: a source that does not load costs nothing
    source_version = model.model_version(data, demo=False)
    records = [p.record for p in idtime.read_photos(store, settings.bucket_events, since, time.time() + 1)]
    chosen = choose(records, maximum)
    if len(chosen) < minimum:
        raise Refused(
            f"not quantized: {len(chosen)} production photo(s) in the window, at least {minimum} are needed to "
            "calibrate (a longer --calibrate-since finds more)"
        )
    progress(f"reading {len(chosen)} production photos to calibrate on…")
    photos, skipped = read_photos(store, settings, chosen, Pace(rate))
    if len(photos) < minimum:
        raise Refused(
            f"not quantized: only {len(photos)} of the {len(chosen)} photos chosen could be read and decoded, "
            f"at least {minimum} are needed ({len(skipped)} skipped)"
        )
    calibrate, held_out = split(photos)
    progress(f"calibrating on {len(calibrate)} photos, {len(held_out)} held out…")
    made = quantized.quantize(loaded.module, batches(calibrate))
    file = quantized.to_bytes(made, source=source_version)
    reloaded = check(file, made, held_out, f"the int8 model of {source_version}")
    agreed = agreement(loaded.module, reloaded.module, held_out)
    info, new = model_registry.add(
        store,
        file,
        format=quantized.INT8,
        by=by or operator(),
        note=note or f"int8 of {source_version}, calibrated on {len(calibrate)} production photos",
        source=source_version,
        calibration=[p.id for p in calibrate],
        agreement=agreed,
    )
    return Quantized(info, new, source_version, len(calibrate), len(held_out), skipped)


def summary(done: Quantized) -> str:
    a = done.info.agreement
    share = f"{a['share']:.0%}" if a.get("share") is not None else "-"
    verb = "added" if done.new else "already in the registry:"
    return (
        f"{verb} {done.info.version} (int8 of {done.source_version}, {done.info.size:,} bytes), calibrated on "
        f"{done.calibrated} production photos; on the {a['photos']} held out it gives its source's top class for "
        f"{a['same_top1']} ({share}), largest probability change {a['max_probability_change']:.3f}"
    )
