"""`/` (the page), `/events` (the event log, public: no photos), `/api/events`, `/api/status`, `/healthz`."""

from __future__ import annotations

import json
import time
import urllib.request

from flask import Blueprint, jsonify, render_template, request

from gourmetgram import images, names
from gourmetgram.outcome import Status
from gourmetgram.store import StoreError
from ingest import context
from ingest.event_reads import PAGE_SIZES, Busy

bp = Blueprint("pages", __name__)
PAGE_POLL_WAIT_S = 20  # how long the page's long-polls wait, within LONG_POLL_MAX_S
MAX_EVENTS = max(PAGE_SIZES)  # rows of /api/events: each one not cached yet is a GET on MinIO


# The event log's columns (static/events.js fills each from the record's fields), in the order a phone shows
# them first: when, what became of it, which file (with the record's id under its name).
EVENT_COLUMNS = (("finished", "Finished"), ("status", "Status"), ("file", "File"),
                 ("predicted_class", "Prediction"), ("confidence", "Confidence"), ("corrected_class", "Correction"),
                 ("flagged", "Flag"), ("source", "Source"), ("latency_ms", "Latency"), ("reason", "Reason"))


@bp.get("/")
def index():
    s = context.settings()
    return render_template("index.html", classes=names.CLASSES, max_mb=f"{s.max_upload_bytes / 1e6:.0f}",
                           max_bytes=s.max_upload_bytes, formats=images.ACCEPTED,
                           poll_wait=f"{min(PAGE_POLL_WAIT_S, s.long_poll_max_s):g}")


# The filters of the event log (static/events.js applies them to the rows loaded): a record's status, the
# model's class, and where the photo came from.
EVENT_STATUSES = tuple(s.value for s in (Status.DONE, Status.REJECTED, Status.FAILED, Status.PENDING))
EVENT_SOURCES = (("web", "uploaded through the page"), ("bucket", "dropped into incoming"))
PHOTO_COLUMN = ("photo", "Photo")  # the operators' view only (ingest/operator_events.py)


def render_events(operator: bool) -> str:
    """The event log page: public, or with each photo's thumbnail and review link for operators."""
    columns = (PHOTO_COLUMN, *EVENT_COLUMNS) if operator else EVENT_COLUMNS
    return render_template("events.html", columns=columns, operator=operator, statuses=EVENT_STATUSES,
                           classes=names.CLASSES, sources=EVENT_SOURCES)


@bp.get("/events")
def events_page():
    return render_events(operator=False)


@bp.get("/api/events")
def events_json():
    """The `limit` newest outcome records, newest first by the photo's time (see README, "The event log")."""
    raw = request.args.get("limit", "50")
    limit = int(raw) if raw.isdecimal() and len(raw) <= 6 else 0
    if not 1 <= limit <= MAX_EVENTS:
        return jsonify({"error": f"limit must be a whole number from 1 to {MAX_EVENTS}, not {raw[:40]!r}"}), 400
    try:
        return jsonify(context.event_reads().newest(limit))
    except Busy:
        return jsonify({"error": "too many requests read the event log at once: ask again in a second"}), 503, \
            {"Retry-After": "1"}
    except StoreError as exc:
        return jsonify({"error": f"storage is unavailable: {exc}"}), 503


@bp.get("/api/status")
def status():
    """What the function reports of its model (for the demo banner), cached for a few seconds."""
    url = context.settings().function_url.rstrip("/") + "/readyz"
    cache = context.cache()
    cached = cache.get(url)
    if cached and time.monotonic() - cached[0] < 5:
        return jsonify(cached[1])
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own function's URL)
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        body = json.load(exc) if exc.headers.get_content_type() == "application/json" else {}
    except (OSError, ValueError):
        body = {}
    info = {"function": "up" if body else "unreachable", "demo_model": body.get("demo_model"),
            "model_version": body.get("model_version")}
    cache[url] = (time.monotonic(), info)
    return jsonify(info)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
