"""The function's `POST /nudge`: the frontend's narrow credential, good for its own web uploads only."""

import json
import time

import pytest
from starlette.testclient import TestClient

from classifier_fn.app import create_app
from classifier_fn.inference import model
from gourmetgram import names
from tests.conftest import load_event, photo


@pytest.fixture(scope="module")
def demo():
    return model.load(None)


@pytest.fixture
def client(settings, fake_store, demo):
    app = create_app(settings, store=fake_store, loaded=demo, run_check=False, run_reconciler=False)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tokens(settings):
    return {
        "webhook": {"Authorization": f"Bearer {settings.webhook_token}"},
        "nudge": {"Authorization": f"Bearer {settings.effective_nudge_token}"},
    }


def web_upload(store, data: bytes = b"", **metadata) -> tuple[str, str, str]:
    """An object stored as the frontend stores an upload: (id, key, etag)."""
    pid = names.upload_id()
    key = f"{pid}.jpg"
    etag = store.put("incoming", key, data or photo(), metadata={"prediction-id": pid, "source": "web", **metadata})
    return pid, key, etag


def watch_offers(client, monkeypatch) -> list:
    queue, offered = client.app.state.runtime.queue, []
    real = queue.offer
    monkeypatch.setattr(queue, "offer", lambda item: offered.append(item) or real(item))
    return offered


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


