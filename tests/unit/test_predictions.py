import itertools
import threading
import time
import uuid

import pytest

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from ingest import create_app, tokens
from tests.conftest import photo
from tests.fakes import FakeStore
from tests.unit import test_review_page as review_page

PID = "6f1c1f5e-2a55-4c4c-9b44-3c5d2f0a9e01"
TOKEN = "the-uploaders-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PRODUCTION_KEY = f"class_09/{PID}.jpg"
MODEL_TAGS = {
    "predicted_class": "Soup",
    "confidence": "0.900",
    "timestamp": "2026-11-26T10:00:00Z",
    "model_version": "food11-test",
    "source": "web",
}


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings, store=fake_store).test_client()


def write(store, status: Status, **fields) -> None:
    o = Outcome(
        id=PID,
        status=status,
        incoming_key=f"{PID}.jpg",
        incoming_etag="e",
        source="web",
        feedback_token_sha256=tokens.digest(TOKEN),
        **fields,
    )
    store.put_json("events", names.record_key(PID), o.to_json())


def done(store, **fields) -> None:
    store.put("production", PRODUCTION_KEY, photo(), tags=MODEL_TAGS)
    write(
        store,
        Status.DONE,
        predicted_class="Soup",
        class_index=9,
        confidence=0.9,
        production_key=PRODUCTION_KEY,
        **fields,
    )


def record(store) -> dict:
    return store.get_json("events", names.record_key(PID))[0]


def test_unknown_and_invalid_ids_are_404(client):
    assert client.get(f"/predictions/{uuid.uuid4()}").status_code == 404
    assert client.get("/predictions/..%2F..%2Fetc").status_code == 404
    assert "no prediction" in client.get("/predictions/abc").get_json()["error"]


def test_the_poll_answer_carries_the_top_classes_the_page_shows(client, fake_store):
    top = [
        {"class": "Soup", "confidence": 0.41},
        {"class": "Bread", "confidence": 0.3},
        {"class": "Egg", "confidence": 0.1},
    ]
    done(fake_store, top=top)
    body = client.get(f"/predictions/{PID}").get_json()
    assert body["top"] == top and body["predicted_class"] == "Soup"


def test_the_uploader_never_sees_the_challengers_answer(client, fake_store):
    # The challenger's answer is for the operators' comparison: the uploader (anyone with the id) sees the
    # champion's, as the page shows it, and no other model's class for their photo.
    shadow = {"model_version": "food11-cccccccccccc", "predicted_class": "Rice", "class_index": 7, "confidence": 0.8}
    done(fake_store, shadow=shadow)
    body = client.get(f"/predictions/{PID}").get_json()
    assert body["predicted_class"] == "Soup" and "shadow" not in body
    assert record(fake_store)["shadow"] == shadow  # still in the record


def test_queued_upload_is_pending(client, fake_store):
    fake_store.put("incoming", f"{PID}.jpg", photo())
    body = client.get(f"/predictions/{PID}").get_json()
    assert body == {"id": PID, "status": "pending", "stage": "queued"}
    assert "list" in fake_store.calls  # not uploaded through this process: found by listing incoming


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
    # the first look, then a read after each of the two pauses begun before the client left: the first look is
    # the wait's first read, not made twice in a row
    assert fake_store.calls.count("get_json") == 1 + 2


def test_feedback_tags_the_production_object_and_the_record(client, fake_store):
    done(fake_store)
    r = client.post(f"/predictions/{PID}/feedback", json={"corrected_class": "egg", "flagged": True}, headers=AUTH)
    assert r.status_code == 200 and r.get_json()["saved"] == {"corrected_class": "Egg", "flagged": "true"}
    tags = fake_store.get_tags("production", PRODUCTION_KEY)
    assert tags == {**MODEL_TAGS, "corrected_class": "Egg", "flagged": "true"}
    assert record(fake_store)["corrected_class"] == "Egg" and record(fake_store)["flagged"] is True
    # when, to the millisecond: feedback later than a review brings the photo back for another review
    assert names.parse_iso(record(fake_store)["timestamps"]["feedback"]) == pytest.approx(time.time(), abs=60)


def test_flagged_false_unflags(client, fake_store):
    done(fake_store)
    assert client.post(f"/predictions/{PID}/feedback", json={"flagged": True}, headers=AUTH).status_code == 200
    assert client.post(f"/predictions/{PID}/feedback", json={"flagged": False}, headers=AUTH).status_code == 200
    assert record(fake_store)["flagged"] is False
    assert fake_store.get_tags("production", PRODUCTION_KEY) == {**MODEL_TAGS, "flagged": "false"}


