import base64
import io
import re
import time

import pytest
from PIL import Image

from gourmetgram import names
from gourmetgram.outcome import Status
from ingest import create_app, tokens
from tests import phone_photos
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


@pytest.mark.parametrize(
    "path", ["/review", "/review/api/queue", "/quality", "/quality/metrics", f"/review/photo/{names.upload_id()}"]
)
def test_operator_pages_need_the_token(client, path):
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        basic("operator", "wrong"),
        basic("someone", TOKEN),
        {"Authorization": "Basic %%%"},
        {"Authorization": TOKEN},
    ):
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


@pytest.mark.parametrize(
    ("ext", "make"),
    [
        pytest.param(".heic", lambda: phone_photos.heic(phone_photos.turned()), id="heic"),
        pytest.param(".heif", phone_photos.heif, id="heif"),
        pytest.param(".avif", lambda: phone_photos.avif(phone_photos.turned()), id="avif"),
    ],
)
def test_a_phone_photo_is_shown_to_the_reviewer_as_a_jpeg_the_right_way_up(client, fake_store, ext, make):
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.41, flagged=True, data=make(), ext=ext)
    assert seeded.production_key.endswith(ext)
    shown = client.get(f"/review/photo/{seeded.id}", headers=BEARER)
    assert shown.status_code == 200 and shown.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(shown.data))
    assert image.format == "JPEG"
    expected = (384, 512) if ext != ".heif" else (512, 384)  # as seen: the turned ones upright
    assert image.size == expected


def test_a_phone_photo_that_cannot_be_read_is_a_clear_error_for_the_reviewer(client, fake_store):
    seeded = seed_photo(fake_store, time.time() - 60, "Soup", 0.41, data=phone_photos.heic()[:300], ext=".heic")
    shown = client.get(f"/review/photo/{seeded.id}", headers=BEARER)
    assert shown.status_code == 422 and "cannot be shown" in shown.get_json()["error"]


def test_a_review_lands_in_the_record_and_the_tags_and_takes_the_photo_out(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    r = client.post(f"/review/api/{record.id}", json={"human_label": "seafood"}, headers=BEARER)
    assert r.status_code == 200 and r.get_json()["human_label"] == "Seafood"
    saved = fake_store.get_json("events", names.record_key(record.id))[0]
    tags = fake_store.get_tags("production", record.production_key)
    assert saved["human_label"] == tags["human_label"] == "Seafood"
    assert saved["reviewed_at"] == tags["reviewed_at"] and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags["reviewed_at"]
    )
    assert tags["predicted_class"] == "Soup" and tags["confidence"] == "0.300"  # the model's tags stay
    assert client.get("/review/api/queue", headers=BEARER).get_json()["total"] == 0
    # a second reviewer's answer does not silently replace the first; "replace" does
    again = client.post(f"/review/api/{record.id}", json={"human_label": "Egg"}, headers=BEARER)
    assert again.status_code == 409 and "reviewed already" in again.get_json()["error"]
    assert (
        client.post(
            f"/review/api/{record.id}", json={"human_label": "Egg", "replace": True}, headers=BEARER
        ).status_code
        == 200
    )
    assert fake_store.get_tags("production", record.production_key)["human_label"] == "Egg"


def test_feedback_after_a_review_puts_the_photo_back_in_the_queue_as_disputed(client, fake_store):
    # GIVEN a web upload (its uploader holds the feedback token) that a reviewer has reviewed
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    record.feedback_token_sha256 = tokens.digest("the-uploaders-token")
    fake_store.put_json("events", names.record_key(record.id), record.to_json())
    assert client.post(f"/review/api/{record.id}", json={"human_label": "Soup"}, headers=BEARER).status_code == 200
    assert client.get("/review/api/queue", headers=BEARER).get_json()["total"] == 0
    saved = fake_store.get_json("events", names.record_key(record.id))[0]
    assert saved["timestamps"]["reviewed"].startswith(saved["reviewed_at"][:-1])  # the review's millisecond
    time.sleep(0.01)  # the feedback's millisecond must come after the review's
    # WHEN its uploader corrects it afterwards
    r = client.post(
        f"/predictions/{record.id}/feedback",
        json={"corrected_class": "Egg"},
        headers={"Authorization": "Bearer the-uploaders-token"},
    )
    assert r.status_code == 200
    # THEN it is back in the queue, first, disputed, with the earlier review shown to the reviewer
    body = client.get("/review/api/queue", headers=BEARER).get_json()
    [item] = body["items"]
    assert item["id"] == record.id and item["human_label"] == "Soup"
    assert item["reasons"] == ["disputed", "corrected", "low confidence"] and body["reasons"]["disputed"] == 1
    # AND a new review (the page sends "replace" for a photo reviewed already) takes it out again
    assert (
        client.post(
            f"/review/api/{record.id}", json={"human_label": "Egg", "replace": True}, headers=BEARER
        ).status_code
        == 200
    )
    assert client.get("/review/api/queue", headers=BEARER).get_json()["total"] == 0


