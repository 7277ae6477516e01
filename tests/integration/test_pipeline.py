"""The heart of the product on the real MinIO: a photo dropped in incoming ends labelled in production."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest

from gourmetgram import names
from gourmetgram.store import NotFound
from gourmetgram_tools.client import Dropped, drop, post_photo
from minio_config import current
from tests import phone_photos
from tests.conftest import FIXTURES, fixture_file, image_bytes, photo
from tests.stack import big_jpeg, production_objects, upload_multipart, wait_final, wait_until

pytestmark = pytest.mark.integration
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["images"]


def assert_landed(store, dropped: Dropped, ext: str, source: str = "bucket") -> dict:
    key, etag = dropped.key, dropped.etag
    record = wait_final(store, dropped)
    assert record["status"] == "done", record
    pid = record["id"]
    [pkey] = production_objects(store, pid)  # exactly one
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
    # What the MinIO console shows of the record: its tags, and the exact name in its metadata (URL-encoded)
    shown = store.get_tags("events", names.record_key(pid))
    assert {k: shown.get(k) for k in ("status", "predicted_class", "confidence", "source")} == {
        "status": "done",
        "predicted_class": tags["predicted_class"],
        "confidence": tags["confidence"],
        "source": source,
    }
    name = record.get("original_filename") or key
    assert shown["file_name"] == names.tag_value(name)
    assert urllib.parse.unquote(store.head("events", names.record_key(pid)).metadata["file-name"]) == name
    wait_until(lambda: not any(o.key == key for o in store.list("incoming")), 10, f"incoming/{key} removed")
    return record


@pytest.mark.parametrize(
    ("key", "make", "ext"),
    [
        pytest.param("photo.jpg", lambda: photo("9_452.jpg"), ".jpg", id="jpeg"),
        pytest.param("dish.PNG", lambda: image_bytes("PNG", (640, 480)), ".png", id="png-upper-case"),
        pytest.param("my folder/pho to+1 é.jpg", lambda: photo("10_36.jpg"), ".jpg", id="space-plus-unicode-folder"),
        pytest.param("a/b/c/d/100% real.jpeg", lambda: photo("4_87.jpg"), ".jpg", id="percent-deep"),
        pytest.param("no-extension", lambda: image_bytes("PNG"), ".png", id="extension-from-content"),
        pytest.param("lying.png", lambda: photo("1_17.jpg"), ".jpg", id="jpeg-named-png"),
        pytest.param("DCIM/IMG_0042.HEIC", phone_photos.heic, ".heic", id="iphone-heic"),
        pytest.param("DCIM/IMG_0043.HEIF", phone_photos.heif, ".heif", id="heif"),
        pytest.param("DCIM/PXL_0044.avif", phone_photos.avif, ".avif", id="android-avif"),
    ],
)
def test_plain_put(stack, store, key, make, ext):
    record = assert_landed(store, drop(store, "incoming", key, make()), ext)
    expected_type = dict(names.IMAGE_FORMATS.values())[ext]
    assert store.head("production", record["production_key"]).content_type == expected_type


def readyz(stack) -> dict:
    with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
        return json.load(r)


def test_a_key_ending_in_a_slash_that_holds_a_photo_is_labelled_and_a_zero_byte_folder_stays(stack, store, s3):
    # GIVEN the reporter's drop: a real 306 KB JPEG put under a key ending in '/' (no extension), a text file
    # under another, and a zero-byte folder marker
    folder = f"folder-{uuid.uuid4().hex[:8]}/"
    started = time.time()
    put = s3.put_object(Bucket="incoming", Key="weird/dirwithdata/", Body=photo("1_17.jpg"))
    dropped = Dropped("incoming", "weird/dirwithdata/", put["ETag"].strip('"'), started, time.time())
    text = drop(store, "incoming", "weird/notaphoto/", b"this is not a photo\n")
    marker_at = time.time()
    marker = s3.put_object(Bucket="incoming", Key=folder, Body=b"")
    marker_dropped = Dropped("incoming", folder, marker["ETag"].strip('"'), marker_at, time.time())
    # THEN the photo ends done, with its record and its production object (.jpg from its content)
    record = assert_landed(store, dropped, ".jpg")
    assert record["incoming_key"] == "weird/dirwithdata/" and record["size"] == len(photo("1_17.jpg"))
    assert store.head("production", record["production_key"]).content_type == "image/jpeg"
    # AND the text file is quarantined under its id and the last segment of its key, with the reason
    rejected = wait_final(store, text)
    assert rejected["status"] == "rejected" and "not an image" in rejected["reason"]
    assert rejected["quarantine_key"] == f"{rejected['id']}/notaphoto"
    assert "not an image" in store.get_tags("quarantine", rejected["quarantine_key"])["reason"]
    # AND the folder marker, through a reconciler pass begun after its grace, stays in incoming without a record
    grace = stack.settings.reconcile_grace_s
    wait_until(
        lambda: names.parse_iso(readyz(stack)["last_reconcile"]["started_at"]) > marker_at + grace + 0.5,
        30,
        "a reconciler pass after the folder marker's grace",
    )
    assert readyz(stack)["last_reconcile"]["markers"] >= 1
    assert folder in [o.key for o in store.list("incoming", prefix=folder)]
    for pid in marker_dropped.candidate_ids:
        with pytest.raises(NotFound):
            store.get_json("events", names.record_key(pid))
    # MinIO keeps no version id for a folder marker (it stores it as a directory)
    version = {"VersionId": marker["VersionId"]} if marker.get("VersionId") else {}
    s3.delete_object(Bucket="incoming", Key=folder, **version)


def test_multipart_upload_over_5_mib(stack, store, s3):
    data = big_jpeg()
    assert len(data) > 5 * 1024 * 1024
    dropped = upload_multipart(s3, "large/multi part.jpg", data)
    assert "-" in dropped.etag  # really multipart: MinIO fires CompleteMultipartUpload
    assert_landed(store, dropped, ".jpg")


def test_mc_cp_drop(stack, store, mc, tmp_path):
    source = tmp_path / "soup photo.jpg"
    source.write_bytes(photo("9_452.jpg"))
    started = time.time()
    mc("cp", str(source), "local/incoming/mc drops/soup photo.jpg")
    dropped = Dropped(
        "incoming", "mc drops/soup photo.jpg", hashlib.md5(source.read_bytes()).hexdigest(), started, time.time()
    )
    record = assert_landed(store, dropped, ".jpg")
    assert record["source"] == "bucket" and record["incoming_key"] == "mc drops/soup photo.jpg"


def test_a_phone_backup_folder_dropped_with_mc_lands_whole(stack, store, mc, tmp_path):
    # the case: a camera roll copied with `mc cp --recursive` lost every HEIC to quarantine
    folder = tmp_path / "Camera Roll"
    folder.mkdir()
    photos = {
        "IMG_0001.HEIC": (phone_photos.heic(phone_photos.turned()), ".heic"),
        "IMG_0002.heic": (phone_photos.heic(photo("10_36.jpg")), ".heic"),
        "PXL_0003.avif": (phone_photos.avif(photo("4_87.jpg")), ".avif"),
        "IMG_0004.JPG": (photo("1_17.jpg"), ".jpg"),
    }
    for name, (data, _) in photos.items():
        (folder / name).write_bytes(data)
    started = time.time()
    mc("cp", "--recursive", str(folder), "local/incoming/backup/")
    for name, (data, ext) in photos.items():
        dropped = Dropped("incoming", f"backup/Camera Roll/{name}", hashlib.md5(data).hexdigest(), started, time.time())
        record = assert_landed(store, dropped, ext)
        assert (
            store.head("production", record["production_key"]).content_type == dict(names.IMAGE_FORMATS.values())[ext]
        )
        assert store.read("production", record["production_key"]) == data  # the photo itself, not a conversion


def s3_requests(stack) -> dict[str, float]:
    """The function's S3 requests so far, by operation (its own metric)."""
    with urllib.request.urlopen(f"{stack.function_base}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {
        op: float(n) for op, n in re.findall(r'^gourmetgram_s3_requests_total\{operation="(\w+)"\} (\S+)$', text, re.M)
    }


