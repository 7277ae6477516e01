"""Fixtures shared by every kind of test: paths, image factories, the fake store, captured events."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest
from PIL import Image

from gourmetgram.settings import Settings
from gourmetgram_tools.bench import SAMPLE_PHOTOS
from tests.fakes import FakeStore

# The real-MinIO stack fixtures, shared by the integration and browser tests (started only when used).
pytest_plugins = ["tests.stack"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = SAMPLE_PHOTOS  # real Food-11 photos, shipped with the bench; expected.json names them photos/<name>
EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict:
    """A webhook body captured from the pinned MinIO server."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (320, 240), mode: str = "RGB", **save) -> bytes:
    """A small synthetic image: a gradient, so that resizing and cropping have something to do."""
    image = (
        Image.linear_gradient("L").resize(size).convert(mode)
        if mode != "RGB"
        else Image.merge("RGB", [Image.linear_gradient("L").resize(size)] * 3)
    )
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A decompression bomb: many pixels of one colour, a few KB on disk."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


def photo(name: str = "9_452.jpg") -> bytes:
    return (PHOTOS / name).read_bytes()


def fixture_file(name: str) -> Path:
    """A file that tests/fixtures/expected.json names: `photos/<name>` are the sample photos."""
    return PHOTOS / name.removeprefix("photos/") if name.startswith("photos/") else FIXTURES / name


@pytest.fixture(autouse=True)
def _root_handlers_keep_their_filters(monkeypatch):
    """A test that runs a command (`serve-fn`, ...) sets up the CLI's logging, which gives every root handler
    a RepeatFilter: pytest's own capture handlers, which live for the session, would keep it, and a later
    test that logs one message more than five times in 30 s would see the rest held back."""
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(handler, "filters", list(handler.filters))


@pytest.fixture
def settings() -> Settings:
    return Settings(reconcile_grace_s=0, claim_ttl_s=30, transient_retries=3, batch_wait_ms=1, workers=2)


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