def test_the_last_answer_is_undone_record_and_tags_as_they_were(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3, corrected_class="Egg", flagged=True)
    key = names.record_key(record.id)
    record_before = fake_store.get_json("events", key)[0]
    tags_before = fake_store.get_tags("production", record.production_key)
    saved = client.post(f"/review/api/{record.id}", json={"human_label": "Seafood"}, headers=BEARER).get_json()
    assert saved["before"] == {"human_label": None, "reviewed_at": None, "reviewed": None}
    assert saved["etag"] == fake_store.get_json("events", key)[1]
    # WHEN the reviewer undoes it, naming the version their answer wrote
    undone = client.post(
        f"/review/api/{record.id}/undo", json=saved["before"], headers=BEARER | {"If-Match": saved["etag"]}
    )
    # THEN the record and the tags are as they were, and the photo is back in the queue
    assert undone.status_code == 200 and undone.get_json()["human_label"] is None
    assert fake_store.get_json("events", key)[0] == record_before
    assert fake_store.get_tags("production", record.production_key) == tags_before
    assert client.get("/review/api/queue", headers=BEARER).get_json()["total"] == 1
    # an undo of an undo is no undo: the If-Match names a version that is gone
    again = client.post(
        f"/review/api/{record.id}/undo", json=saved["before"], headers=BEARER | {"If-Match": saved["etag"]}
    )
    assert again.status_code == 412


def test_undo_of_a_replaced_review_puts_the_earlier_review_back(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3, human_label="Rice")
    saved = client.post(
        f"/review/api/{record.id}", json={"human_label": "Egg", "replace": True}, headers=BEARER
    ).get_json()
    assert saved["before"] == {"human_label": "Rice", "reviewed_at": "2026-01-01T00:00:00Z", "reviewed": None}
    assert (
        client.post(
            f"/review/api/{record.id}/undo", json=saved["before"], headers=BEARER | {"If-Match": saved["etag"]}
        ).status_code
        == 200
    )
    tags = fake_store.get_tags("production", record.production_key)
    assert tags["human_label"] == "Rice" and tags["reviewed_at"] == "2026-01-01T00:00:00Z"


def test_undo_puts_back_the_earlier_reviews_millisecond_that_tells_a_dispute(client, fake_store):
    # GIVEN a photo reviewed on the page (its review's millisecond in the record), then reviewed again
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    key = names.record_key(record.id)
    assert client.post(f"/review/api/{record.id}", json={"human_label": "Rice"}, headers=BEARER).status_code == 200
    first = fake_store.get_json("events", key)[0]
    time.sleep(0.01)
    saved = client.post(
        f"/review/api/{record.id}", json={"human_label": "Egg", "replace": True}, headers=BEARER
    ).get_json()
    assert saved["before"]["reviewed"] == first["timestamps"]["reviewed"]
    # WHEN the second answer is undone, THEN the record is the first review's, its millisecond included
    assert (
        client.post(
            f"/review/api/{record.id}/undo", json=saved["before"], headers=BEARER | {"If-Match": saved["etag"]}
        ).status_code
        == 200
    )
    assert fake_store.get_json("events", key)[0] == first


