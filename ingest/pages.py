"""`/` (the page), `/api/status`, `/healthz`; `/events` and `/api/events`, the event log's old public addresses,
redirect to the operators' (`/review/events`, `/review/api/events`: ingest/operator_events.py)."""

from __future__ import annotations

import json
import time
import urllib.request

from flask import Blueprint, jsonify, redirect, render_template, request

from gourmetgram import images, names
from ingest import context

bp = Blueprint("pages", __name__)
PAGE_POLL_WAIT_S = 20  # how long the page's long-polls wait, within long_poll_max_s


@bp.get("/")
def index():
    s = context.settings()
    return render_template(
        "index.html",
        classes=names.CLASSES,
        max_mb=f"{s.max_upload_bytes / 1e6:.0f}",
        max_bytes=s.max_upload_bytes,
        formats=images.ACCEPTED,
        sure_from=s.review_confidence,
        poll_wait=f"{min(PAGE_POLL_WAIT_S, s.long_poll_max_s):g}",
    )


# The event log was public once: its old addresses lead to the operators' (which asks for the review token),
# the query string kept, so that bookmarks and scripts (with the token) keep working.
@bp.get("/events")
def events_page():
    return _moved("/review/events")


@bp.get("/api/events")
def events_api():
    return _moved("/review/api/events")


def _moved(path: str):
    query = request.query_string.decode("latin-1")
    return redirect(f"{path}?{query}" if query else path, 301)


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
    info = {
        "function": "up" if body else "unreachable",
        "demo_model": body.get("demo_model"),
        "model_version": body.get("model_version"),
    }
    cache[url] = (time.monotonic(), info)
    return jsonify(info)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
