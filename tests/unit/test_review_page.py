import base64
import re
import time

import pytest

from gourmetgram import names
from gourmetgram.outcome import Status
from ingest import create_app
from tests.seeding import seed_photo

TOKEN = "review-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def app_settings(settings):
    return settings.replace(review_token=TOKEN, review_confidence=0.7, review_sample_per_day=0)


@pytest.fixture
def client(app_settings, fake_store):
    return create_app(app_settings, store=fake_store).test_client()


@pytest.mark.parametrize("path", ["/review", "/review/api/queue", "/quality", "/quality/metrics",
                                  f"/review/photo/{names.upload_id()}"])
def test_operator_pages_need_the_token(client, path):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, basic("operator", "wrong"),
                    basic("someone", TOKEN), {"Authorization": "Basic %%%"}, {"Authorization": TOKEN}):
        r = client.get(path, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"].startswith('Basic realm="GourmetGram operator"')
        assert "REVIEW_TOKEN" in r.get_json()["error"]
    for headers in (BEARER, basic("operator", TOKEN)):
        r = client.get(path, headers=headers)
        assert r.status_code in (200, 404) and r.headers["Cache-Control"] == "no-store"


def test_without_a_token_the_operator_pages_are_off(settings, fake_store):
    client = create_app(settings, store=fake_store).test_client()
    r = client.get("/review", headers=BEARER)
    assert r.status_code == 503 and "REVIEW_TOKEN" in r.get_json()["error"]
    assert client.get("/").status_code == 200  # the upload page stays open


def test_the_queue_and_a_photo_as_the_page_sees_them(client, fake_store):
    now = time.time()
    low = seed_photo(fake_store, now - 60, "Soup", 0.41, flagged=True, data=b"\x89PNG the bytes")
    seed_photo(fake_store, now - 50, "Rice", 0.95)  # confident, today: not queued
    body = client.get("/review/api/queue", headers=BEARER).get_json()
    assert body["total"] == 1 and body["reasons"] == {"flagged": 1, "low confidence": 1}
    [item] = body["items"]
    assert item["id"] == low.id and item["predicted_class"] == "Soup" and item["confidence"] == 0.41
    assert item["flagged"] is True and item["reasons"] == ["flagged", "low confidence"]
    photo = client.get(item["photo"], headers=BEARER)
    assert photo.data == b"\x89PNG the bytes" and photo.content_type == "image/jpeg"
    assert "sandbox" in photo.headers["Content-Security-Policy"]
    assert client.get(f"/review/photo/{names.upload_id()}", headers=BEARER).status_code == 404


def test_a_review_lands_in_the_record_and_the_tags_and_takes_the_photo_out(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    r = client.post(f"/review/api/{record.id}", json={"human_label": "seafood"}, headers=BEARER)
    assert r.status_code == 200 and r.get_json()["human_label"] == "Seafood"
    saved = fake_store.get_json("events", names.record_key(record.id))[0]
    tags = fake_store.get_tags("production", record.production_key)
    assert saved["human_label"] == tags["human_label"] == "Seafood"
    assert saved["reviewed_at"] == tags["reviewed_at"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                                                                        tags["reviewed_at"])
    assert tags["predicted_class"] == "Soup" and tags["confidence"] == "0.300"  # the model's tags stay
    assert client.get("/review/api/queue", headers=BEARER).get_json()["total"] == 0
    # a second reviewer's answer does not silently replace the first; "replace" does
    again = client.post(f"/review/api/{record.id}", json={"human_label": "Egg"}, headers=BEARER)
    assert again.status_code == 409 and "reviewed already" in again.get_json()["error"]
    assert client.post(f"/review/api/{record.id}", json={"human_label": "Egg", "replace": True},
                       headers=BEARER).status_code == 200
    assert fake_store.get_tags("production", record.production_key)["human_label"] == "Egg"


@pytest.mark.parametrize(("body", "status"), [
    pytest.param({"human_label": "Pizza"}, 400, id="not-a-class"),
    pytest.param({"label": "Egg"}, 400, id="unknown-field"),
    pytest.param({"human_label": 3}, 400, id="a-number"),
    pytest.param({"human_label": "Egg", "replace": "yes"}, 400, id="replace-not-bool"),
    pytest.param(["Egg"], 400, id="a-list"),
])
def test_a_bad_review_is_refused_and_changes_nothing(client, fake_store, body, status):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    r = client.post(f"/review/api/{record.id}", json=body, headers=BEARER)
    assert r.status_code == status and r.get_json()["error"]
    assert "human_label" not in fake_store.get_tags("production", record.production_key)


def test_a_review_must_be_json_and_from_this_site(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    form = client.post(f"/review/api/{record.id}", data={"human_label": "Egg"}, headers=BEARER)
    assert form.status_code == 415
    other_site = client.post(f"/review/api/{record.id}", json={"human_label": "Egg"},
                             headers={**BEARER, "Sec-Fetch-Site": "cross-site"})
    assert other_site.status_code == 403
    pending = seed_photo(fake_store, time.time() - 30, "Soup", 0.3, status=Status.PENDING)
    assert client.post(f"/review/api/{pending.id}", json={"human_label": "Egg"}, headers=BEARER).status_code == 409
    assert client.post(f"/review/api/{names.upload_id()}", json={"human_label": "Egg"},
                       headers=BEARER).status_code == 404
    assert "human_label" not in fake_store.get_tags("production", record.production_key)


def test_the_page_has_one_key_per_class_and_no_inline_script_or_style(client):
    html = client.get("/review", headers=BEARER).get_data(as_text=True)
    keys = re.findall(r'data-class="([^"]+)" data-key="([^"]+)"', html)
    assert [c for c, _ in keys] == list(names.CLASSES)
    assert len({k for _, k in keys}) == 11 and ("Vegetable/Fruit", "v") in keys
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html)
