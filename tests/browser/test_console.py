"""The event log in the MinIO console (the pinned build's own, on the stack's console port), as an operator reads
it: logged in with the root credentials, a record's object view shows what happened to the photo in its Tags
and Metadata, without a download (the console previews no JSON or text: "Preview unavailable")."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gourmetgram import names
from gourmetgram_tools.client import drop
from tests.browser.conftest import screenshot
from tests.browser.test_events import send_feedback, upload
from tests.conftest import photo
from tests.stack import wait_final

pytestmark = [pytest.mark.browser, pytest.mark.integration]
TALL = {"width": 1280, "height": 1500}  # the whole object panel, Metadata included, without scrolling
WEB_NAME = "Crème brûlée (2).jpg"  # accents and brackets, which tags refuse: the metadata shows them as they are
DROPPED_KEY = "notes/menu (draft).jpg"


@pytest.fixture(scope="module")
def records(stack, store) -> dict[str, dict]:
    """A record of each kind, written by the real function and frontend: a web upload classified (done), one
    the uploader then corrected and flagged, and a dropped text file rejected."""
    done, _ = upload(stack, store, WEB_NAME, photo("9_452.jpg"))
    corrected, token = upload(stack, store, "lunch.jpg", photo("7_226.jpg"))
    other = next(c for c in names.CLASSES if c != corrected["predicted_class"])
    send_feedback(stack.web_url, corrected["id"], token, {"corrected_class": other, "flagged": True})
    corrected = wait_final(store, corrected["id"])
    rejected = wait_final(store, drop(store, "incoming", DROPPED_KEY, b"a shopping list, not a photo\n"))
    assert (done["status"], corrected["status"], rejected["status"]) == ("done", "done", "rejected")
    assert corrected["corrected_class"] == other and corrected["flagged"] is True
    return {"done": done, "corrected": corrected, "rejected": rejected}


@pytest.fixture(scope="module")
def console(stack, browser):
    """A page logged into the console as root, its licence notice acknowledged (once per browser profile)."""
    context = browser.new_context(viewport=TALL)
    page = context.new_page()
    page.goto(f"{stack.console_url}/login")
    page.locator("#accessKey").fill(stack.settings.minio_user)
    page.locator("#secretKey").fill(stack.settings.minio_password)
    page.locator("#do-login").click()
    page.wait_for_url("**/browser**", timeout=30_000)
    acknowledge = page.get_by_role("button", name="Acknowledge")
    acknowledge.click(timeout=30_000)
    expect(acknowledge).to_be_hidden()
    yield page
    context.close()


def open_record(page, console_url: str, pid: str):
    """The object view of `events/<id>.json`, as clicking it in the bucket's list opens it."""
    page.goto(f"{console_url}/browser/events/{names.record_key(pid)}")
    panel = page.locator("#details-panel")
    expect(panel.get_by_text(names.record_key(pid), exact=True).first).to_be_visible(timeout=30_000)
    return panel


def shown_tags(panel) -> dict[str, str]:
    """The panel's "Tags:" line (`key:value, key:value`, one span per tag) as a dict."""
    box = panel.locator(".detailContainer").filter(has=panel.page.locator("strong", has_text="Tags:"))
    expect(box.locator("span").first).to_be_visible(timeout=15_000)
    return dict(span.split(":", 1) for span in (s.strip().rstrip(",") for s in box.locator("span").all_inner_texts()))


@pytest.mark.parametrize("kind", ["done", "corrected", "rejected"])
def test_the_console_shows_a_records_status_class_and_name_without_a_download(stack, records, console, kind):
    record = records[kind]
    panel = open_record(console, stack.console_url, record["id"])
    tags = shown_tags(panel)
    screenshot(console, f"console-{kind}", full_page=False)
    assert tags["status"] == record["status"] and tags["source"] == record["source"]
    file_name = panel.locator(".detailContainer > div").filter(
        has=console.locator("strong", has_text="X-Amz-Meta-File-Name")
    )
    if kind == "rejected":
        reason = panel.locator(".detailContainer > div").filter(
            has=console.locator("strong", has_text="X-Amz-Meta-Reason")
        )
        assert "predicted_class" not in tags
        assert tags["reason"].startswith("not an image: the content is in no image format we accept JPEG PNG GIF")
        expect(reason).to_contain_text(record["reason"])  # the exact reason, brackets and commas included
        assert tags["file_name"] == "notes/menu draft.jpg"
        expect(file_name).to_contain_text(DROPPED_KEY)
        return
    assert tags["predicted_class"] == record["predicted_class"]
    assert tags["confidence"] == f"{record['confidence']:.3f}"
    if kind == "done":
        assert tags["file_name"] == "Creme brulee 2.jpg"  # what a tag can hold of the name
        expect(file_name).to_contain_text(WEB_NAME)  # the name as the uploader's file had it
        assert not {"corrected_class", "flagged", "reason"} & set(tags)
    else:
        assert tags["corrected_class"] == record["corrected_class"] and tags["flagged"] == "true"
        expect(file_name).to_contain_text("lunch.jpg")
