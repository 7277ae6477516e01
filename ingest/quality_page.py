"""`/quality`: how the model does on real traffic, per model version (operator pages only).

`GET /quality?days=N` the page, charts drawn on the server and embedded as PNG data (the CSP allows
`data:` images; no script); `GET /quality/metrics?days=N` the same figures as Prometheus gauges (scrape
it with `authorization: {credentials: <REVIEW_TOKEN>}`). Both cover the last N UTC days (default
quality_window_days, at most MAX_DAYS).
"""

from __future__ import annotations

import base64
import time

from flask import Blueprint, Response, jsonify, render_template, request

from gourmetgram import idtime, model_comparison, names, quality, quality_metrics
from gourmetgram.store import StoreError
from ingest import context, operator, review

bp = operator.protect(Blueprint("quality", __name__))
MAX_DAYS = 366


def _days() -> int | None:
    raw = request.args.get("days", str(context.settings().quality_window_days))
    days = int(raw) if raw.isdecimal() and len(raw) <= 4 else 0
    return days if 1 <= days <= MAX_DAYS else None


def _bad_days():
    raw = request.args.get("days", "")[:40]
    return jsonify({"error": f"days must be a whole number from 1 to {MAX_DAYS}, not {raw!r}"}), 400


def _photos(days: int) -> list[idtime.Photo]:
    since, until = idtime.last_days(days, time.time())
    return list(
        idtime.read_photos(context.store(), context.settings().bucket_events, since, until + 1, review.records())
    )


def _load():
    """(days, reports, comparisons, None) for the window asked, or (None, None, None, the error answer)."""
    days = _days()
    if days is None:
        return None, None, None, _bad_days()
    try:
        photos = _photos(days)
    except StoreError as exc:
        return None, None, None, (jsonify({"error": f"storage is unavailable: {exc}"}), 503)
    # Side by side: each pair of models that labelled the same reviewed photos, one in production and one in the
    # shadow. The records say which, so the frontend needs no right on the models bucket.
    records = [p.record for p in photos]
    comparisons = [model_comparison.compare(records, a, b) for a, b in model_comparison.pairs_found(records)]
    return days, quality.compute(photos, context.settings().review_confidence), comparisons, None


@bp.get("/quality")
def page():
    days, reports, comparisons, refusal = _load()
    if refusal:
        return refusal
    from gourmetgram import quality_charts  # matplotlib: loaded by the first operator who asks, not at start

    threshold = context.settings().review_confidence
    charts = [
        {
            name: "data:image/png;base64," + base64.b64encode(png).decode()
            for name, png in quality_charts.all_charts(r, threshold).items()
        }
        for r in reports
    ]
    return render_template(
        "quality.html",
        reports=list(zip(reports, charts, strict=True)),
        comparisons=comparisons,
        days=days,
        classes=names.CLASSES,
        threshold=threshold,
    )


@bp.get("/quality/metrics")
def metrics():
    _, reports, _, refusal = _load()
    if refusal:
        return refusal
    return Response(quality_metrics.exposition(reports), content_type="text/plain; version=0.0.4; charset=utf-8")
