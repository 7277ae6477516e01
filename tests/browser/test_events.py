"""The event log page (operators only, /review/events) in a real browser against the real stack: outcome times
in the viewer's zone, file names, corrections and flags, rows that keep their place and selection across
refreshes, failed refreshes."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from gourmetgram import names
from gourmetgram_tools.client import drop, post_photo
from tests.browser.conftest import DESKTOP, VIEWPORTS, assert_accessible, csp_violations, screenshot, viewport_name
from tests.conftest import photo
from tests.stack import wait_final

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ZONE = "Asia/Kathmandu"  # UTC+05:45: a time shown in UTC, or in the machine's zone, cannot pass for it


def send_feedback(web_url: str, pid: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{web_url}/predictions/{pid}/feedback",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the test stack)
        return json.load(response)


def upload(stack, store, name: str, data: bytes | None = None) -> tuple[dict, str]:
    """A photo sent as the page sends it, under the uploader's file name; its final record and its token."""
    accepted = post_photo(stack.web_url, data or photo(), filename=name)
    return wait_final(store, accepted["id"]), accepted["feedback_token"]


def operator_page(stack, open_page, viewport: dict, **options):
    """A page whose browser holds the operator's login (basic auth with the review token), as an operator's does."""
    s = stack.settings
    return open_page(
        viewport, http_credentials={"username": s.review_user, "password": s.local_review_token}, **options
    )


def row(page, pid: str):
    return page.locator(f"#events tbody tr[data-id='{pid}']")


def cell(page, pid: str, column: str):
    index = page.locator("#events thead th").evaluate_all(
        "(ths, key) => ths.findIndex((th) => th.dataset.key === key)", column
    )
    return row(page, pid).locator("th, td").nth(index)


def kathmandu_clock(iso: str) -> str:
    """`h:mm:ss` of an ISO time in Kathmandu, as en-US writes it."""
    local = datetime.fromtimestamp(names.parse_iso(iso), ZoneInfo(ZONE))
    return f"{local.hour % 12 or 12}:{local.minute:02d}:{local.second:02d}"


def row_order(page) -> list[str]:
    return page.locator("#events tbody tr").evaluate_all("(rows) => rows.map((r) => r.dataset.id)")


def test_the_log_shows_outcome_times_names_corrections_and_keeps_rows_in_place(stack, store, open_page):
    # GIVEN two photos uploaded through the page, one after the other, and one the function rejects
    first, token = upload(stack, store, "Grandma's soup.jpg")
    second, _ = upload(stack, store, "second plate.jpg", photo("7_226.jpg"))
    rejected, _ = upload(stack, store, "half a photo.jpg", photo("4_87.jpg")[:20_000])
    assert rejected["status"] == "rejected"
    page = operator_page(stack, open_page, DESKTOP, timezone_id=ZONE, locale="en-US")
    violations = csp_violations(page)
    response = page.goto(f"{stack.web_url}/review/events")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(row(page, first["id"])).to_be_visible(timeout=15_000)
    expect(row(page, rejected["id"])).to_be_visible(timeout=15_000)
    headings = page.locator("#events thead th").all_inner_texts()
    assert headings[:4] == ["Photo", "Finished", "Status", "File"]  # what a phone shows before scrolling
    assert {"Prediction", "Confidence", "Correction", "Flag", "Reason"} <= set(headings)
    expect(page.locator("#zone")).to_have_text(re.compile(r"Asia/Kath?mandu"))  # ICU's name lacks the h
    # THEN each row shows the outcome time in the viewer's zone, the user's file name (not the key), status as text
    finished = cell(page, first["id"], "finished").locator("time")
    expect(finished).to_have_attribute("datetime", first["timestamps"]["finished"])
    expect(finished).to_contain_text(kathmandu_clock(first["timestamps"]["finished"]))
    expect(cell(page, first["id"], "file")).to_contain_text("Grandma's soup.jpg")
    expect(cell(page, first["id"], "file")).not_to_contain_text(first["incoming_key"])
    expect(cell(page, first["id"], "status")).to_have_text("✓ done")
    expect(cell(page, first["id"], "confidence")).to_have_text(f"{100 * first['confidence']:.1f}%")
    expect(cell(page, rejected["id"], "status")).to_have_text("✕ rejected")
    expect(cell(page, rejected["id"], "reason")).to_contain_text("corrupt or truncated")
    # AND at 1280 px the whole table fits: no column (the reason) is cut off
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("(w) => w.scrollWidth <= w.clientWidth"), "the table is wider than the page at 1280 px"
    # Newest outcome first
    order = row_order(page)
    assert order.index(rejected["id"]) < order.index(second["id"]) < order.index(first["id"])
    # GIVEN the reader has selected the second photo's name, and marked the rows as they are
    page.evaluate(
        """(id) => {
        const name = document.querySelector(`tr[data-id="${id}"] .name`);
        const range = document.createRange();
        range.selectNodeContents(name);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        for (const tr of document.querySelectorAll('#events tbody tr')) tr.dataset.seen = 'yes';
    }""",
        second["id"],
    )
    # WHEN the first (older) photo is corrected and flagged late: its record is now the last written
    other = "Seafood" if first["predicted_class"] != "Seafood" else "Egg"
    send_feedback(stack.web_url, first["id"], token, {"corrected_class": other, "flagged": True})
    # THEN its row shows the correction and the flag, in the same place, the same row
    expect(cell(page, first["id"], "corrected_class")).to_have_text(other, timeout=15_000)
    expect(cell(page, first["id"], "flagged")).to_have_text("⚑ flagged")
    expect(finished).to_have_attribute("datetime", first["timestamps"]["finished"])
    assert row_order(page) == order
    assert row(page, first["id"]).get_attribute("data-seen") == "yes"
    # AND the selection survived the refreshes
    assert page.evaluate("getSelection().toString()") == "second plate.jpg"
    screenshot(page, "8-events-desktop")
    assert_accessible(page, "/review/events (desktop)")
    assert violations == []


