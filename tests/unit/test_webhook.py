import base64
import copy
import time

import pytest
from starlette.testclient import TestClient

from classifier_fn import model
from classifier_fn.app import create_app
from gourmetgram import names
from tests.conftest import load_event, photo

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
    """A captured MinIO body, pointed at an object that exists in the fake store."""
    doc = copy.deepcopy(load_event(name))
    info = store.head("incoming", key)
    doc["Records"][0]["s3"]["object"].update({"key": key.replace(" ", "+"), "eTag": info.etag})
    doc["Key"] = f"incoming/{key}"
    return doc


def wait_record(store, pid, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            doc, _ = store.get_json("events", names.record_key(pid))
            if doc["status"] != "pending":
                return doc
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no final record for {pid}")


def test_a_valid_event_is_queued_at_once_and_processed(client, fake_store):
    etag = fake_store.put("incoming", "photo.jpg", photo())
    pid = names.drop_id("incoming", "photo.jpg", etag, fake_store.head("incoming", "photo.jpg").last_modified)
    r = client.post("/minio/events", json=event_for(fake_store, "photo.jpg"), headers=AUTH)
    assert r.status_code == 202 and r.json()["results"] == [{"key": "photo.jpg", "result": "queued"}]
    assert wait_record(fake_store, pid)["status"] == "done"
    assert fake_store.keys("incoming") == []


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
    pytest.param({"Authorization": TOKEN}, id="no-scheme"),
])
def test_wrong_or_missing_token_is_401_and_nothing_happens(client, fake_store, headers):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    fake_store.calls.clear()
    r = client.post("/minio/events", json=doc, headers=headers)
    assert r.status_code == 401
    assert "head" not in fake_store.calls and fake_store.keys("events") == []


def test_head_is_answered_at_once(client, fake_store):
    assert client.head("/minio/events").status_code == 200
    assert fake_store.calls == []


@pytest.mark.parametrize(("body", "status"), [
    pytest.param(b"{nope", 400, id="malformed"),
    pytest.param(b'{"Records": "x"}', 400, id="wrong-shape"),
    pytest.param(b"x" * 300_000, 413, id="huge"),
])
def test_hostile_bodies_get_a_4xx_and_touch_nothing(client, fake_store, body, status):
    r = client.post("/minio/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status and "error" in r.json()
    assert fake_store.calls == []


def test_events_that_are_not_work_are_acknowledged(client, fake_store):
    for name in ("put_tagging", "delete", "other_bucket_put"):
        r = client.post("/minio/events", json=load_event(name), headers=AUTH)
        assert r.status_code == 200
    assert [x["result"] for x in r.json()["results"]] == ["other_bucket"]
    assert fake_store.calls == []


def test_an_event_for_a_missing_or_changed_object_is_2xx_and_not_queued(client, fake_store):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    doc["Records"][0]["s3"]["object"]["eTag"] = "0" * 32
    assert client.post("/minio/events", json=doc, headers=AUTH).json()["results"][0]["result"] == "stale"
    doc["Records"][0]["s3"]["object"]["key"] = "nothing-here.jpg"
    r = client.post("/minio/events", json=doc, headers=AUTH)
    assert r.status_code == 200 and r.json()["results"][0]["result"] == "gone"
    assert fake_store.keys("events") == []


def test_storage_down_asks_minio_to_retry(client, fake_store):
    fake_store.put("incoming", "photo.jpg", photo())
    doc = event_for(fake_store, "photo.jpg")
    fake_store.down = True
    assert client.post("/minio/events", json=doc, headers=AUTH).status_code == 503


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
