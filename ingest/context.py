"""Access to the app's settings, store and waiter from a request."""

from __future__ import annotations

import threading

from flask import current_app

from gourmetgram.eventlog import RecordCache
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram.waiter import OutcomeWaiter
from ingest.nudge import Nudger


def settings() -> Settings:
    return current_app.extensions["gourmetgram"]["settings"]


def store() -> Store:
    return current_app.extensions["gourmetgram"]["store"]


def waiter() -> OutcomeWaiter:
    return current_app.extensions["gourmetgram"]["waiter"]


def long_poll_slots() -> threading.BoundedSemaphore:
    """One slot per long-poll allowed to wait at once (LONG_POLL_MAX_CONCURRENT)."""
    return current_app.extensions["gourmetgram"]["long_polls"]


def nudger() -> Nudger:
    return current_app.extensions["gourmetgram"]["nudger"]


def records() -> RecordCache:
    """Outcome records already read for the event log, shared by every request of this app."""
    return current_app.extensions["gourmetgram"]["records"]


def cache() -> dict:
    """A small per-app cache (the function's status)."""
    return current_app.extensions["gourmetgram"].setdefault("cache", {})