def test_new_rows_do_not_move_what_the_reader_is_looking_at(stack, store, open_page):
    # GIVEN a log long enough to scroll, scrolled so that one row sits near the top of a short window
    for i in range(12):
        upload(stack, store, f"filler {i}.jpg", photo("4_87.jpg"))
    page = operator_page(stack, open_page, {"width": 1280, "height": 420}, timezone_id=ZONE)
    page.goto(f"{stack.web_url}/review/events")
    expect(page.locator("#events tbody tr").nth(14)).to_be_attached(timeout=15_000)
    target = row_order(page)[8]
    page.evaluate("(id) => window.scrollTo(0, document.querySelector(`tr[data-id='${id}']`).offsetTop + 150)", target)
    before = row(page, target).bounding_box()["y"]
    # WHEN a new photo is finished (its row is added at the top, above the view)
    fresh, _ = upload(stack, store, "fresh.jpg")
    expect(row(page, fresh["id"])).to_be_attached(timeout=15_000)
    # THEN the row the reader was looking at has not moved on the screen
    assert abs(row(page, target).bounding_box()["y"] - before) <= 2


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_failed_refresh_says_so_and_keeps_the_table(stack, store, open_page, viewport):
    size = viewport_name(viewport)
    wait_final(store, post_photo(stack.web_url, photo(), filename="before the outage.jpg")["id"])
    page = operator_page(stack, open_page, viewport)
    page.goto(f"{stack.web_url}/review/events")
    expect(page.locator("#events tbody tr").first).to_be_visible(timeout=15_000)
    expect(page.locator("#updated")).to_contain_text("Updated at")
    screenshot(page, f"9-events-{size}")
    assert_accessible(page, f"/review/events ({size})")
    rows = page.locator("#events tbody tr").count()
    # WHEN the frontend cannot read the log
    page.route(
        "**/api/events*",
        lambda route: route.fulfill(status=503, json={"error": "storage is unavailable: connection refused"}),
    )
    # THEN the page says the last refresh failed, since when the table is stale, and keeps it
    problem = page.locator("#refresh-problem")
    expect(problem).to_be_visible(timeout=10_000)
    expect(problem).to_contain_text("could not be refreshed (storage is unavailable: connection refused)")
    expect(problem).to_contain_text("The table shows the log as of")
    expect(page.locator("#updated")).to_contain_text("Last refresh failed at")
    assert page.locator("#events tbody tr").count() == rows
    screenshot(page, f"10-events-refresh-failed-{size}")
    assert_accessible(page, f"/review/events after a failed refresh ({size})")
    # WHEN it can again, THEN the notice goes
    page.unroute("**/api/events*")
    expect(problem).to_be_hidden(timeout=10_000)
    expect(page.locator("#updated")).to_contain_text("Updated at")