def test_a_dropped_photo_costs_five_requests_and_leaves_no_version_in_incoming(stack, store):
    key = f"requests/{uuid.uuid4().hex}.jpg"
    before = s3_requests(stack)
    record = assert_landed(store, drop(store, "incoming", key, photo("4_87.jpg")), ".jpg")
    # Listings are the reconciler's timer (every 10 s, whatever is dropped), not this photo's requests
    used = {
        op: n - before.get(op, 0)
        for op, n in s3_requests(stack).items()
        if op not in ("ListObjectsV2", "ListObjectVersions")
    }
    # GET (conditional on the event's ETag, pinned to its version), claim, copy, record, delete of that version
    assert {op: n for op, n in used.items() if n} == {
        "GetObject": 1,
        "PutObject": 2,
        "CopyObject": 1,
        "DeleteObject": 1,
    }, used
    mc = current.client(stack.settings)  # no version of the photo left behind, and no delete marker
    assert list(mc.list_objects("incoming", prefix=key, include_version=True)) == []
    assert record["decode"] in ("exact", "fast 1/2", "fast 1/4", "fast 1/8")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_photos_land_in_the_class_the_reference_model_names(stack, store, name):
    key = f"food11/{uuid.uuid4().hex[:6]}-{name.split('/')[-1]}"
    record = assert_landed(store, drop(store, "incoming", key, fixture_file(name).read_bytes()), ".jpg")
    assert record["class_index"] == EXPECTED[name]["predicted_index"]
    assert record["production_key"].startswith(f"class_{EXPECTED[name]['predicted_index']:02d}/")
    assert record["confidence"] == pytest.approx(EXPECTED[name]["probability"], abs=1e-3)
    assert not record["model_version"].startswith("demo-")


