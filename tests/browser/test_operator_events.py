"""The operators' event log (/review/events) in Debian's chromium against the real stack: each photo in
production as a thumbnail the frontend made from MinIO, a link to its review, and nothing without the token."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from gourmetgram_tools.client import post_photo
from tests.browser.conftest import DESKTOP, PHONE, assert_accessible, csp_violations, screenshot
from tests.conftest import photo
from tests.stack import wait_final

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def photo_cell(page, pid: str):
    return page.locator(f"#events tbody tr[data-id='{pid}'] td").first


def test_operators_see_each_photo_and_open_its_review(stack, store, browser):
    s = stack.settings
    # GIVEN a photo the function labelled and one it rejected, both uploaded through the page
    done = wait_final(store, post_photo(stack.web_url, photo(), filename="thumb me.jpg")["id"])
    rejected = wait_final(store, post_photo(stack.web_url, photo("4_87.jpg")[:20_000], filename="torn.jpg")["id"])
    assert (done["status"], rejected["status"]) == ("done", "rejected")
    # WHEN an operator opens the event log with photos (basic auth with the review token)
    context = browser.new_context(
        http_credentials={"username": s.review_user, "password": s.local_review_token}, viewport=DESKTOP
    )
    page = context.new_page()
    violations = csp_violations(page)
    response = page.goto(f"{stack.web_url}/review/events")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    # THEN the labelled photo's row shows its thumbnail, loaded through the frontend (no MinIO address)
    thumb = photo_cell(page, done["id"]).locator("img")
    expect(thumb).to_be_visible(timeout=15_000)
    expect(thumb).to_have_js_property("complete", True)
    assert thumb.evaluate("img => img.naturalWidth") > 0
    assert max(thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")) == 160
    assert thumb.get_attribute("src") == f"/review/thumbs/{done['id']}"
    expect(thumb).to_have_attribute("alt", "thumb me.jpg")
    # AND the rejected one shows no thumbnail, but says why
    expect(photo_cell(page, rejected["id"])).to_have_text("no photo (quarantined)")
    assert photo_cell(page, rejected["id"]).locator("img").count() == 0
    screenshot(page, "12-operator-events-desktop")
    assert_accessible(page, "/review/events (desktop)")
    # WHEN the operator follows the row's link with the keyboard
    link = photo_cell(page, done["id"]).locator("a")
    expect(link).to_have_attribute("href", f"/review?id={done['id']}")
    link.focus()
    page.keyboard.press("Enter")
    # THEN the review opens on that photo, queued or not (a confident one is not), photo loaded
    page.wait_for_url(f"**/review?id={done['id']}")
    item = page.locator("#item")
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_have_attribute("data-id", done["id"])
    expect(page.locator("#predicted")).to_have_text(done["predicted_class"])
    expect(page.locator("#photo")).to_have_js_property("complete", True)
    assert page.locator("#photo").evaluate("img => img.naturalWidth") > 0
    assert violations == []
    # AND on a phone the page stays accessible with its photo column
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{stack.web_url}/review/events")
    expect(photo_cell(phone, done["id"]).locator("img")).to_be_visible(timeout=15_000)
    screenshot(phone, "13-operator-events-phone")
    assert_accessible(phone, "/review/events (phone)")
    context.close()


def test_without_the_token_there_is_no_event_log_no_file_name_and_no_thumbnail(stack, store, browser):
    done = wait_final(store, post_photo(stack.web_url, photo(), filename="Anna at Lake Bled.jpg")["id"])
    # the old public addresses lead there too (urllib follows the redirect)
    for path in (
        "/review/events",
        "/review/api/events",
        f"/review/thumbs/{done['id']}",
        "/events",
        "/api/events?limit=500",
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{stack.web_url}{path}", timeout=30)  # noqa: S310 (the test stack)
        assert refused.value.code == 401 and b"Lake Bled" not in refused.value.read(), path
        refused.value.close()
    # a browser following an old link to the log is asked for the operator's login (none given here: refused)
    page = browser.new_page()
    for path in ("/events", "/review/events"):
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            page.goto(f"{stack.web_url}{path}")
    page.close()


def test_an_old_link_to_the_log_opens_the_operators_log_with_the_token(stack, store, browser):
    done = wait_final(store, post_photo(stack.web_url, photo(), filename="old link.jpg")["id"])
    s = stack.settings
    context = browser.new_context(
        http_credentials={"username": s.review_user, "password": s.local_review_token}, viewport=PHONE
    )
    page = context.new_page()
    page.goto(f"{stack.web_url}/events?status=done")
    assert page.url == f"{stack.web_url}/review/events?status=done"  # the filter kept
    expect(page.locator("select[name=status]")).to_have_value("done")
    expect(photo_cell(page, done["id"]).locator("img")).to_be_visible(timeout=15_000)
    assert_accessible(page, "/review/events reached from /events (phone)")
    context.close()