def test_a_nudge_for_a_web_upload_gets_it_labelled(client, fake_store, tokens, monkeypatch):
    # GIVEN a photo the frontend just stored
    pid, key, etag = web_upload(fake_store)
    version = fake_store.head("incoming", key).version_id
    offered = watch_offers(client, monkeypatch)
    # WHEN the frontend nudges the function with its own token
    r = client.post("/nudge", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    # THEN it is queued in the live lane, like a webhook event, and ends labelled
    assert r.status_code == 202 and r.json() == {"key": key, "result": "queued"}
    assert [(i.key, i.etag, i.lane) for i in offered] == [(key, etag, "live")]
    record = wait_record(fake_store, pid)
    assert record["status"] == "done" and record["source"] == "web" and record["id"] == pid
    assert fake_store.keys("incoming") == []
    # AND MinIO's own event for the same upload, arriving later, finds nothing left to do, without asking
    # MinIO: the function deleted exactly the version the event names
    doc = load_event("put_versioned")
    doc["Records"][0]["s3"]["object"].update({"key": key, "eTag": etag, "versionId": version})
    fake_store.calls.clear()
    again = client.post("/minio/events", json=doc, headers=tokens["webhook"])
    assert again.json()["results"][0]["result"] == "gone" and fake_store.calls == []


def test_a_quoted_etag_is_the_same_etag(client, fake_store, tokens):
    _, key, etag = web_upload(fake_store)
    r = client.post("/nudge", json={"key": key, "etag": f'"{etag}"'}, headers=tokens["nudge"])
    assert r.json()["result"] == "queued"


@pytest.mark.parametrize(
    ("path", "token"),
    [
        pytest.param("/minio/events", "nudge", id="nudge-token-on-the-webhook"),
        pytest.param("/nudge", "webhook", id="webhook-token-on-the-nudge"),
        pytest.param("/nudge", None, id="no-token-on-the-nudge"),
    ],
)
def test_each_endpoint_takes_only_its_own_token(client, fake_store, tokens, monkeypatch, path, token):
    _, key, etag = web_upload(fake_store)
    doc = load_event("put_simple")
    doc["Records"][0]["s3"]["object"].update({"key": key, "eTag": etag})
    body = doc if path == "/minio/events" else {"key": key, "etag": etag}
    offered = watch_offers(client, monkeypatch)
    fake_store.calls.clear()
    r = client.post(path, json=body, headers=tokens[token] if token else {})
    assert r.status_code == 401 and "token" in r.json()["error"]
    assert fake_store.calls == [] and offered == []


def test_the_nudge_token_is_not_the_webhook_token(settings):
    assert settings.effective_nudge_token != settings.webhook_token
    assert settings.replace(nudge_token="a-nudge-only-token").effective_nudge_token == "a-nudge-only-token"


@pytest.mark.parametrize(
    ("case", "status", "result"),
    [
        pytest.param("dropped-name", 400, "not_upload", id="a-dropped-photo-s-name"),
        pytest.param("in-a-folder", 400, "not_upload", id="an-upload-key-in-a-folder"),
        pytest.param("other-extension", 400, "not_upload", id="not-an-image-extension"),
        pytest.param("no-prediction-id", 400, "not_upload", id="an-upload-name-without-its-metadata"),
        pytest.param("foreign-prediction-id", 400, "not_upload", id="an-upload-name-with-another-id"),
        pytest.param("not-web", 400, "not_upload", id="an-upload-name-not-from-the-web"),
        pytest.param("missing", 200, "gone", id="a-missing-object"),
        pytest.param("wrong-etag", 200, "stale", id="a-wrong-etag"),
    ],
)
def test_a_nudge_for_anything_but_that_web_upload_queues_nothing(
    client, fake_store, tokens, monkeypatch, case, status, result
):
    pid = names.upload_id()
    key, etag = f"{pid}.jpg", fake_store.put("incoming", "bystander.jpg", photo())
    if case == "dropped-name":
        key = "bystander.jpg"
    elif case in ("in-a-folder", "other-extension"):
        key = f"uploads/{pid}.jpg" if case == "in-a-folder" else f"{pid}.exe"
        fake_store.put("incoming", key, photo(), metadata={"prediction-id": pid, "source": "web"})
    elif case != "missing":
        metadata = {
            "no-prediction-id": {"source": "web"},
            "foreign-prediction-id": {"prediction-id": names.upload_id(), "source": "web"},
            "not-web": {"prediction-id": pid, "source": "bucket"},
        }.get(case, {"prediction-id": pid, "source": "web"})
        etag = fake_store.put("incoming", key, photo(), metadata=metadata)
        etag = "0" * 32 if case == "wrong-etag" else etag
    before = fake_store.keys("incoming")
    offered = watch_offers(client, monkeypatch)
    r = client.post("/nudge", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    assert r.status_code == status and r.json()["result"] == result
    assert offered == [] and fake_store.keys("events") == [] and fake_store.keys("incoming") == before
    assert (
        client.app.state.runtime.metrics.registry.get_sample_value(
            "gourmetgram_nudge_requests_total", {"result": result}
        )
        == 1
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1]", id="list"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="deep"),
        pytest.param(json.dumps({"key": "x.jpg"}).encode(), id="no-etag"),
        pytest.param(json.dumps({"key": 1, "etag": "abc"}).encode(), id="key-not-a-string"),
        pytest.param(json.dumps({"key": "x.jpg", "etag": '""'}).encode(), id="empty-etag"),
    ],
)
def test_a_malformed_nudge_is_400(client, fake_store, tokens, body):
    r = client.post("/nudge", content=body, headers={**tokens["nudge"], "Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    assert fake_store.calls == []


def test_a_huge_nudge_is_413_unread(client, fake_store, tokens):
    r = client.post("/nudge", content=b" " * 100_000, headers={**tokens["nudge"], "Content-Type": "application/json"})
    assert r.status_code == 413 and fake_store.calls == []


def test_a_held_nudge_answers_once_its_photo_is_done(client, fake_store, tokens):
    pid, key, etag = web_upload(fake_store)
    r = client.post("/nudge?wait=10", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    assert r.status_code == 202 and r.json() == {"key": key, "result": "queued", "finished": "done"}
    # the answer comes after the final record: the frontend reads it at once
    doc, _ = fake_store.get_json("events", names.record_key(pid))
    assert doc["status"] == "done"
    assert client.app.state.runtime.finishes.held == 0
    assert (
        client.app.state.runtime.metrics.registry.get_sample_value("gourmetgram_nudge_held_total", {"finished": "done"})
        == 1
    )


def test_a_held_nudge_whose_photo_is_not_done_in_time_says_so(client, fake_store, tokens, monkeypatch):
    _, key, etag = web_upload(fake_store)
    queue = client.app.state.runtime.queue
    monkeypatch.setattr(queue, "offer", lambda item: True)  # queued, but no worker will ever take it
    r = client.post("/nudge?wait=0.2", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    assert r.status_code == 202 and r.json() == {"key": key, "result": "queued", "finished": None}
    assert client.app.state.runtime.finishes.held == 0


def test_past_the_held_nudges_limit_a_nudge_is_answered_without_waiting(client, fake_store, tokens, monkeypatch):
    from classifier_fn.pipeline.finishes import Finishes

    rt = client.app.state.runtime
    monkeypatch.setattr(rt, "finishes", Finishes(0))
    monkeypatch.setattr(rt.queue, "offer", lambda item: True)  # would never finish: a wait would last 10 s
    _, key, etag = web_upload(fake_store)
    r = client.post("/nudge?wait=10", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    assert r.status_code == 202 and r.json() == {"key": key, "result": "queued"}


@pytest.mark.parametrize("wait", ["x", "-1", "nan", "inf", "10.5", ""])
def test_a_hold_out_of_range_is_400(client, fake_store, tokens, wait):
    _, key, etag = web_upload(fake_store)
    fake_store.calls.clear()
    r = client.post(f"/nudge?wait={wait}", json={"key": key, "etag": etag}, headers=tokens["nudge"])
    assert r.status_code == 400 and "wait must be" in r.json()["error"]
    assert fake_store.calls == []


def test_held_nudges_take_a_quarter_of_the_connection_limit_at_most(settings, fake_store, demo):
    from gourmetgram.held_nudge import HELD

    app = create_app(
        settings.replace(function_connection_limit=40),
        store=fake_store,
        loaded=demo,
        run_check=False,
        run_reconciler=False,
    )
    with TestClient(app) as c:
        assert c.app.state.runtime.finishes.limit == 10
    app = create_app(settings, store=fake_store, loaded=demo, run_check=False, run_reconciler=False)
    with TestClient(app) as c:
        assert c.app.state.runtime.finishes.limit == HELD
