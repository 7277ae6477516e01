"""The review page in Debian's chromium: an operator labels three photos with the keyboard alone."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from gourmetgram import names
from gourmetgram_tools.client import post_photo
from tests.browser.conftest import ARTIFACTS, csp_violations
from tests.conftest import PHOTOS
from tests.stack import wait_final, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def flag(web_url: str, upload: dict) -> None:
    """The uploader flags their photo: it enters the review queue whatever its confidence."""
    request = urllib.request.Request(
        f"{web_url}/predictions/{upload['id']}/feedback",
        method="POST",
        data=json.dumps({"flagged": True}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {upload['feedback_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 (our own frontend)
        assert r.status == 200


def test_an_operator_labels_three_photos_with_the_keyboard(stack, store, browser):  # noqa: F811
    s = stack.settings
    # GIVEN three photos uploaded, labelled by the model and flagged by their uploaders
    uploads = [post_photo(stack.web_url, p.read_bytes(), p.name) for p in sorted(PHOTOS.iterdir())[:3]]
    records = {u["id"]: wait_final(store, u["id"]) for u in uploads}
    for u in uploads:
        flag(stack.web_url, u)
    # The answers, one per photo: class 3 (Egg), `v` (Vegetable/Fruit), Enter (the model's own class)
    keys = dict(zip(records, ("3", "v", "Enter"), strict=True))
    expected = {
        pid: {"3": "Egg", "v": "Vegetable/Fruit"}.get(key, records[pid]["predicted_class"]) for pid, key in keys.items()
    }
    # WHEN the operator opens /review (HTTP basic auth with the review token) and answers by keyboard,
    # skipping (Space) whatever else is queued
    context = browser.new_context(
        http_credentials={"username": s.review_user, "password": s.local_review_token},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    violations = csp_violations(page)
    response = page.goto(f"{stack.web_url}/review")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    item = page.locator("#item")
    labelled, skipped, started = [], 0, time.monotonic()
    while len(labelled) < 3:
        expect(item).to_be_visible(timeout=15_000)
        shown = item.get_attribute("data-id")
        if shown in keys and shown not in labelled:
            expect(page.locator("#predicted")).to_have_text(records[shown]["predicted_class"])
            expect(page.locator("#flag-line")).to_be_visible()
            expect(page.locator("#photo")).to_have_js_property("complete", True)
            assert page.locator("#photo").evaluate("img => img.naturalWidth") > 0  # the photo, through the frontend
            if not labelled:
                page.screenshot(path=str(ARTIFACTS / "review.png"))
            page.keyboard.press(keys[shown])
            labelled.append(shown)
        else:
            page.keyboard.press(" ")
            skipped += 1
        page.wait_for_function(
            "id => document.querySelector('#item').dataset.id !== id || document.querySelector('#item').hidden",
            arg=shown,
            timeout=15_000,
        )
        assert skipped < 2000, "the queue never showed our photos"
    print(f"\nlabelled 3 photos by keyboard ({skipped} others skipped) in {time.monotonic() - started:.1f} s")
    # THEN each photo's production object carries the answer and when it was given, as its record does
    for pid, label in expected.items():
        key = records[pid]["production_key"]
        tags = wait_until(
            lambda key=key: (t := store.get_tags("production", key)).get("human_label") and t, 10, "the human_label tag"
        )
        record = store.get_json("events", names.record_key(pid))[0]
        assert tags["human_label"] == record["human_label"] == label
        assert tags["reviewed_at"] == record["reviewed_at"] and tags["flagged"] == "true"
    # AND they left the queue
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{stack.web_url}/review/api/queue?limit=500", headers={"Authorization": f"Bearer {s.local_review_token}"}
        ),
        timeout=30,
    ) as r:  # noqa: S310
        assert not {i["id"] for i in json.load(r)["items"]} & set(keys)
    assert violations == []
    context.close()


def test_the_quality_page_draws_its_charts_under_the_csp(stack, store, browser):  # noqa: F811
    s = stack.settings
    context = browser.new_context(http_credentials={"username": s.review_user, "password": s.local_review_token})
    page = context.new_page()
    violations = csp_violations(page)
    page.goto(f"{stack.web_url}/quality")
    charts = page.locator("section.model figure img")
    expect(charts.first).to_be_visible(timeout=30_000)
    assert all(img.evaluate("i => i.complete && i.naturalWidth > 0") for img in charts.all())
    page.screenshot(path=str(ARTIFACTS / "quality.png"), full_page=True)
    assert violations == []
    context.close()
    # without the token the pages are closed (a browser asks for the password; headless, it gives up)
    anonymous = browser.new_page()
    with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        anonymous.goto(f"{stack.web_url}/quality")
    anonymous.close()