def test_a_text_file_is_quarantined_with_a_reason(stack, store, mc):
    record = wait_final(store, drop(store, "incoming", "notes/readme.jpg", b"this is not a photo\n"))
    assert record["status"] == "rejected" and "not an image" in record["reason"]
    assert record["quarantine_key"] == f"{record['id']}/readme.jpg"  # its own key: a second readme.jpg replaces nothing
    readable = "not an image: the content is in no image format we accept JPEG PNG GIF WebP BMP TIFF HEIC/HEIF or AVIF"
    assert store.get_tags("quarantine", record["quarantine_key"])["reason"] == readable  # issue 25: no _JPEG_ PNG_
    assert store.get_tags("events", names.record_key(record["id"])) == {
        "status": "rejected",
        "source": "bucket",
        "file_name": "notes/readme.jpg",
        "reason": readable,
    }
    metadata = store.head("events", names.record_key(record["id"])).metadata
    assert urllib.parse.unquote(metadata["reason"]) == record["reason"]  # the exact reason, brackets and commas
    # an operator lists the rejections with `mc find --tags` (a regex per tag)
    assert f"local/events/{record['id']}.json" in mc("find", "local/events", "--tags", "status=^rejected$").split()
    wait_until(lambda: not any(o.key == "notes/readme.jpg" for o in store.list("incoming")), 10, "incoming empty")