def test_a_correction_to_the_predicted_class_is_no_correction_and_takes_an_earlier_one_back(client, fake_store):
    # GIVEN a Soup prediction
    done(fake_store)
    send = lambda body: client.post(f"/predictions/{PID}/feedback", json=body, headers=AUTH)  # noqa: E731
    # WHEN its uploader "corrects" it to Soup: nothing is saved as a correction
    r = send({"corrected_class": "soup"})
    assert r.status_code == 200 and r.get_json()["saved"] == {"corrected_class": None}
    assert "corrected_class" not in record(fake_store)
    assert fake_store.get_tags("production", PRODUCTION_KEY) == MODEL_TAGS
    # WHEN they pick Egg by mistake, then say Soup after all (with a flag)
    assert send({"corrected_class": "Egg"}).get_json()["saved"] == {"corrected_class": "Egg"}
    r = send({"corrected_class": "Soup", "flagged": True})
    # THEN the correction is gone from the record and the tags; the flag stays
    assert r.get_json()["saved"] == {"corrected_class": None, "flagged": "true"}
    assert "corrected_class" not in record(fake_store) and record(fake_store)["flagged"] is True
    assert fake_store.get_tags("production", PRODUCTION_KEY) == {**MODEL_TAGS, "flagged": "true"}


def test_tags_left_behind_by_an_interrupted_request_are_repaired_by_sending_it_again(client, fake_store):
    # GIVEN a correction that reached the record but not the tags (the frontend answered 503)
    done(fake_store, corrected_class="Egg")
    # WHEN the same feedback is sent again
    assert client.post(f"/predictions/{PID}/feedback", json={"corrected_class": "Egg"}, headers=AUTH).status_code == 200
    # THEN the tags follow the record
    assert fake_store.get_tags("production", PRODUCTION_KEY)["corrected_class"] == "Egg"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[1]", "must be a JSON object, not a list", id="list"),
        pytest.param(b'"x"', 'must be a JSON object, not the string "x"', id="string"),
        pytest.param(b"42", "must be a JSON object, not the number 42", id="number"),
        pytest.param(b"null", "must be a JSON object, not null", id="null"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "nested too deeply", id="deeply-nested-list"),
        pytest.param(b'{"a":' * 2000 + b"1" + b"}" * 2000, "nested too deeply", id="deeply-nested-object"),
        pytest.param(b"corrected_class=Egg", "not JSON", id="form-encoded"),
        pytest.param(b"", "not JSON", id="empty-body"),
        pytest.param(b'{"flagged": tru', "not JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", "not JSON", id="not-utf8"),
        pytest.param(b"1" * 5000, "not JSON", id="int-over-the-digit-limit"),
        pytest.param(b"{}", "send corrected_class", id="empty-object"),
        pytest.param(b'{"colour": "red"}', "unknown feedback field(s) 'colour'", id="unknown-field"),
        pytest.param(
            b'{"flagged": "true"}',
            'flagged must be true or false (a JSON boolean), not the string "true"',
            id="flagged-string-true",
        ),
        pytest.param(
            b'{"flagged": 1}', "flagged must be true or false (a JSON boolean), not the number 1", id="flagged-1"
        ),
        pytest.param(b'{"flagged": "yes"}', "flagged must be true or false", id="flagged-yes"),
        pytest.param(
            b'{"flagged": null}', "flagged must be true or false (a JSON boolean), not null", id="flagged-null"
        ),
        pytest.param(
            b'{"corrected_class": "Pizza"}',
            "'Pizza' is not a Food-11 class; the classes are Bread,",
            id="unknown-class",
        ),
        pytest.param(
            b'{"corrected_class": 5}',
            "corrected_class must be the name of a Food-11 class, not the number 5",
            id="class-number",
        ),
        pytest.param(
            b'{"corrected_class": ["Egg"]}',
            "corrected_class must be the name of a Food-11 class, not a list",
            id="class-list",
        ),
        pytest.param(b'{"corrected_class": null, "flagged": true}', "not null", id="class-null"),
    ],
)
def test_a_bad_feedback_body_is_a_clear_400_and_changes_nothing(client, fake_store, body, message):
    done(fake_store)
    r = client.post(f"/predictions/{PID}/feedback", data=body, content_type="application/json", headers=AUTH)
    assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()
    assert fake_store.get_tags("production", PRODUCTION_KEY) == MODEL_TAGS
    assert "corrected_class" not in record(fake_store) and "flagged" not in record(fake_store)