def test_a_file_name_too_long_for_the_metadata_is_kept_cut(stack, store, open_page):
    # 300 noodle bowls: 3,600 bytes percent-encoded, over S3's 2 KB of metadata (this upload used to be a 503)
    done, _ = upload(stack, store, "🍜" * 300 + ".jpg")
    assert done["original_filename"].endswith("…") and done["original_filename"].startswith("🍜" * 80)
    page = operator_page(stack, open_page, {"width": 390, "height": 664})
    page.goto(f"{stack.web_url}/review/events")
    name = cell(page, done["id"], "file")
    expect(name).to_contain_text("🍜🍜🍜", timeout=15_000)
    assert name.bounding_box()["width"] < 300  # wrapped in its cell, not one line across the table


def focus_by_tab(page, name: str) -> None:
    """Tab through the page, as a keyboard user does, until the filter `name` has the focus."""
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == name:
            return
    raise AssertionError(f"the {name} filter is not reachable with Tab")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_filters_hide_and_show_rows_by_keyboard_and_hold_across_refreshes(stack, store, open_page, viewport):
    size = viewport_name(viewport)
    # GIVEN a photo uploaded through the page, one it rejects, and one dropped into the bucket
    done, _ = upload(stack, store, f"filter me {size}.jpg")
    rejected, _ = upload(stack, store, f"filter broken {size}.jpg", photo("4_87.jpg")[:20_000])
    dropped = wait_final(store, drop(store, "incoming", f"filters/{size} drop.jpg", photo("7_226.jpg")))
    assert (done["source"], dropped["source"], rejected["status"]) == ("web", "bucket", "rejected")
    page = operator_page(stack, open_page, viewport)
    violations = csp_violations(page)
    page.goto(f"{stack.web_url}/review/events")
    for record in (done, rejected, dropped):
        expect(row(page, record["id"])).to_be_visible(timeout=15_000)
    # WHEN the reader picks "rejected" in the Status filter, with the keyboard only
    focus_by_tab(page, "status")
    assert page.get_by_label("Status").evaluate("(s) => s === document.activeElement")  # it has a label
    page.keyboard.type("rejected")
    # THEN only rejected rows are shown, and the page says how many
    expect(page.locator("select[name=status]")).to_have_value("rejected")
    expect(row(page, rejected["id"])).to_be_visible()
    expect(row(page, done["id"])).to_be_hidden()
    expect(row(page, dropped["id"])).to_be_hidden()
    expect(page.locator("#shown")).to_contain_text("outcomes match the filters")
    assert page.url.endswith("?status=rejected")
    screenshot(page, f"11-events-filtered-{size}")
    assert_accessible(page, f"/review/events filtered ({size})")
    # WHEN they set it back to all, and choose the model's class of the uploaded photo instead
    page.keyboard.press("Home")  # the first option: all
    expect(page.locator("select[name=status]")).to_have_value("")
    focus_by_tab(page, "class")
    page.keyboard.type(done["predicted_class"])
    expect(page.locator("select[name=class]")).to_have_value(done["predicted_class"])
    expect(row(page, done["id"])).to_be_visible()
    expect(row(page, rejected["id"])).to_be_hidden()  # a rejected photo has no class
    page.keyboard.press("Home")
    # AND the Source filter: dropped into the bucket
    focus_by_tab(page, "source")
    page.keyboard.type("bucket")
    expect(page.locator("select[name=source]")).to_have_value("bucket")
    expect(row(page, dropped["id"])).to_be_visible()
    expect(row(page, done["id"])).to_be_hidden()
    expect(row(page, rejected["id"])).to_be_hidden()
    # WHEN a new web upload arrives with the next refreshes, THEN its row is there but hidden, the filter kept
    fresh, _ = upload(stack, store, f"arrives filtered {size}.jpg")
    expect(row(page, fresh["id"])).to_be_attached(timeout=15_000)
    expect(row(page, fresh["id"])).to_be_hidden()
    expect(row(page, dropped["id"])).to_be_visible()
    # AND a reload shows the same rows (the filters are in the address)
    page.reload()
    expect(page.locator("select[name=source]")).to_have_value("bucket")
    expect(row(page, dropped["id"])).to_be_visible(timeout=15_000)
    expect(row(page, fresh["id"])).to_be_hidden()
    assert violations == []
