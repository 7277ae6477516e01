"""The heart of the product on the real MinIO: a photo dropped in incoming ends labelled in production."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid

import pytest

from gourmetgram import names
from gourmetgram.client import post_photo
from tests.conftest import FIXTURES, image_bytes, photo
from tests.stack import big_jpeg, pid_of, production_objects, upload_multipart, wait_final, wait_until

pytestmark = pytest.mark.integration
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["images"]


def assert_landed(store, key: str, etag: str, ext: str, source: str = "bucket") -> dict:
    pid = pid_of(store, key, etag)
    record = wait_final(store, pid)
    assert record["status"] == "done", record
    [pkey] = production_objects(store, pid)                                  # exactly one
    assert re.fullmatch(rf"class_\d\d/{pid}{re.escape(ext)}", pkey)
    assert pkey == record["production_key"] and int(pkey[6:8]) == record["class_index"]
    tags = store.get_tags("production", pkey)
    assert set(tags) == {"predicted_class", "confidence", "timestamp", "model_version", "source"}
    assert tags["predicted_class"] == names.class_name(record["class_index"])
    assert re.fullmatch(r"[01]\.\d{3}", tags["confidence"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags["timestamp"])
    assert tags["model_version"] == record["model_version"] and tags["source"] == source
    meta = store.head("production", pkey).metadata
    assert meta["original-etag"] == etag
    wait_until(lambda: not any(o.key == key for o in store.list("incoming")), 10, f"incoming/{key} removed")
    return record


@pytest.mark.parametrize(("key", "make", "ext"), [
    pytest.param("photo.jpg", lambda: photo("9_452.jpg"), ".jpg", id="jpeg"),
    pytest.param("dish.PNG", lambda: image_bytes("PNG", (640, 480)), ".png", id="png-upper-case"),
    pytest.param("my folder/pho to+1 é.jpg", lambda: photo("10_36.jpg"), ".jpg", id="space-plus-unicode-folder"),
    pytest.param("a/b/c/d/100% real.jpeg", lambda: photo("4_87.jpg"), ".jpeg", id="percent-deep"),
    pytest.param("no-extension", lambda: image_bytes("PNG"), ".png", id="extension-from-content"),
])
def test_plain_put(stack, store, key, make, ext):
    etag = store.put("incoming", key, make())
    assert_landed(store, key, etag, ext)


def test_multipart_upload_over_5_mib(stack, store, s3):
    data = big_jpeg()
    assert len(data) > 5 * 1024 * 1024
    etag = upload_multipart(s3, "large/multi part.jpg", data)
    assert "-" in etag  # really multipart: MinIO fires CompleteMultipartUpload
    assert_landed(store, "large/multi part.jpg", etag, ".jpg")


def test_mc_cp_drop(stack, store, mc, tmp_path):
    source = tmp_path / "soup photo.jpg"
    source.write_bytes(photo("9_452.jpg"))
    mc("cp", str(source), "local/incoming/mc drops/soup photo.jpg")
    etag = hashlib.md5(source.read_bytes()).hexdigest()
    record = assert_landed(store, "mc drops/soup photo.jpg", etag, ".jpg")
    assert record["source"] == "bucket" and record["incoming_key"] == "mc drops/soup photo.jpg"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_photos_land_in_the_class_the_reference_model_names(stack, store, name):
    key = f"food11/{uuid.uuid4().hex[:6]}-{name.split('/')[-1]}"
    etag = store.put("incoming", key, (FIXTURES / name).read_bytes())
    record = assert_landed(store, key, etag, ".jpg")
    assert record["class_index"] == EXPECTED[name]["predicted_index"]
    assert record["production_key"].startswith(f"class_{EXPECTED[name]['predicted_index']:02d}/")
    assert record["confidence"] == pytest.approx(EXPECTED[name]["probability"], abs=1e-3)
    assert not record["model_version"].startswith("demo-")


def test_a_text_file_is_quarantined_with_a_reason(stack, store):
    etag = store.put("incoming", "notes/readme.jpg", b"this is not a photo\n")
    record = wait_final(store, pid_of(store, "notes/readme.jpg", etag))
    assert record["status"] == "rejected" and "not an image" in record["reason"]
    assert "not an image" in store.get_tags("quarantine", "notes/readme.jpg")["reason"]
    wait_until(lambda: not any(o.key == "notes/readme.jpg" for o in store.list("incoming")), 10, "incoming empty")


def test_web_upload_long_poll_and_feedback(stack, store):
    accepted = post_photo(stack.web_url, photo("7_226.jpg"), "rice.jpg")
    with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
        record = json.load(r)
    assert record["status"] == "done" and record["source"] == "web" and record["id"] == accepted["id"]
    assert production_objects(store, accepted["id"]) == [record["production_key"]]
    assert store.get_tags("production", record["production_key"])["source"] == "web"
    request = urllib.request.Request(f"{stack.web_url}/predictions/{accepted['id']}/feedback", method="POST",
                                     data=json.dumps({"corrected_class": "Rice", "flagged": True}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
    tags = store.get_tags("production", record["production_key"])
    assert tags["corrected_class"] == "Rice" and tags["flagged"] == "true"


def test_function_readiness_reports_subscription_queue_and_reconciler(stack):
    with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
        ready = json.load(r)
    assert ready["ready"] and ready["subscription"] == "ok" and ready["minio"] == "ok"
    assert ready["model_version"].startswith("food11-") and not ready["demo_model"]
    last = ready["last_reconcile"]  # the first pass runs at start
    assert last["started_at"].endswith("Z") and last["listed"] >= 0 and last["errors"] == []


def test_the_event_log_shows_an_outcome_on_the_page_api_and_in_the_terminal(stack, store):
    key = f"log/{uuid.uuid4().hex}.jpg"
    record = assert_landed(store, key, store.put("incoming", key, photo("1_17.jpg")), ".jpg")
    with urllib.request.urlopen(f"{stack.web_url}/api/events?limit=500", timeout=10) as r:
        rows = {row["id"]: row for row in json.load(r)}
    assert rows[record["id"]]["incoming_key"] == key and rows[record["id"]]["status"] == "done"
    env = {**os.environ, **stack.settings.to_env()}
    shown = subprocess.run([sys.executable, "-m", "gourmetgram", "events", "--limit", "500"], capture_output=True,
                           text=True, env=env, timeout=60, check=True).stdout
    [line] = [line for line in shown.splitlines() if key in line]
    assert "done" in line and record["predicted_class"] in line