def test_a_feedback_body_over_16_kb_is_refused_unread(client, fake_store):
    done(fake_store)
    body = b'{"corrected_class": "Egg", "flagged": true' + b" " * 20_000 + b"}"
    r = client.post(f"/predictions/{PID}/feedback", data=body, content_type="application/json", headers=AUTH)
    assert r.status_code == 413 and "over 16 KB" in r.get_json()["error"]


def test_feedback_needs_a_done_prediction(client, fake_store):
    r = client.post(f"/predictions/{PID}/feedback", json={"flagged": True}, headers=AUTH)
    assert r.status_code == 404 and "no outcome record" in r.get_json()["error"]
    write(fake_store, Status.REJECTED, reason="not an image")
    r = client.post(f"/predictions/{PID}/feedback", json={"flagged": True}, headers=AUTH)
    assert r.status_code == 409 and "only a done one takes feedback" in r.get_json()["error"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "feedback needs the prediction's feedback token", id="no-header"),
        pytest.param({"Authorization": "Bearer "}, "feedback needs the prediction's feedback token", id="empty-bearer"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, "feedback needs the prediction's feedback token", id="basic"),
        pytest.param(
            {"Authorization": "Bearer someone-elses-token"}, "only its uploader may give feedback", id="wrong"
        ),
        pytest.param(
            {"Authorization": f"Bearer {tokens.digest(TOKEN)}"},
            "only its uploader may give feedback",
            id="the-hash-itself",
        ),
    ],
)
def test_feedback_without_the_uploaders_token_is_403_and_changes_nothing(client, fake_store, headers, message):
    done(fake_store)
    r = client.post(f"/predictions/{PID}/feedback", json={"corrected_class": "Egg"}, headers=headers)
    assert r.status_code == 403 and message in r.get_json()["error"]
    assert fake_store.get_tags("production", PRODUCTION_KEY) == MODEL_TAGS
    assert "corrected_class" not in record(fake_store)


def test_a_prediction_without_a_token_hash_takes_no_feedback(client, fake_store):
    # A dropped photo (or an upload from before tokens) has no hash: no token opens it, not even an empty one.
    done(fake_store)
    doc = record(fake_store)
    del doc[names.FEEDBACK_TOKEN_FIELD]
    fake_store.put_json("events", names.record_key(PID), doc)
    for token in (TOKEN, "None", "null", "x"):
        r = client.post(
            f"/predictions/{PID}/feedback", json={"flagged": True}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 403 and "only its uploader" in r.get_json()["error"]
    assert "flagged" not in fake_store.get_tags("production", PRODUCTION_KEY)


def test_the_token_hash_never_leaves_the_frontend(settings, fake_store):
    client = create_app(settings.replace(review_token=review_page.TOKEN), store=fake_store).test_client()
    done(fake_store)
    digest = tokens.digest(TOKEN)
    assert digest in fake_store.read("events", names.record_key(PID)).decode()  # it is in the record
    for url in (
        f"/predictions/{PID}",
        f"/predictions/{PID}?wait=1",
        "/review/api/events",
        "/review/api/events?limit=500",
    ):
        r = client.get(url, headers=review_page.BEARER if url.startswith("/review") else {})
        assert r.status_code == 200 and digest not in r.get_data(as_text=True), url
        assert "feedback_token" not in r.get_data(as_text=True), url
    r = client.post(f"/predictions/{PID}/feedback", json={"flagged": True}, headers=AUTH)
    assert r.status_code == 200 and digest not in r.get_data(as_text=True)
    assert client.get(f"/predictions/{PID}").get_json()["flagged"] is True  # the rest of the record is all there


def test_storage_down_during_feedback_is_a_503(client, fake_store):
    done(fake_store)
    fake_store.down = True
    r = client.post(f"/predictions/{PID}/feedback", json={"flagged": True}, headers=AUTH)
    assert r.status_code == 503 and "send it again" in r.get_json()["error"]


def test_an_unreadable_record_is_a_502_that_says_so(client, fake_store):
    pid = "0190f3c4-5b6a-7c8d-9e0f-112233445599"
    fake_store.put("events", f"{pid}.json", b"{{{ not json")
    r = client.get(f"/predictions/{pid}")
    assert r.status_code == 502 and "unreadable" in r.get_json()["error"]
