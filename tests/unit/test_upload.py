import hashlib
import uuid
from urllib.parse import quote, unquote

import pytest
from PIL import Image

from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import Item, WorkQueue
from classifier_fn.pipeline.worker import process
from classifier_fn.runtime import Runtime
from gourmetgram import names
from ingest import create_app
from tests import phone_photos
from tests.conftest import bomb_png, image_bytes, photo
from tests.unit.test_worker import FixedBatcher


@pytest.fixture
def app(settings, fake_store):
    return create_app(settings.replace(max_upload_bytes=2_000_000), store=fake_store)


@pytest.fixture
def client(app):
    return app.test_client()


def upload(client, data: bytes, name: str = "dish.jpg"):
    # The body is encoded here: Werkzeug's test client spools big multipart bodies to a temporary file
    # that it never closes (a ResourceWarning), which a browser's upload never involves.
    boundary = "gourmetgram-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post("/predict", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_an_upload_is_streamed_into_incoming_with_its_id(client, fake_store):
    r = upload(client, photo(), "My Soup.JPG")
    assert r.status_code == 202
    body = r.get_json()
    assert body["status"] == "pending" and body["poll"] == f"/predictions/{body['id']}"
    assert uuid.UUID(body["id"]).version == 7  # time-ordered
    [key] = fake_store.keys("incoming")
    assert key == f"{body['id']}.jpg"
    info = fake_store.head("incoming", key)
    assert info.metadata["prediction-id"] == body["id"] and info.metadata["source"] == "web"
    assert info.content_type == "image/jpeg" and fake_store.read("incoming", key) == photo()


def test_a_poll_of_a_fresh_upload_before_its_record_answers_queued_without_listing_incoming(client, fake_store):
    # GIVEN a photo this process has just stored, not yet claimed by the function
    pid = upload(client, photo()).get_json()["id"]
    fake_store.calls.clear()
    # WHEN its page polls
    body = client.get(f"/predictions/{pid}").get_json()
    # THEN it is queued, known without a listing of incoming
    assert body == {"id": pid, "status": "pending", "stage": "queued"}
    assert fake_store.calls == ["get_json"]


def test_an_upload_whose_put_is_sent_twice_is_one_version_one_record_one_production_object(
    app, client, fake_store, settings
):
    # GIVEN MinIO that stores the upload but whose answer is lost, so the client sends the PUT again
    nudged = []

    def sent_twice(write):
        def send(*args, **kwargs):
            write(*args, **kwargs)
            return write(*args, **kwargs)  # the retry of the same request

        return send

    fake_store.put, fake_store.create = sent_twice(fake_store.put), sent_twice(fake_store.create)
    app.extensions["gourmetgram"]["nudger"].nudge = lambda pid, key, etag: nudged.append(etag)
    # WHEN a photo is uploaded
    r = upload(client, photo())
    # THEN it is accepted, incoming holds one version of it, and the nudge names that version's ETag
    assert r.status_code == 202
    [key] = fake_store.keys("incoming")
    assert len(fake_store.versions("incoming", key)) == 1
    assert nudged == [fake_store.head("incoming", key).etag]
    # AND the function makes one production object and one record of it
    rt = Runtime(settings, fake_store, WorkQueue(10, 10), FixedBatcher(), "food11-test", Metrics(), "w-test")
    assert process(rt, Item("incoming", key, nudged[0])) == "done"
    assert len(fake_store.keys("production")) == 1 and fake_store.keys("events") == [f"{r.get_json()['id']}.json"]


