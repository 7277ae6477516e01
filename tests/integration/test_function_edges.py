"""The function's doors on the real stack: the frontend's nudge, the two tokens, keys MinIO stores oddly."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from gourmetgram.held_nudge import HOLD_S
from gourmetgram_tools.client import drop, post_photo
from tests.conftest import load_event, photo
from tests.stack import production_objects, wait_final, wait_until

pytestmark = pytest.mark.integration


def counters(base: str, name: str, label: str = "result") -> dict[str, float]:
    """A labelled counter of the function's /metrics, by its `label`."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(rf'^{name}{{{label}="([^"]+)"}} (\S+)$', text, re.M)}


def post(url: str, body: bytes, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_web_upload_is_taken_at_once_by_the_frontend_s_nudge(stack, store):
    # GIVEN the real stack, whose MinIO delivers webhooks through queue_dir (re-listed every 3 s)
    nudges = counters(stack.function_base, "gourmetgram_nudge_requests_total")
    held = counters(stack.function_base, "gourmetgram_nudge_held_total", "finished")
    # WHEN a photo is uploaded through the page
    started = time.monotonic()
    accepted = post_photo(stack.web_url, photo("7_226.jpg"), "rice.jpg")
    with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
        record = json.load(r)
    seconds = time.monotonic() - started
    # THEN it is labelled, and the function took the frontend's nudge with the nudge token
    assert record["status"] == "done" and record["source"] == "web"
    after = counters(stack.function_base, "gourmetgram_nudge_requests_total")
    taken = sum(after.get(r, 0) - nudges.get(r, 0) for r in ("queued", "duplicate"))
    assert taken == 1, after
    assert after.get("unauthorized", 0) == nudges.get("unauthorized", 0)

    # AND the frontend's nudge was held until the photo was done (its answer wakes the page's long-poll; the
    # poll's own read may have found the record a moment before), unless the label took longer than the hold
    def held_now() -> dict[str, float]:
        after = counters(stack.function_base, "gourmetgram_nudge_held_total", "finished")
        return {k: v - held.get(k, 0) for k, v in after.items() if v - held.get(k, 0)}

    wait_until(lambda: held_now(), 10, "the held nudge answered")
    assert held_now() == ({"done": 1} if seconds < HOLD_S else {"timeout": 1}), (held_now(), seconds)
    print(
        f"\nweb upload to label: {seconds * 1000:.0f} ms (record latency {record['latency_ms']} ms; "
        f"MinIO's own event with queue_dir takes about 3 s)"
    )


def test_each_endpoint_of_the_real_function_takes_only_its_own_token(stack):
    s = stack.settings
    doc = load_event("put_simple")
    status, body = post(f"{stack.function_base}/minio/events", json.dumps(doc).encode(), s.effective_nudge_token)
    assert status == 401 and "token" in body["error"]
    status, body = post(f"{stack.function_base}/nudge", b'{"key": "x.jpg", "etag": "e"}', s.webhook_token)
    assert status == 401 and "token" in body["error"]


@pytest.mark.parametrize("body", [b"[1]", b"[" * 100_000 + b"]" * 100_000], ids=["list", "deep"])
def test_json_that_is_not_an_object_is_400_from_the_real_function(stack, body):
    status, doc = post(f"{stack.function_base}/minio/events", body, stack.settings.webhook_token)
    assert status == 400 and "JSON" in doc["error"]
    request = urllib.request.Request(
        f"{stack.function_base}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and "JSON" in json.load(refused.value)["detail"]


def test_a_key_with_a_control_character_minio_stores_is_labelled_by_the_reconciler(stack, store):
    # GIVEN a photo dropped under a key with a tab: MinIO stores it (checked), but the webhook calls
    # such keys invalid and never looks them up
    invalid = counters(stack.function_base, "gourmetgram_webhook_requests_total").get("invalid", 0)
    dropped = drop(store, "incoming", "odd\tname.jpg", photo("9_452.jpg"))
    # THEN the reconciler, which lists incoming, still gets it labelled: nothing is lost
    record = wait_final(store, dropped, timeout=60)
    assert record["status"] == "done" and record["incoming_key"] == "odd\tname.jpg"
    assert production_objects(store, record["id"]) == [record["production_key"]]
    # AND MinIO's event for it (with queue_dir about 3 s after the drop) was answered "invalid"
    wait_until(
        lambda: counters(stack.function_base, "gourmetgram_webhook_requests_total").get("invalid", 0) == invalid + 1,
        20,
        "MinIO's event answered invalid",
    )
