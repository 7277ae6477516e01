import threading
import time
import uuid

import pytest

from classifier_fn.outcome import Outcome, Status
from gourmetgram import names
from ingest import create_app
from tests.conftest import photo

PID = "6f1c1f5e-2a55-4c4c-9b44-3c5d2f0a9e01"


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings, store=fake_store).test_client()


def write(store, status: Status, **fields) -> None:
    o = Outcome(id=PID, status=status, incoming_key=f"{PID}.jpg", incoming_etag="e", source="web", **fields)
    store.put_json("events", names.record_key(PID), o.to_json())


def done(store) -> None:
    store.put("production", f"class_09/{PID}.jpg", photo(), tags={"predicted_class": "Soup"})
    write(store, Status.DONE, predicted_class="Soup", class_index=9, confidence=0.9,
          production_key=f"class_09/{PID}.jpg")


def test_unknown_and_invalid_ids_are_404(client):
    assert client.get(f"/predictions/{uuid.uuid4()}").status_code == 404
    assert client.get("/predictions/..%2F..%2Fetc").status_code == 404
    assert "no prediction" in client.get("/predictions/abc").get_json()["error"]


def test_queued_upload_is_pending(client, fake_store):
    fake_store.put("incoming", f"{PID}.jpg", photo())
    body = client.get(f"/predictions/{PID}").get_json()
    assert body == {"id": PID, "status": "pending", "stage": "queued"}


def test_long_poll_returns_as_soon_as_the_record_is_final(client, fake_store):
    write(fake_store, Status.PENDING)
    threading.Timer(0.3, lambda: done(fake_store)).start()
    started = time.monotonic()
    body = client.get(f"/predictions/{PID}?wait=30").get_json()
    assert body["status"] == "done" and body["predicted_class"] == "Soup"
    assert time.monotonic() - started < 20  # answered when final, not at the end of the 30 s window


def test_long_poll_gives_up_with_the_current_state(client, fake_store):
    write(fake_store, Status.PENDING)
    assert client.get(f"/predictions/{PID}?wait=0.2").get_json()["status"] == "pending"
    assert client.get(f"/predictions/{PID}?wait=soon").status_code == 400


def test_feedback_tags_the_production_object_and_the_record(client, fake_store):
    done(fake_store)
    r = client.post(f"/predictions/{PID}/feedback", json={"corrected_class": "egg", "flagged": True})
    assert r.status_code == 200 and r.get_json()["saved"] == {"corrected_class": "Egg", "flagged": "true"}
    tags = fake_store.get_tags("production", f"class_09/{PID}.jpg")
    assert tags == {"predicted_class": "Soup", "corrected_class": "Egg", "flagged": "true"}
    record, _ = fake_store.get_json("events", names.record_key(PID))
    assert record["corrected_class"] == "Egg" and record["flagged"] is True


@pytest.mark.parametrize(("body", "status", "message"), [
    pytest.param({"corrected_class": "Pizza"}, 400, "not a Food-11 class", id="unknown-class"),
    pytest.param({}, 400, "send corrected_class", id="empty"),
])
def test_bad_feedback(client, fake_store, body, status, message):
    done(fake_store)
    r = client.post(f"/predictions/{PID}/feedback", json=body)
    assert r.status_code == status and message in r.get_json()["error"]


def test_feedback_needs_a_done_prediction(client, fake_store):
    assert client.post(f"/predictions/{PID}/feedback", json={"flagged": True}).status_code == 404
    write(fake_store, Status.REJECTED, reason="not an image")
    assert client.post(f"/predictions/{PID}/feedback", json={"flagged": True}).status_code == 409