@pytest.mark.parametrize(
    ("data", "name", "ext", "content_type"),
    [
        pytest.param(lambda: image_bytes("PNG"), "photo.txt", ".png", "image/png", id="png-named-txt"),
        pytest.param(photo, "x.png", ".jpg", "image/jpeg", id="jpeg-named-png"),
        pytest.param(lambda: image_bytes("WEBP"), "x.jpeg", ".webp", "image/webp", id="webp-named-jpeg"),
        pytest.param(lambda: image_bytes("GIF", mode="P"), "x.jpg", ".gif", "image/gif", id="gif-named-jpg"),
        pytest.param(lambda: image_bytes("BMP"), "x.jpg", ".bmp", "image/bmp", id="bmp-named-jpg"),
        pytest.param(lambda: image_bytes("TIFF"), "x.jpg", ".tiff", "image/tiff", id="tiff-named-jpg"),
        pytest.param(
            lambda: image_bytes("MPO", save_all=True, append_images=[Image.new("RGB", (320, 240))]),
            "x.mpo",
            ".jpg",
            "image/jpeg",
            id="camera-multi-picture-jpeg",
        ),
        pytest.param(phone_photos.heic, "IMG_0042.HEIC", ".heic", "image/heic", id="iphone-heic"),
        pytest.param(phone_photos.heic, "x.jpg", ".heic", "image/heic", id="heic-named-jpg"),
        pytest.param(phone_photos.heif, "x.heic", ".heif", "image/heif", id="heif-named-heic"),
        pytest.param(phone_photos.avif, "PXL_0042.avif", ".avif", "image/avif", id="android-avif"),
    ],
)
def test_the_extension_and_type_come_from_the_content_when_the_name_lies(
    client, fake_store, data, name, ext, content_type
):
    assert upload(client, data(), name).status_code == 202
    [key] = fake_store.keys("incoming")
    assert key.endswith(ext) and fake_store.head("incoming", key).content_type == content_type


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        pytest.param(b"", 400, "the file is empty", id="empty"),
        pytest.param(b"name,price\nsoup,3\n", 415, "not an image", id="csv-named-jpg"),
        pytest.param(b"%PDF-1.4 ...", 415, "not an image", id="pdf"),
        pytest.param(photo() + b"\0" * 1_950_000, 413, "the limit is 2 MB", id="too-large"),
        pytest.param(bomb_png(9000, 9000), 413, "too many pixels", id="too-many-pixels"),
    ],
)
def test_refusals_are_clear_and_write_nothing(client, fake_store, data, status, message):
    r = upload(client, data)
    assert r.status_code == status
    assert message in r.get_json()["error"]
    assert fake_store.keys("incoming") == []


def test_no_file_field(client, fake_store):
    r = client.post("/predict", data={"other": "x"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "no file" in r.get_json()["error"]
    assert fake_store.keys("incoming") == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, fake_store):
    r = client.post("/predict", data=b"x" * 3_000_000, content_type="application/octet-stream")
    assert r.status_code == 413 and "larger than the limit of 2 MB" in r.get_json()["error"]


def test_storage_down_is_a_503_not_a_crash(client, fake_store):
    fake_store.down = True
    r = upload(client, photo())
    assert r.status_code == 503 and "try again" in r.get_json()["error"]


def test_the_uploader_gets_a_feedback_token_and_only_its_hash_is_stored(client, fake_store, settings):
    # GIVEN a photo uploaded through the page
    r = upload(client, photo())
    body = r.get_json()
    token = body["feedback_token"]
    assert len(token) >= 43 and r.headers["Cache-Control"] == "no-store"
    digest = hashlib.sha256(token.encode()).hexdigest()
    [key] = fake_store.keys("incoming")
    assert fake_store.head("incoming", key).metadata[names.FEEDBACK_TOKEN_METADATA] == digest
    # WHEN the function classifies it
    rt = Runtime(settings, fake_store, WorkQueue(10, 10), FixedBatcher(), "food11-test", Metrics(), "w")
    assert process(rt, Item("incoming", key, fake_store.head("incoming", key).etag)) == "done"
    # THEN the record keeps the hash, the token opens feedback, and the token is nowhere in storage
    doc, _ = fake_store.get_json("events", names.record_key(body["id"]))
    assert doc[names.FEEDBACK_TOKEN_FIELD] == digest
    assert (
        client.post(
            f"/predictions/{body['id']}/feedback",
            json={"corrected_class": "Egg"},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 200
    )
    stored = [(o.data, o.metadata, o.tags) for objects in fake_store.buckets.values() for o in objects.values()]
    assert stored and token not in repr(stored) and token.encode() not in b"".join(d for d, _, _ in stored)
    production = fake_store.head("production", doc["production_key"])
    assert digest not in repr(production.metadata) and digest not in repr(
        fake_store.get_tags("production", production.key)
    )


def test_every_upload_gets_its_own_token(client):
    assert upload(client, photo()).get_json()["feedback_token"] != upload(client, photo()).get_json()["feedback_token"]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Soupe du jour (2).jpg", id="short"),
        pytest.param("🍜" * 300 + ".jpg", id="300-emoji"),
        pytest.param("é" * 5000 + ".png", id="5000-accents"),
    ],
)
def test_the_file_name_reaches_the_metadata_whole_or_cut_to_fit(client, fake_store, name):
    # MinIO refuses more than 2 KB of user metadata: a long name made every upload of that file a 503
    assert upload(client, photo(), name).status_code == 202
    [key] = fake_store.keys("incoming")
    encoded = fake_store.head("incoming", key).metadata["original-filename"]
    kept = unquote(encoded, errors="strict")
    assert len(encoded) <= 1024
    assert kept == name if len(quote(name, safe="")) <= 1024 else (kept.endswith("…") and name.startswith(kept[:-1]))
