import base64
import copy
import time
from urllib.parse import quote_plus

import pytest
from starlette.testclient import TestClient

from classifier_fn.app import create_app
from classifier_fn.inference import model
from gourmetgram import names
from gourmetgram.store import StoreUnavailable
from gourmetgram_tools.client import wait_outcome
from tests.conftest import load_event, photo
from tests.unit.test_store_errors import FullMinio, full_store

TOKEN = "gourmetgram-dev-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def demo():
    return model.load(None)


@pytest.fixture
def client(settings, fake_store, demo):
    app = create_app(settings, store=fake_store, loaded=demo, run_check=False, run_reconciler=False)
    with TestClient(app) as c:
        yield c


def event_for(store, key: str, name: str = "put_simple") -> dict:
    """A captured MinIO body, pointed at an object that exists in the fake store (at its latest version, when
    the body was captured with versioning on)."""
    doc = copy.deepcopy(load_event(name))
    info = store.head("incoming", key)
    obj = doc["Records"][0]["s3"]["object"]
    obj.update({"key": key.replace(" ", "+"), "eTag": info.etag})
    if "versionId" in obj:
        obj["versionId"] = info.version_id
    doc["Key"] = f"incoming/{key}"
    return doc


def test_a_valid_event_is_queued_at_once_and_processed(client, fake_store):
    etag = fake_store.put("incoming", "photo.jpg", photo())
    pid = names.drop_id("incoming", "photo.jpg", etag, fake_store.head("incoming", "photo.jpg").last_modified)
    r = client.post("/minio/events", json=event_for(fake_store, "photo.jpg"), headers=AUTH)
    assert r.status_code == 202 and r.json()["results"] == [{"key": "photo.jpg", "result": "queued"}]
    assert wait_outcome(fake_store, "events", pid, timeout=20)["status"] == "done"
    assert fake_store.keys("incoming") == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": TOKEN}, id="no-scheme"),
    ],
)
def test_wrong_or_missing_token_is_401_and_nothing_happens(client, fake_store, headers):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    fake_store.calls.clear()
    r = client.post("/minio/events", json=doc, headers=headers)
    assert r.status_code == 401
    assert fake_store.calls == [] and fake_store.keys("events") == []