def test_an_undo_after_the_record_changed_undoes_nothing(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    saved = client.post(f"/review/api/{record.id}", json={"human_label": "Seafood"}, headers=BEARER).get_json()
    # the uploader's feedback comes in between
    doc, etag = fake_store.get_json("events", names.record_key(record.id))
    fake_store.put_json("events", names.record_key(record.id), doc | {"flagged": True}, if_match=etag)
    undone = client.post(
        f"/review/api/{record.id}/undo", json=saved["before"], headers=BEARER | {"If-Match": saved["etag"]}
    )
    assert undone.status_code == 412 and "nothing undone" in undone.get_json()["error"]
    after = fake_store.get_json("events", names.record_key(record.id))[0]
    assert after["human_label"] == "Seafood" and after["flagged"] is True


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        pytest.param({"human_label": None, "reviewed_at": None}, {}, 428, id="no-if-match"),
        pytest.param(
            {"human_label": "Pizza", "reviewed_at": "2026-01-01T00:00:00Z"}, {"If-Match": "x"}, 400, id="not-a-class"
        ),
        pytest.param({"human_label": "Egg", "reviewed_at": None}, {"If-Match": "x"}, 400, id="label-without-time"),
        pytest.param({"human_label": "Egg", "reviewed_at": "yesterday"}, {"If-Match": "x"}, 400, id="not-a-time"),
        pytest.param({"human_label": None}, {"If-Match": "x"}, 400, id="missing-field"),
        pytest.param(
            {"human_label": "Egg", "reviewed_at": "2026-01-01T00:00:00Z", "reviewed": "2026-01-01"},
            {"If-Match": "x"},
            400,
            id="millisecond-not-a-time",
        ),
        pytest.param(
            {"human_label": None, "reviewed_at": None, "reviewed": "2026-01-01T00:00:00.000Z"},
            {"If-Match": "x"},
            400,
            id="millisecond-without-review",
        ),
        pytest.param(
            {"human_label": None, "reviewed_at": None, "extra": 1}, {"If-Match": "x"}, 400, id="unknown-field"
        ),
        pytest.param([1], {"If-Match": "x"}, 400, id="not-an-object"),
    ],
)
def test_a_bad_undo_is_refused_and_changes_nothing(client, fake_store, body, headers, status):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    before = fake_store.get_json("events", names.record_key(record.id))
    r = client.post(f"/review/api/{record.id}/undo", json=body, headers=BEARER | headers)
    assert r.status_code == status, r.get_json()
    assert fake_store.get_json("events", names.record_key(record.id)) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"human_label": "Pizza"}, 400, id="not-a-class"),
        pytest.param({"label": "Egg"}, 400, id="unknown-field"),
        pytest.param({"human_label": 3}, 400, id="a-number"),
        pytest.param({"human_label": "Egg", "replace": "yes"}, 400, id="replace-not-bool"),
        pytest.param(["Egg"], 400, id="a-list"),
    ],
)
def test_a_bad_review_is_refused_and_changes_nothing(client, fake_store, body, status):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    r = client.post(f"/review/api/{record.id}", json=body, headers=BEARER)
    assert r.status_code == status and r.get_json()["error"]
    assert "human_label" not in fake_store.get_tags("production", record.production_key)


def test_a_review_must_be_json_and_from_this_site(client, fake_store):
    record = seed_photo(fake_store, time.time() - 60, "Soup", 0.3)
    form = client.post(f"/review/api/{record.id}", data={"human_label": "Egg"}, headers=BEARER)
    assert form.status_code == 415
    other_site = client.post(
        f"/review/api/{record.id}", json={"human_label": "Egg"}, headers={**BEARER, "Sec-Fetch-Site": "cross-site"}
    )
    assert other_site.status_code == 403
    pending = seed_photo(fake_store, time.time() - 30, "Soup", 0.3, status=Status.PENDING)
    assert client.post(f"/review/api/{pending.id}", json={"human_label": "Egg"}, headers=BEARER).status_code == 409
    assert (
        client.post(f"/review/api/{names.upload_id()}", json={"human_label": "Egg"}, headers=BEARER).status_code == 404
    )
    assert "human_label" not in fake_store.get_tags("production", record.production_key)


def test_the_page_has_one_key_per_class_and_no_inline_script_or_style(client):
    html = client.get("/review", headers=BEARER).get_data(as_text=True)
    keys = re.findall(r'data-class="([^"]+)" data-key="([^"]+)"', html)
    assert [c for c, _ in keys] == list(names.CLASSES)
    assert len({k for _, k in keys}) == 11 and ("Vegetable/Fruit", "v") in keys
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)
    assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html)
