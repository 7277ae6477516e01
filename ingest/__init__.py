"""The GourmetGram web frontend (Flask): upload a photo into `incoming`, watch its outcome, give feedback."""

from __future__ import annotations

import threading

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from gourmetgram.eventlog import EventLog
from gourmetgram.settings import FrontendSettings
from gourmetgram.store import Store
from gourmetgram.waiter import OutcomeWaiter
from ingest import security
from ingest.arrivals import Arrivals
from ingest.event_reads import PAGE_SIZES, EventReads
from ingest.login_limit import FailedLogins
from ingest.nudger import Nudger
from ingest.recent_uploads import RecentUploads
from ingest.server import body_limit


def create_app(settings: FrontendSettings | None = None, store: Store | None = None) -> Flask:
    settings = settings or FrontendSettings.from_env()
    store = store or Store.connect(settings)
    arrivals = Arrivals()
    app = Flask(__name__)
    # Werkzeug refuses bigger bodies before reading them; the exact limit is checked on the file itself.
    app.config["MAX_CONTENT_LENGTH"] = body_limit(settings)
    app.extensions["gourmetgram"] = {
        "settings": settings,
        "store": store,
        # The nudges' answers wake the long-polls of the photos they name (ingest.arrivals).
        "waiter": OutcomeWaiter(store, settings.bucket_events, pause=arrivals.pause),
        "nudger": Nudger(settings, arrivals),
        # Photos stored here lately: polled before their record exists, they need no listing of `incoming`.
        "recent_uploads": RecentUploads(),
        # One reader of the event log for the app (it learns how far back a page of the log reaches), read
        # through shared reads: see ingest.event_reads.
        "event_reads": EventReads(EventLog(store, settings.bucket_events, keep_outside=max(PAGE_SIZES))),
        # Long-polls waiting at once; the rest answer at once (see predictions.get_prediction).
        "long_polls": threading.BoundedSemaphore(settings.long_poll_max_concurrent),
        # Wrong operator logins per client address: past a few, 429 (ingest.operator).
        "failed_logins": FailedLogins(),
    }
    security.init_app(app, settings.allowed_web_hosts)

    from ingest import operator_events, pages, predictions, quality_page, review, upload

    app.register_blueprint(pages.bp)
    app.register_blueprint(upload.bp)
    app.register_blueprint(predictions.bp)
    # The operator pages (/review, /review/events, /quality): REVIEW_TOKEN or nothing (ingest/operator.py).
    app.register_blueprint(review.bp)
    app.register_blueprint(operator_events.bp)
    app.register_blueprint(quality_page.bp)

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException):
        message = exc.description
        if exc.code == 413:
            message = f"the upload is larger than the limit of {settings.max_upload_bytes / 1e6:.0f} MB"
        return jsonify({"error": message}), exc.code

    return app
