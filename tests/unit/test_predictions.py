import itertools
import threading
import time
import uuid

import pytest

from classifier_fn.outcome import Outcome, Status
from gourmetgram import names
from ingest import create_app
from tests.conftest import photo
from tests.fakes import FakeStore

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


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "-1", "1e9", "30.5", "abc", ""])
def test_a_wait_that_is_not_seconds_within_the_limit_is_refused(client, fake_store, wait):
    write(fake_store, Status.PENDING)
    r = client.get(f"/predictions/{PID}?wait={wait}")
    assert r.status_code == 400
    assert r.get_json()["error"] == f"wait must be a number of seconds from 0 to 30, not {wait!r}"
    assert fake_store.calls == ["put_json"]  # refused before MinIO is asked anything


@pytest.mark.parametrize("wait", ["0", "30", "12.5"])
def test_waits_within_the_limit_are_accepted(client, fake_store, wait):
    done(fake_store)
    assert client.get(f"/predictions/{PID}?wait={wait}").get_json()["status"] == "done"


def test_an_unknown_id_is_404_at_once_even_with_a_wait(client, fake_store):
    r = client.get(f"/predictions/{PID}?wait=30")
    assert r.status_code == 404 and "no prediction" in r.get_json()["error"]
    # the record, the backlog, the record again: no waiting on a photo that does not exist
    assert fake_store.calls == ["get_json", "list", "get_json"]


class FinishesWhileListed(FakeStore):
    """The function finishes the photo between the frontend's read of the record and its listing."""

    def list(self, bucket, prefix="", start_after=""):
        if bucket == "incoming" and self.buckets["incoming"]:
            done(self)  # the final record first, then the delete, as the function does
            self.buckets["incoming"].clear()
        return super().list(bucket, prefix, start_after)


def test_a_photo_finished_during_the_check_is_not_called_unknown(settings):
    store = FinishesWhileListed()
    store.put("incoming", f"{PID}.jpg", photo())
    r = create_app(settings, store=store).test_client().get(f"/predictions/{PID}")
    assert r.status_code == 200 and r.get_json()["status"] == "done"


def test_past_the_cap_a_poll_answers_the_current_status_at_once(settings, fake_store):
    app = create_app(settings.replace(long_poll_max_concurrent=1), store=fake_store)
    client = app.test_client()
    write(fake_store, Status.PENDING)
    # GIVEN the only long-poll slot taken by another waiting client
    slots = app.extensions["gourmetgram"]["long_polls"]
    assert slots.acquire(blocking=False)
    # WHEN one more client asks to wait 30 s
    r = client.get(f"/predictions/{PID}?wait=30")
    # THEN it gets the current status without waiting (one read, no polling)
    assert r.get_json()["status"] == "pending" and fake_store.calls.count("get_json") == 1
    # AND once the slot is free, a poll waits again until the record is final
    slots.release()
    threading.Timer(0.3, lambda: done(fake_store)).start()
    assert client.get(f"/predictions/{PID}?wait=30").get_json()["status"] == "done"


def test_a_poll_whose_client_has_gone_stops_reading(client, fake_store):
    write(fake_store, Status.PENDING)
    checks = itertools.count()
    # waitress's callable (with channel_request_lookahead): the client hangs up after its 3rd check
    gone = lambda: next(checks) >= 3  # noqa: E731
    r = client.get(f"/predictions/{PID}?wait=30", environ_overrides={"waitress.client_disconnected": gone})
    assert r.get_json()["status"] == "pending"
    assert fake_store.calls.count("get_json") == 1 + 3  # the first look, then three reads while waiting


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