def test_web_upload_long_poll_and_feedback(stack, store):
    accepted = post_photo(stack.web_url, photo("7_226.jpg"), "rice.jpg")
    with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
        record = json.load(r)
    assert record["status"] == "done" and record["source"] == "web" and record["id"] == accepted["id"]
    assert production_objects(store, accepted["id"]) == [record["production_key"]]
    assert store.get_tags("production", record["production_key"])["source"] == "web"
    request = urllib.request.Request(
        f"{stack.web_url}/predictions/{accepted['id']}/feedback",
        method="POST",
        data=json.dumps({"corrected_class": "Seafood", "flagged": True}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {accepted['feedback_token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
    tags = store.get_tags("production", record["production_key"])
    assert tags["corrected_class"] == "Seafood" and tags["flagged"] == "true"
    shown = store.get_tags("events", names.record_key(record["id"]))  # the record's own tags follow the feedback
    assert (shown["corrected_class"], shown["flagged"], shown["file_name"]) == ("Seafood", "true", "rice.jpg")


@pytest.mark.parametrize(
    "again_key",
    [
        pytest.param("redrop/{uuid}.jpg", id="under-another-name"),
        pytest.param("{id}.jpg", id="under-its-upload-key"),
    ],
)
def test_a_production_photo_dropped_again_gets_its_own_object_and_record(stack, store, mc, again_key):
    # GIVEN a web upload that is labelled
    first = wait_final(store, post_photo(stack.web_url, photo("9_452.jpg"))["id"])
    assert first["status"] == "done"
    # WHEN an operator copies its production object back into incoming (a re-run after a model change):
    # mc copies server-side and keeps the metadata, prediction-id included
    key = again_key.format(uuid=uuid.uuid4().hex, id=first["id"])
    # (no wait for the next second: the same bytes under the same key within the second of the upload are
    # another version all the same, told apart by its version id)
    started = time.time()
    mc("cp", f"local/production/{first['production_key']}", f"local/incoming/{key}")
    etag = store.head("production", first["production_key"]).etag
    # THEN it ends in a record and a production object of its own, and the first photo's are untouched
    again = wait_final(store, Dropped("incoming", key, etag, started, time.time()))
    assert again["status"] == "done" and again["id"] != first["id"] and again["source"] == "bucket"
    assert production_objects(store, again["id"]) == [again["production_key"]]
    assert production_objects(store, first["id"]) == [first["production_key"]]
    assert wait_final(store, first["id"]) == first
    wait_until(lambda: not any(o.key == key for o in store.list("incoming")), 10, f"incoming/{key} removed")


def test_the_same_bytes_put_twice_within_one_second_are_two_photos(store, s3):
    # GIVEN the same photo PUT twice under one key within one second (`mc cp` run twice, a requeue): two
    # versions that key, ETag and Last-Modified (whole seconds) cannot tell apart
    data = photo("9_452.jpg")
    for _ in range(5):
        key = f"twice/{uuid.uuid4().hex}.jpg"
        started = time.time()
        versions = {s3.put_object(Bucket="incoming", Key=key, Body=data)["VersionId"] for _ in range(2)}
        ended = time.time()
        if int(started) == int(ended):
            break
    else:
        pytest.fail("could not PUT twice within one second")
    etag = hashlib.md5(data).hexdigest()
    # THEN each version ends in a record and a production object of its own
    seconds = range(int(started) - 1, int(ended) + 2)
    candidates = [
        names.drop_id("incoming", key, etag, moment, version)
        for moment in (datetime.fromtimestamp(t, UTC) for t in seconds)
        for version in (None, *versions)
    ]

    def final_records() -> list[dict]:
        docs = []
        for pid in candidates:
            try:
                doc, _ = store.get_json("events", names.record_key(pid))
            except NotFound:
                continue
            docs += [doc] if doc["status"] == "done" else []
        return docs

    records = wait_until(lambda: r if len(r := final_records()) == 2 else None, 60, "two done records")
    assert {r["incoming_version"] for r in records} == versions
    for record in records:
        assert production_objects(store, record["id"]) == [record["production_key"]]
    wait_until(lambda: all(o.key != key for o in store.list_versions("incoming")), 10, f"incoming/{key} emptied")


def test_function_readiness_reports_subscription_queue_and_reconciler(stack):
    with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
        ready = json.load(r)
    assert ready["ready"] and ready["subscription"] == "ok" and ready["minio"] == "ok" and ready["problems"] == []
    assert ready["model_version"].startswith("food11-") and not ready["demo_model"]
    last = ready["last_reconcile"]  # the first pass runs at start
    assert last["started_at"].endswith("Z") and last["errors"] == []
    # every object the pass listed is accounted for
    assert last["listed"] == (
        last["queued"] + last["in_grace"] + last["in_flight"] + last["deferred"] + last["markers"]
    )


def test_the_event_log_shows_an_outcome_on_the_page_api_and_in_the_terminal(stack, store):
    key = f"log/{uuid.uuid4().hex}.jpg"
    record = assert_landed(store, drop(store, "incoming", key, photo("1_17.jpg")), ".jpg")
    request = urllib.request.Request(
        f"{stack.web_url}/review/api/events?limit=500",
        headers={"Authorization": f"Bearer {stack.settings.local_review_token}"},
    )  # the operators' log
    with urllib.request.urlopen(request, timeout=10) as r:
        rows = {row["id"]: row for row in json.load(r)}
    assert rows[record["id"]]["incoming_key"] == key and rows[record["id"]]["status"] == "done"
    env = {**os.environ, **stack.settings.to_env()}
    shown = subprocess.run(
        [sys.executable, "-m", "gourmetgram", "events", "--limit", "500"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    [line] = [line for line in shown.splitlines() if key in line]
    assert "done" in line and record["predicted_class"] in line
