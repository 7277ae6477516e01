"""Access to the app's settings, store and waiter from a request."""

from __future__ import annotations

import threading

from flask import current_app

from gourmetgram.settings import FrontendSettings
from gourmetgram.store import Store
from gourmetgram.waiter import OutcomeWaiter
from ingest.event_reads import EventReads
from ingest.login_limit import FailedLogins
from ingest.nudger import Nudger
from ingest.recent_uploads import RecentUploads


def settings() -> FrontendSettings:
    return current_app.extensions["gourmetgram"]["settings"]


def store() -> Store:
    return current_app.extensions["gourmetgram"]["store"]


def waiter() -> OutcomeWaiter:
    return current_app.extensions["gourmetgram"]["waiter"]


def long_poll_slots() -> threading.BoundedSemaphore:
    """One slot per long-poll allowed to wait at once (long_poll_max_concurrent)."""
    return current_app.extensions["gourmetgram"]["long_polls"]


def nudger() -> Nudger:
    return current_app.extensions["gourmetgram"]["nudger"]


def recent_uploads() -> RecentUploads:
    """The photos this process stored in `incoming` lately (ingest.recent_uploads)."""
    return current_app.extensions["gourmetgram"]["recent_uploads"]


def event_reads() -> EventReads:
    """The event log's newest records, read once for every request waiting (`/review/api/events`)."""
    return current_app.extensions["gourmetgram"]["event_reads"]


def cache() -> dict:
    """A small per-app cache (the function's status)."""
    return current_app.extensions["gourmetgram"].setdefault("cache", {})


def failed_logins() -> FailedLogins:
    """Wrong operator logins per client address (ingest.login_limit)."""
    return current_app.extensions["gourmetgram"]["failed_logins"]
