"""Undo on the review page in Debian's chromium: the last answer taken back by key and by button, the record
and the production object's tags as they were before it (written with If-Match), the photo shown again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gourmetgram import names
from gourmetgram_tools.client import post_photo
from tests.browser.conftest import DESKTOP, assert_accessible, screenshot, viewport_name
from tests.browser.test_review_page import flag
from tests.conftest import PHOTOS
from tests.stack import wait_final, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]
TALL_PHONE = {"width": 390, "height": 844}


def state(store, record: dict) -> tuple[dict, dict]:
    """The record and the production object's tags, without the ETag-less bits that never change."""
    return store.get_json("events", names.record_key(record["id"]))[0], store.get_tags(
        "production", record["production_key"]
    )


@pytest.mark.parametrize("viewport", [pytest.param(TALL_PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")])
def test_the_last_answer_is_undone_by_key_and_by_button(stack, store, browser, viewport):
    size = viewport_name(viewport)
    s = stack.settings
    # GIVEN a photo flagged by its uploader, as it is before any review
    upload = post_photo(stack.web_url, (PHOTOS / "7_226.jpg").read_bytes(), "7_226.jpg")
    record = wait_final(store, upload["id"])
    flag(stack.web_url, upload)
    before = wait_until(lambda: (st := state(store, record))[1].get("flagged") == "true" and st, 10, "the flag tag")
    context = browser.new_context(
        http_credentials={"username": s.review_user, "password": s.local_review_token}, viewport=viewport
    )
    try:
        page = context.new_page()
        page.goto(f"{stack.web_url}/review?id={record['id']}")
        item, undo = page.locator("#item"), page.locator("#undo")
        expect(item).to_have_attribute("data-id", record["id"], timeout=15_000)
        expect(undo).to_be_disabled()  # nothing answered yet
        # WHEN the operator answers Egg (key 3), then presses u
        page.keyboard.press("3")
        expect(page.locator("#saved")).to_have_text('Saved "Egg" for the last photo.')
        assert state(store, record)[0]["human_label"] == "Egg"
        expect(undo).to_be_enabled()
        screenshot(page, f"review-answered-{size}")
        page.keyboard.press("u")
        # THEN record and tags are exactly as before the answer, and the photo is shown again to answer
        expect(page.locator("#saved")).to_have_text('Undone: "Egg" taken back; the photo is as it was.')
        wait_until(lambda: state(store, record) == before, 10, "the record and tags as they were")
        expect(item).to_have_attribute("data-id", record["id"])
        expect(page.locator("#reviewed-line")).to_be_hidden()
        expect(undo).to_be_disabled()  # one answer, one undo
        screenshot(page, f"review-undone-{size}")
        assert_accessible(page, f"/review after an undo ({size})")
        # AND by the button: the model's class kept (Enter), then taken back with a click
        page.keyboard.press("Enter")
        expect(page.locator("#saved")).to_contain_text("Saved")
        assert state(store, record)[0]["human_label"] == record["predicted_class"]
        undo.click()
        expect(page.locator("#saved")).to_contain_text("Undone")
        wait_until(lambda: state(store, record) == before, 10, "the record and tags as they were")
    finally:
        context.close()


def test_an_undo_after_the_uploader_changed_the_photo_keeps_their_change(stack, store, browser):
    s = stack.settings
    upload = post_photo(stack.web_url, (PHOTOS / "4_87.jpg").read_bytes(), "4_87.jpg")
    record = wait_final(store, upload["id"])
    context = browser.new_context(
        http_credentials={"username": s.review_user, "password": s.local_review_token}, viewport=DESKTOP
    )
    try:
        page = context.new_page()
        page.goto(f"{stack.web_url}/review?id={record['id']}")
        expect(page.locator("#item")).to_have_attribute("data-id", record["id"], timeout=15_000)
        page.keyboard.press("5")  # Meat
        expect(page.locator("#saved")).to_have_text('Saved "Meat" for the last photo.')
        flag(stack.web_url, upload)  # the uploader, in between
        page.keyboard.press("u")
        expect(page.locator("#saved")).to_contain_text("Not undone")
        expect(page.locator("#saved")).to_contain_text("changed since that answer")
        after, tags = state(store, record)
        assert after["human_label"] == tags["human_label"] == "Meat" and after["flagged"] is True
        expect(page.locator("#undo")).to_be_disabled()
    finally:
        context.close()
