"""The operators' event log (`/review/events`), its thumbnails (`/review/thumbs/<id>`), the review of one
given photo (`/review/api/item/<id>`), and the log's filters."""

import io
import re
import time

import pytest
from PIL import Image

from gourmetgram import names
from gourmetgram.outcome import Status
from ingest import create_app
from tests import phone_photos
from tests.conftest import photo
from tests.seeding import seed_photo
from tests.unit.test_review_page import BEARER, TOKEN

THUMB_PATHS = [
    "/review/events",
    "/review/api/events",
    f"/review/thumbs/{names.upload_id()}",
    f"/review/api/item/{names.upload_id()}",
]


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings.replace(review_token=TOKEN), store=fake_store).test_client()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("path", THUMB_PATHS)
def test_the_operator_view_and_its_thumbnails_need_the_token(client, fake_store, path):
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.9, data=photo())
    path = re.sub(r"/[0-9a-f-]{36}$", f"/{seeded.id}", path)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        r = client.get(path, headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
        assert r.content_type == "application/json"  # no photo, no page
    assert client.get(path, headers=BEARER).status_code == 200


def test_a_thumbnail_is_a_small_jpeg_of_the_production_photo(client, fake_store):
    # GIVEN a real Food-11 photo in production
    original = photo()
    width, height = Image.open(io.BytesIO(original)).size
    assert min(width, height) > 160
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.9, data=original)
    # WHEN an operator asks for its thumbnail
    r = client.get(f"/review/thumbs/{seeded.id}", headers=BEARER)
    # THEN it is a JPEG of at most 160 px a side, a fraction of the photo, kept by the operator's browser only
    assert r.status_code == 200 and r.content_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(r.data))
    assert thumb.format == "JPEG" and max(thumb.size) == 160
    assert abs(thumb.size[0] / thumb.size[1] - width / height) < 0.02
    assert len(r.data) < len(original) / 4
    assert r.headers["Cache-Control"].startswith("private")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    print(f"\nthumbnail {len(r.data)} bytes of a {len(original)}-byte photo")


@pytest.mark.parametrize(
    ("ext", "make"),
    [
        pytest.param(".heic", lambda: phone_photos.heic(phone_photos.turned()), id="heic-exif"),
        pytest.param(".heic", phone_photos.heic_turned_in_container, id="heic-irot"),
        pytest.param(".heif", lambda: phone_photos.heif(phone_photos.turned()), id="heif"),
        pytest.param(".avif", lambda: phone_photos.avif(phone_photos.turned()), id="avif"),
    ],
)
def test_a_phone_photos_thumbnail_is_a_jpeg_the_right_way_up(client, fake_store, ext, make):
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.9, data=make(), ext=ext)
    r = client.get(f"/review/thumbs/{seeded.id}", headers=BEARER)
    assert r.status_code == 200 and r.content_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(r.data))
    assert thumb.format == "JPEG" and thumb.size == (120, 160)  # 9_452.jpg (512x384) held upright


def test_a_thumbnail_keeps_the_shape_of_the_photo_and_is_made_once(client, fake_store):
    wide = seed_photo(fake_store, time.time() - 60, "Rice", 0.9, data=png(1200, 300))
    r = client.get(f"/review/thumbs/{wide.id}", headers=BEARER)
    assert Image.open(io.BytesIO(r.data)).size == (160, 40)
    # the second time it comes from memory: even with the photo gone from MinIO
    fake_store.delete("production", wide.production_key)
    again = client.get(f"/review/thumbs/{wide.id}", headers=BEARER)
    assert again.status_code == 200 and again.data == r.data


def test_no_thumbnail_for_an_id_without_a_photo_in_production(client, fake_store):
    now = time.time()
    pending = seed_photo(fake_store, now - 60, "Soup", 0.9, status=Status.PENDING)
    rejected = seed_photo(fake_store, now - 50, "Soup", 0.9, status=Status.REJECTED)
    gone = seed_photo(fake_store, now - 40, "Soup", 0.9, data=photo())
    fake_store.delete("production", gone.production_key)
    for pid, says in [
        (names.upload_id(), "has no photo"),
        (pending.id, "has no photo"),
        (rejected.id, "has no photo"),
        (gone.id, "is gone from production"),
        ("..%2F..%2Fsecrets", ""),
        ("not-an-id", "no photo with id"),
    ]:
        r = client.get(f"/review/thumbs/{pid}", headers=BEARER)
        assert r.status_code == 404, pid
        assert says in r.get_json()["error"], (pid, r.get_json())


