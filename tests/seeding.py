"""Labelled photos written as the function writes them (production object with its tags, then the record),
at chosen upload times: known sets for the review queue, quality and export tests (fake or real MinIO)."""

from __future__ import annotations

from datetime import UTC, datetime

from gourmetgram import labels, names, outcome
from gourmetgram.outcome import Outcome, Status


def seed_photo(
    store,
    moment: float,
    predicted: str,
    confidence: float,
    *,
    model_version: str = "seeded-v1",
    human_label: str | None = None,
    corrected_class: str | None = None,
    flagged: bool | None = None,
    data: bytes = b"\xff\xd8\xff\xe0 a photo",
    status: Status = Status.DONE,
    pid: str | None = None,
    ext: str = ".jpg",
) -> Outcome:
    """One photo uploaded at `moment` (its id a UUIDv7 of that time, or `pid`) that the model called `predicted`."""
    pid = pid or names.upload_id(moment)
    index = names.class_index(predicted)
    key = names.production_key(index, pid, ext)
    record = Outcome(
        id=pid,
        status=status,
        incoming_key=f"{pid}{ext}",
        incoming_etag="e" * 32,
        source="web",
        predicted_class=predicted,
        class_index=index,
        confidence=confidence,
        production_key=key if status is Status.DONE else None,
        model_version=model_version,
        human_label=human_label,
        reviewed_at="2026-01-01T00:00:00Z" if human_label else None,
        corrected_class=corrected_class,
        flagged=flagged,
    )
    record.stamp("uploaded", moment)
    if status is Status.DONE:
        tags = names.production_tags(
            index, confidence, model_version, "web", datetime.fromtimestamp(moment, UTC)
        ) | labels.label_tags(record)
        store.put(
            "production", key, data, content_type=dict(names.IMAGE_FORMATS.values()).get(ext, "image/jpeg"), tags=tags
        )
    store.put_json(
        "events",
        names.record_key(pid),
        record.to_json(),
        tags=outcome.console_tags(record),
        metadata=outcome.console_metadata(record),
    )
    return record


def photo_variants(count: int) -> list[bytes]:
    """`count` distinct JPEGs (other pixels, not only other bytes) made from the sample Food-11 photos by cropping
    and resizing them: calibration photos for `gourmetgram model quantize`."""
    import io

    from PIL import Image

    from tests.conftest import PHOTOS

    samples = sorted(PHOTOS.glob("*.jpg"))
    out = []
    for i in range(count):
        image = Image.open(samples[i % len(samples)]).convert("RGB")
        w, h = image.size
        cut = (i // len(samples)) * 0.06
        image = image.crop((int(w * cut), int(h * cut), w, h)).resize((300 + 10 * i, 260 + 7 * i))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out