def test_head_is_answered_at_once(client, fake_store):
    assert client.head("/minio/events").status_code == 200
    assert fake_store.calls == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"{nope", 400, id="malformed"),
        pytest.param(b'{"Records": "x"}', 400, id="wrong-shape"),
        pytest.param(b"x" * 300_000, 413, id="huge"),
    ],
)
def test_hostile_bodies_get_a_4xx_and_touch_nothing(client, fake_store, body, status):
    r = client.post("/minio/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status and "error" in r.json()
    assert fake_store.calls == []


@pytest.mark.parametrize(
    ("name", "result"),
    [
        pytest.param("put_tagging", "ignored", id="tagging"),
        pytest.param("delete", "ignored", id="delete"),
        pytest.param("other_bucket_put", "other_bucket", id="other-bucket"),
    ],
)
def test_events_that_are_not_work_are_acknowledged(client, fake_store, name, result):
    r = client.post("/minio/events", json=load_event(name), headers=AUTH)
    assert r.status_code == 200 and [x["result"] for x in r.json()["results"]] == [result]
    assert fake_store.calls == []


def test_a_photo_under_a_key_ending_in_a_slash_is_queued_and_labelled(client, fake_store):
    # GIVEN a JPEG put under a key ending in '/' (its event carries its size; a folder marker's has none)
    etag = fake_store.put("incoming", "weird/dirwithdata/", photo())
    pid = names.drop_id(
        "incoming", "weird/dirwithdata/", etag, fake_store.head("incoming", "weird/dirwithdata/").last_modified
    )
    # WHEN MinIO's event comes, THEN it is queued and ends done, not ignored as a folder
    r = client.post("/minio/events", json=event_for(fake_store, "weird/dirwithdata/"), headers=AUTH)
    assert r.status_code == 202 and r.json()["results"] == [{"key": "weird/dirwithdata/", "result": "queued"}]
    assert wait_outcome(fake_store, "events", pid, timeout=20)["status"] == "done"


def test_a_zero_byte_folder_marker_event_is_ignored(client, fake_store):
    fake_store.put("incoming", "folder/", b"")
    r = client.post("/minio/events", json=event_for(fake_store, "folder/", "put_zero_bytes"), headers=AUTH)
    assert r.status_code == 200 and r.json()["results"] == [{"key": "folder/", "result": "ignored"}]
    assert fake_store.keys("incoming") == ["folder/"] and fake_store.keys("events") == []


def wait_items(client, status: str, count: int = 1, timeout: float = 20.0) -> None:
    """Until the workers have ended `count` items with `status`."""
    deadline = time.monotonic() + timeout
    while sample(client, "gourmetgram_items_total", status=status, lane="live") < count:
        assert time.monotonic() < deadline, f"no item ended {status}"
        time.sleep(0.02)


def test_the_door_asks_minio_nothing_and_a_photo_costs_five_requests(client, fake_store):
    # GIVEN a photo dropped into a bucket with versioning, and MinIO's event for it (naming its version)
    etag = fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg", "put_versioned")
    fake_store.calls.clear()
    # WHEN the event is posted
    r = client.post("/minio/events", json=doc, headers=AUTH)
    assert r.status_code == 202
    wait_items(client, "done")
    # THEN the worker's GET is the only look at the object: GET, claim, copy, record, delete of that version
    assert fake_store.calls == ["fetch", "put_json", "copy", "put_json", "delete"]
    assert fake_store.keys("incoming") == [] and fake_store.versions("incoming", "photo.jpg") == []
    # AND the same event again (MinIO redelivers) is answered without a request
    fake_store.calls.clear()
    again = client.post("/minio/events", json=doc, headers=AUTH)
    assert again.status_code == 200 and again.json()["results"][0]["result"] == "gone" and fake_store.calls == []
    assert etag == doc["Records"][0]["s3"]["object"]["eTag"]


def test_an_event_for_a_missing_or_changed_object_is_queued_and_dropped_by_the_worker(client, fake_store):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    doc["Records"][0]["s3"]["object"]["eTag"] = "0" * 32
    assert client.post("/minio/events", json=doc, headers=AUTH).json()["results"][0]["result"] == "queued"
    wait_items(client, "stale")
    doc["Records"][0]["s3"]["object"]["key"] = "nothing-here.jpg"
    r = client.post("/minio/events", json=doc, headers=AUTH)
    assert r.status_code == 202 and r.json()["results"][0]["result"] == "queued"
    wait_items(client, "gone")
    assert fake_store.keys("events") == [] and fake_store.keys("incoming") == ["photo.jpg"]


def test_an_event_names_its_version_which_is_worked_even_after_a_newer_upload(client, fake_store):
    # GIVEN a photo and its event, and another photo uploaded under the same key before the worker came
    fake_store.put("incoming", "photo.jpg", photo())
    first = event_for(fake_store, "photo.jpg", "put_versioned")
    fake_store.age("incoming", "photo.jpg", 5)
    fake_store.put("incoming", "photo.jpg", photo("10_36.jpg"))
    second = event_for(fake_store, "photo.jpg", "put_versioned")
    # WHEN both events arrive
    for doc in (first, second):
        assert client.post("/minio/events", json=doc, headers=AUTH).status_code == 202
    wait_items(client, "done", count=2)
    # THEN each version was labelled on its own, and both are gone from incoming (no version left behind)
    records = [fake_store.get_json("events", key)[0] for key in fake_store.keys("events")]
    assert sorted(r["incoming_etag"] for r in records) == sorted(
        {first["Records"][0]["s3"]["object"]["eTag"], second["Records"][0]["s3"]["object"]["eTag"]}
    )
    assert fake_store.keys("incoming") == [] and fake_store.versions("incoming", "photo.jpg") == []


def test_storage_down_still_takes_the_event_and_leaves_the_photo_for_the_reconciler(client, fake_store):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    fake_store.down = True
    assert client.post("/minio/events", json=doc, headers=AUTH).status_code == 202  # nothing to ask MinIO yet
    wait_items(client, "unavailable")  # nothing recorded: the reconciler takes it
    fake_store.down = False
    assert fake_store.keys("incoming") == ["photo.jpg"] and fake_store.keys("events") == []


def test_predict_is_compatible_with_the_course_server(client):
    r = client.post("/predict", json={"image": base64.b64encode(photo()).decode()})
    assert r.status_code == 200
    body = r.json()
    assert body["prediction"] in names.CLASSES and 0 < body["probability"] <= 1
    assert client.post("/predict", json={"image": "!!!"}).status_code == 422
    bad = client.post("/predict", json={"image": base64.b64encode(b"text").decode()})
    assert bad.status_code == 422 and "not an image" in bad.json()["detail"]


def test_health_ready_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["demo_model"] and ready["model_version"].startswith("demo-")
    assert set(ready["queue"]) == {"live", "backlog", "in_flight", "oldest_age_s"}
    assert ready["last_reconcile"] is None  # this app runs no reconciler
    assert "gourmetgram_items_total" in client.get("/metrics").text


def test_readyz_is_not_ready_while_minio_refuses_writes_for_full_drives(settings, demo):
    # GIVEN the function on a MinIO whose drives are full (reads answered, writes refused: the SDK's real error)
    http = FullMinio()
    store = full_store(http)
    app = create_app(settings, store=store, loaded=demo, run_check=False, run_reconciler=False)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        # WHEN a write (a photo's claim) is refused
        with pytest.raises(StoreUnavailable):  # transient: the worker retries, the photo waits in incoming
            store.put_json("events", "a.json", {"id": "a"})
        # THEN /readyz says not ready, and why, though MinIO answers
        r = client.get("/readyz")
        body = r.json()
        assert r.status_code == 503 and not body["ready"] and body["minio"] == "ok"
        assert any("storage is full" in p and "XMinioStorageFull" in p for p in body["problems"]), body["problems"]
        # AND ready again once a write goes through
        http.full = False
        store.put_json("events", "a.json", {"id": "a"})
        assert client.get("/readyz").json()["ready"] is True


DEEP = "[" * 100_000 + "]" * 100_000  # Python's json gives up with a RecursionError near 1,000 levels


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[1]", "not a list", id="list"),
        pytest.param(b'"x"', "not a string", id="string"),
        pytest.param(b"42", "not a number", id="number"),
        pytest.param(b"null", "not null", id="null"),
        pytest.param(DEEP.encode(), "nested too deeply", id="deep-list"),
        pytest.param(b'{"Records": ' + DEEP.encode() + b"}", "nested too deeply", id="deep-records"),
        pytest.param(b'{"Records": [' + DEEP.encode() + b"]}", "nested too deeply", id="deep-record"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_never_500(client, fake_store, monkeypatch, body, message):
    offered = watch_offers(client, monkeypatch)
    r = client.post("/minio/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"]
    assert fake_store.calls == [] and offered == []
    assert sample(client, "gourmetgram_webhook_requests_total", result="malformed") == 1


def watch_offers(client, monkeypatch) -> list:
    """Everything offered to the work queue from now on (still queued as usual)."""
    queue, offered = client.app.state.runtime.queue, []
    real = queue.offer
    monkeypatch.setattr(queue, "offer", lambda item: offered.append(item) or real(item))
    return offered


def sample(client, name: str, **labels) -> float:
    return client.app.state.runtime.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    "raw_key",
    [
        pytest.param(quote_plus("a/../b.jpg"), id="dotdot-segment"),
        pytest.param(quote_plus("../b.jpg"), id="leading-dotdot"),
        pytest.param(quote_plus("a/ .. /b.jpg"), id="spaced-dotdot"),
        pytest.param(quote_plus("a/./b.jpg"), id="dot-segment"),
        pytest.param(quote_plus("a\x00b.jpg"), id="nul"),
        pytest.param(quote_plus("a\x1b[31mb.jpg"), id="escape-control"),
        pytest.param(quote_plus("a\nb.jpg"), id="newline"),
        pytest.param(quote_plus("a//b.jpg"), id="double-slash"),
        pytest.param(quote_plus("/b.jpg"), id="leading-slash"),
        pytest.param(quote_plus("x" * 2000 + ".jpg"), id="2000-characters"),
        pytest.param(quote_plus("é" * 513), id="1026-bytes-of-utf8"),
        pytest.param("caf%E9.jpg", id="not-utf8"),
    ],
)
def test_an_authenticated_event_for_an_impossible_key_is_2xx_invalid_and_touches_nothing(
    client, fake_store, monkeypatch, raw_key
):
    # GIVEN a correctly authenticated MinIO-style event naming a key no MinIO object can have
    doc = copy.deepcopy(load_event("put_simple"))
    doc["Records"][0]["s3"]["object"]["key"] = raw_key
    offered = watch_offers(client, monkeypatch)
    # WHEN it is posted
    r = client.post("/minio/events", json=doc, headers=AUTH)
    # THEN MinIO's sender moves on (2xx), nothing is read from the store nor queued, and it is counted
    assert r.status_code == 200
    [result] = r.json()["results"]
    assert result["result"] == "invalid" and result["reason"].startswith("the key")
    assert fake_store.calls == [] and offered == []
    assert sample(client, "gourmetgram_webhook_requests_total", result="invalid") == 1
    assert 'gourmetgram_webhook_requests_total{result="invalid"} 1.0' in client.get("/metrics").text


def test_a_long_but_possible_key_is_still_work(client, fake_store):
    key = "d/" * 100 + "é" * 400 + ".jpg"  # 1,004 bytes: under S3's 1,024
    fake_store.put("incoming", key, photo())
    r = client.post("/minio/events", json=event_for(fake_store, key), headers=AUTH)
    assert r.status_code == 202 and r.json()["results"][0]["result"] == "queued"