def test_a_photo_that_is_no_image_or_too_big_gets_no_thumbnail(settings, fake_store):
    client = create_app(settings.replace(review_token=TOKEN, max_pixels=500_000), store=fake_store).test_client()
    now = time.time()
    not_an_image = seed_photo(fake_store, now - 60, "Soup", 0.9, data=b"%PDF-1.7 not a photo")
    huge = seed_photo(fake_store, now - 50, "Soup", 0.9, data=png(1000, 1000))  # 1,000,000 pixels
    r = client.get(f"/review/thumbs/{not_an_image.id}", headers=BEARER)
    assert r.status_code == 422 and "not an image" in r.get_json()["error"]
    r = client.get(f"/review/thumbs/{huge.id}", headers=BEARER)
    assert r.status_code == 422 and "too many pixels" in r.get_json()["error"]


def test_the_operator_view_has_a_photo_column_the_filters_and_no_inline_script(client):
    r = client.get("/review/events", headers=BEARER)
    html = r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    keys = re.findall(r'<th scope="col" data-key="(\w+)">', html)
    assert keys[:4] == ["photo", "finished", "status", "file"]
    assert re.findall(r'<select name="(\w+)">', html) == ["status", "class", "source"]
    assert 'href="/review"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html)


def test_the_log_has_labelled_filters(client):
    html = client.get("/review/events", headers=BEARER).get_data(as_text=True)
    # each select sits inside its label (its accessible name), with "all" first
    for label, name in [("Status", "status"), ("Predicted class", "class"), ("Source", "source")]:
        assert re.search(rf'<label>{label}\s*<select name="{name}">\s*<option value="">all</option>', html)
    options = re.findall(r'<option value="([^"]*)"', html)
    assert {"done", "rejected", "failed", "pending", "web", "bucket", *names.CLASSES} <= set(options)


def test_the_review_opens_one_given_photo_queued_or_not(client, fake_store):
    now = time.time()
    confident = seed_photo(fake_store, now - 60, "Rice", 0.99, data=photo())  # in no queue
    reviewed = seed_photo(fake_store, now - 50, "Soup", 0.3, human_label="Egg")
    rejected = seed_photo(fake_store, now - 40, "Soup", 0.3, status=Status.REJECTED)
    item = client.get(f"/review/api/item/{confident.id}", headers=BEARER).get_json()
    assert item["id"] == confident.id and item["predicted_class"] == "Rice" and item["reasons"] == []
    assert item["photo"] == f"/review/photo/{confident.id}" and item["human_label"] is None
    assert client.get(item["photo"], headers=BEARER).data == photo()
    assert client.get(f"/review/api/item/{reviewed.id}", headers=BEARER).get_json()["human_label"] == "Egg"
    r = client.get(f"/review/api/item/{rejected.id}", headers=BEARER)
    assert r.status_code == 409 and "rejected" in r.get_json()["error"]
    assert client.get(f"/review/api/item/{names.upload_id()}", headers=BEARER).status_code == 404
    assert client.get("/review/api/item/nope", headers=BEARER).status_code == 404


def test_thumbnails_are_made_a_few_at_once_and_the_rest_told_to_come_back(client, fake_store, monkeypatch):
    # GIVEN every slot for making thumbnails taken (operators' pages asking for many large photos at once)
    from ingest import operator_events

    monkeypatch.setattr(operator_events, "THUMB_WAIT_S", 0.05)
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.9, data=photo())
    slots = client.application.extensions["gourmetgram"]["thumbnail_slots"]
    for _ in range(operator_events.THUMBS_AT_ONCE):
        assert slots.acquire(blocking=False)
    # WHEN one more thumbnail is asked for
    busy = client.get(f"/review/thumbs/{seeded.id}", headers=BEARER)
    # THEN it is answered 503 with Retry-After, and made once a slot is free
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1" and "busy" in busy.get_json()["error"]
    slots.release()
    assert client.get(f"/review/thumbs/{seeded.id}", headers=BEARER).status_code == 200
