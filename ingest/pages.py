"""`/` (the page), `/events` (the event log for operators), `/api/events`, `/api/status`, `/healthz`."""

from __future__ import annotations

import json
import time
import urllib.request

from flask import Blueprint, jsonify, render_template, request

from gourmetgram import eventlog, names
from gourmetgram.store import StoreError
from ingest import context, tokens

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    s = context.settings()
    return render_template("index.html", classes=names.CLASSES, max_mb=s.max_upload_bytes / 1e6)


@bp.get("/events")
def events_page():
    return render_template("events.html", columns=eventlog.COLUMNS)


@bp.get("/api/events")
def events_json():
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    try:
        records = eventlog.recent(context.store(), context.settings().bucket_events, limit, context.records())
        return jsonify([tokens.public(doc) for doc in records])
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
