"""Feedback on the real MinIO and frontend: no update lost under concurrency, and only the uploader may give it."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request

import pytest

from gourmetgram import names
from gourmetgram_tools.client import post_photo
from tests.conftest import PHOTOS
from tests.stack import wait_final

pytestmark = pytest.mark.integration

MODEL_TAGS = ("predicted_class", "confidence", "timestamp", "model_version", "source")
PHOTOS = sorted(PHOTOS.iterdir())


def send_feedback(web_url: str, pid: str, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{web_url}/predictions/{pid}/feedback", method="POST", data=json.dumps(body).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_correction_and_a_flag_sent_at_the_same_moment_both_land_in_record_and_tags(stack, store):
    pairs = 20
    # GIVEN 20 photos uploaded through the frontend and labelled
    uploads = [post_photo(stack.web_url, PHOTOS[i % len(PHOTOS)].read_bytes(), f"dish-{i}.jpg") for i in range(pairs)]
    records = [wait_final(store, u["id"]) for u in uploads]
    assert all(r["status"] == "done" for r in records), records
    model_tags = [{k: store.get_tags("production", r["production_key"])[k] for k in MODEL_TAGS} for r in records]
    # WHEN, for each, a correction and a flag (or an unflag) are sent from two threads at the same moment
    wanted = []
    for i, (upload, record) in enumerate(zip(uploads, records, strict=True)):
        corrected = names.class_name((record["class_index"] + 1 + i % 10) % len(names.CLASSES))
        flagged = i % 2 == 0
        wanted.append((corrected, flagged))
        start = threading.Barrier(2)
        answers: dict[str, tuple[int, dict]] = {}

        def send(what: str, body: dict, upload: dict, start: threading.Barrier, answers: dict) -> None:
            start.wait()
            answers[what] = send_feedback(stack.web_url, upload["id"], body, upload["feedback_token"])

        threads = [
            threading.Thread(target=send, args=(what, body, upload, start, answers))
            for what, body in (("class", {"corrected_class": corrected}), ("flag", {"flagged": flagged}))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers["class"][0] == 200 and answers["flag"][0] == 200, answers
    # THEN every production object's tags equal its record and hold both changes; the model's tags are untouched
    lost = []
    for record, (corrected, flagged), before in zip(records, wanted, model_tags, strict=True):
        after, _ = store.get_json("events", names.record_key(record["id"]))
        tags = store.get_tags("production", record["production_key"])
        shown = store.get_tags("events", names.record_key(record["id"]))
        got = {
            "record": (after.get("corrected_class"), after.get("flagged")),
            "tags": (tags.get("corrected_class"), tags.get("flagged")),
            "record tags": (shown.get("corrected_class"), shown.get("flagged")),
        }
        if got != {
            "record": (corrected, flagged),
            "tags": (corrected, str(flagged).lower()),
            "record tags": (corrected, str(flagged).lower()),
        }:
            lost.append((record["id"], got))
        assert {k: tags[k] for k in MODEL_TAGS} == before
    print(f"\n{len(lost)} of {pairs} concurrent pairs lost an update or left tags unlike the record")
    assert lost == []


def test_only_the_uploader_may_give_feedback(stack, store):
    # GIVEN a photo uploaded and labelled; its id is no secret (the operators' event log lists it, URLs carry it)
    upload = post_photo(stack.web_url, PHOTOS[0].read_bytes(), "mine.jpg")
    record = wait_final(store, upload["id"])
    pid, before = upload["id"], store.get_tags("production", record["production_key"])
    # WHEN another client sends feedback without the token, or with one of its own
    other = post_photo(stack.web_url, PHOTOS[1].read_bytes(), "theirs.jpg")["feedback_token"]
    for token in (None, other, "guess"):
        status, answer = send_feedback(stack.web_url, pid, {"corrected_class": "Egg", "flagged": True}, token)
        # THEN it is refused, and neither the tags nor the record change
        assert status == 403 and "feedback token" in answer["error"], answer
    assert store.get_tags("production", record["production_key"]) == before
    assert store.get_json("events", names.record_key(pid))[0] == record
    # AND the uploader's own token works
    assert send_feedback(stack.web_url, pid, {"flagged": True}, upload["feedback_token"])[0] == 200
    assert store.get_tags("production", record["production_key"])["flagged"] == "true"


def test_the_token_hash_stays_in_the_record_and_out_of_every_answer(stack, store):
    upload = post_photo(stack.web_url, PHOTOS[2].read_bytes(), "hash.jpg")
    record = wait_final(store, upload["id"])
    digest = record[names.FEEDBACK_TOKEN_FIELD]
    assert digest == hashlib.sha256(upload["feedback_token"].encode()).hexdigest()
    operator = {"Authorization": f"Bearer {stack.settings.local_review_token}"}
    for url in (f"/predictions/{upload['id']}", f"/predictions/{upload['id']}?wait=5", "/review/api/events?limit=500"):
        request = urllib.request.Request(f"{stack.web_url}{url}", headers=operator if "review" in url else {})
        with urllib.request.urlopen(request, timeout=20) as r:
            text = r.read().decode()
        assert upload["id"] in text and digest not in text and names.FEEDBACK_TOKEN_FIELD not in text, url
    # The token is nowhere in MinIO in clear: not in the record, the production object's tags or metadata
    production = store.head("production", record["production_key"])
    stored = json.dumps([record, store.get_tags("production", production.key), production.metadata])
    assert upload["feedback_token"] not in stored and digest not in json.dumps(production.metadata)


@pytest.fixture(scope="module")
def labelled(stack, store) -> dict:
    """One photo uploaded and labelled: its 202 answer."""
    upload = post_photo(stack.web_url, PHOTOS[3].read_bytes(), "bad-body.jpg")
    assert wait_final(store, upload["id"])["status"] == "done"
    return upload


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1]", id="list"),
        pytest.param(b'"x"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deeply-nested"),
        pytest.param(b"soup", id="not-json"),
        pytest.param(b'{"flagged": "true"}', id="flagged-string"),
        pytest.param(b'{"flagged": 1}', id="flagged-1"),
        pytest.param(b'{"corrected_class": "Pizza"}', id="not-a-class"),
    ],
)
def test_a_bad_feedback_body_is_a_400_on_the_real_server(stack, store, labelled, body):
    request = urllib.request.Request(
        f"{stack.web_url}/predictions/{labelled['id']}/feedback",
        method="POST",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {labelled['feedback_token']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and json.load(refused.value)["error"]
    record, _ = store.get_json("events", names.record_key(labelled["id"]))
    assert "corrected_class" not in record and "flagged" not in record
