"""The upload page in a real browser (Debian's chromium, Playwright) against the real stack: choosing a photo
by every means, keyboard and screen-reader use, one upload per photo, feedback, plain errors, axe-core."""

from __future__ import annotations

import base64
import shutil
import time
import uuid

import pytest
from playwright.sync_api import expect

from gourmetgram import names
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    assert_accessible,
    csp_violations,
    screenshot,
    viewport_name,
)
from tests.conftest import PHOTOS, photo
from tests.stack import production_objects, wait_final, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PORTRAIT = PHOTOS / "10_36.jpg"  # 334x500: the result card starts below the fold of a phone


def record(store, pid: str) -> dict:
    return store.get_json("events", names.record_key(pid))[0]


def focused_id(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_upload_see_the_label_and_correct_it(stack, store, open_page, viewport):
    size = viewport_name(viewport)
    page = open_page(viewport)
    violations = csp_violations(page)
    # The stack serves a real model; the demo notice is shown here as when the demo model serves.
    page.route("**/api/status", lambda route: route.fulfill(json={"function": "up", "demo_model": True}))
    response = page.goto(stack.web_url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_contain_text("GourmetGram")
    # The notice speaks to visitors, inside the header landmark; operator instructions stay in README and logs
    banner = page.locator("header #demo-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Demo mode")
    expect(banner).not_to_contain_text("MODEL_PATH")
    screenshot(page, f"1-empty-{size}")
    assert_accessible(page, f"/ before a photo ({size})")
    # GIVEN a portrait food photo picked in the page
    page.set_input_files("#file", str(PORTRAIT))
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#chosen")).to_contain_text("10_36.jpg")
    screenshot(page, f"2-chosen-{size}")
    assert_accessible(page, f"/ with a photo chosen ({size})")
    # WHEN it is uploaded
    started = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/predict") and r.request.method == "POST") as accepted:
        page.click("#submit")
    pid = accepted.value.json()["id"]
    # THEN the label and confidence appear, announced, focused and scrolled into view with their buttons
    done = wait_final(store, pid)
    expect(page.locator("#label")).to_have_text(done["predicted_class"], timeout=30_000)
    seconds = time.monotonic() - started
    # a confident answer (the fixture model is 84 % sure of it), in words, shown once: not in the status line
    assert 0.7 <= done["confidence"] < 0.9
    expect(page.locator("#confidence")).to_have_text(f"Fairly sure ({round(100 * done['confidence'])}\u00a0%)")
    expect(page.locator("#result")).not_to_have_class("card guess")
    expect(page.locator("#status")).to_have_text("")
    assert focused_id(page) == "result-heading"
    for control in ("#corrected", "#correct", "#flag"):
        expect(page.locator(control)).to_be_in_viewport(ratio=1)  # wholly: the smooth scroll has ended
    # Operator details (model version, latency) only in the quiet "Details" line, closed at first
    expect(page.locator("#details")).to_be_hidden()
    expect(page.locator("#details")).to_contain_text(done["model_version"], use_inner_text=False)
    expect(page.locator("#result h2")).not_to_contain_text("model")
    screenshot(page, f"3-result-{size}")
    screenshot(page, f"3-result-in-view-{size}", full_page=False)  # what the window shows
    assert_accessible(page, f"/ with a result ({size})")
    print(f"\nupload-to-label in the browser ({size}): {seconds:.2f} s")
    # iOS zooms into a form control whose text is under 16 px when it gets the focus
    assert page.locator("#corrected").evaluate("(e) => parseFloat(getComputedStyle(e).fontSize)") >= 16
    # A correction must name another class: nothing chosen, or the model's own answer, sends nothing
    feedback = []
    page.on("request", lambda r: feedback.append(r) if r.url.endswith("/feedback") else None)
    page.click("#correct")
    expect(page.locator("#feedback-status")).to_have_text(
        "Choose the class the photo really shows, then press Save correction."
    )
    expect(page.locator("#corrected")).to_be_focused()
    page.select_option("#corrected", done["predicted_class"])
    page.click("#correct")
    expect(page.locator("#feedback-status")).to_contain_text("the model was right")
    assert feedback == []
    # WHEN the user corrects the label and flags it
    other = "Seafood" if done["predicted_class"] != "Seafood" else "Egg"
    page.select_option("#corrected", other)
    page.click("#correct")
    expect(page.locator("#feedback-status")).to_have_text(f"Saved: this photo is {other}. Thank you!")
    page.click("#flag")
    expect(page.locator("#feedback-status")).to_have_text("Flagged for review. Thank you!")
    expect(page.locator("#flag")).to_have_text("Remove flag")
    screenshot(page, f"4-feedback-{size}")
    assert_accessible(page, f"/ after feedback ({size})")
    # THEN this photo's production object in MinIO carries both
    [key] = production_objects(store, pid)
    wait_until(lambda: store.get_tags("production", key).get("corrected_class") == other, 10, "the correction tag")
    assert store.get_tags("production", key)["flagged"] == "true"
    # WHEN they take the correction back (the model was right after all): no correction is left anywhere
    page.select_option("#corrected", done["predicted_class"])
    page.click("#correct")
    expect(page.locator("#feedback-status")).to_have_text(
        f"Your correction is taken back: the model was right, it is {done['predicted_class']}."
    )
    assert "corrected_class" not in record(store, pid)
    wait_until(lambda: "corrected_class" not in store.get_tags("production", key), 10, "the correction tag gone")
    assert violations == []  # the preview (an object URL), the modules, the styles: all allowed by the CSP


def test_keyboard_only_picks_classifies_corrects_flags_and_unflags(stack, store, open_page, tmp_path):
    page = open_page(DESKTOP)
    # Playwright turns on its interception of file dialogs when a listener first exists, without waiting:
    # listening from the start keeps an early dialog from opening (and closing) unseen.
    page.on("filechooser", lambda chooser: None)
    page.goto(stack.web_url)
    # Tab: the nav link, then a real "Choose a photo" control (the file input used to be unreachable)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused_id(page) == "choose"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(PHOTOS / "9_452.jpg"))
    expect(page.locator("#status")).to_contain_text("Chosen: 9_452.jpg")
    page.keyboard.press("Tab")
    assert focused_id(page) == "submit"
    page.keyboard.press("Enter")
    # Classify disables itself: focus must stay on something the reader can use, never fall to the page
    assert focused_id(page) not in ("BODY", "submit")
    expect(page.locator("#label")).to_have_text("Soup", timeout=30_000)
    expect(page.locator("#result-heading")).to_be_focused()
    expect(page.locator("#result-heading")).to_contain_text("Fairly sure")
    pid = page.evaluate("document.querySelector('#details').textContent.split('prediction ')[1]")
    # Correct by keyboard: Tab to the select, type the class's name, Tab to the button, Enter
    page.keyboard.press("Tab")
    assert focused_id(page) == "corrected"
    page.keyboard.type("Seafood")
    expect(page.locator("#corrected")).to_have_value("Seafood")
    page.keyboard.press("Tab")
    assert focused_id(page) == "correct"
    page.keyboard.press("Enter")
    expect(page.locator("#feedback-status")).to_have_text("Saved: this photo is Seafood. Thank you!")
    # Flag, unflag and flag again with Space and Enter
    page.keyboard.press("Tab")
    assert focused_id(page) == "flag"
    page.keyboard.press("Space")
    expect(page.locator("#feedback-status")).to_have_text("Flagged for review. Thank you!")
    wait_until(lambda: record(store, pid).get("flagged") is True, 10, "the flag in the record")
    page.keyboard.press("Enter")
    expect(page.locator("#feedback-status")).to_have_text("Flag removed.")
    expect(page.locator("#flag")).to_have_text("Flag for review")
    wait_until(lambda: record(store, pid).get("flagged") is False, 10, "the flag removed from the record")
    page.keyboard.press("Enter")
    expect(page.locator("#flag")).to_have_text("Remove flag")
    doc = wait_until(lambda: (lambda d: d if d.get("flagged") else None)(record(store, pid)), 10, "the flag again")
    assert doc["corrected_class"] == "Seafood"
    [key] = production_objects(store, pid)
    wait_until(lambda: store.get_tags("production", key).get("flagged") == "true", 10, "the flagged tag")


def test_a_second_press_of_classify_does_not_upload_again(stack, store, open_page, tmp_path):
    # GIVEN a photo whose file name no other test uses
    name = f"double-{uuid.uuid4().hex[:8]}.jpg"
    shutil.copy(PHOTOS / "7_226.jpg", tmp_path / name)
    page = open_page(PHONE)
    uploads = []
    page.on("request", lambda r: uploads.append(r) if r.url.endswith("/predict") and r.method == "POST" else None)
    page.goto(stack.web_url)
    page.set_input_files("#file", str(tmp_path / name))
    # WHEN Classify is double-clicked, then pressed and submitted again once the result is shown
    page.dblclick("#submit")
    expect(page.locator("#result")).to_be_visible(timeout=30_000)
    expect(page.locator("#submit")).to_be_disabled()
    page.locator("#submit").click(force=True)
    page.evaluate("document.getElementById('upload-form').requestSubmit()")  # past the disabled button
    page.wait_for_timeout(1500)  # a second upload would start at once
    # THEN the photo was sent once, and the bucket holds one record of it
    assert len(uploads) == 1
    mine = [
        o.key
        for o in store.list("events")
        if record(store, o.key.removesuffix(".json")).get("original_filename") == name
    ]
    assert len(mine) == 1
    # AND choosing a photo again is a new choice that may be sent
    page.set_input_files("#file", str(tmp_path / name))
    expect(page.locator("#submit")).to_be_enabled()


@pytest.mark.parametrize(
    ("kind", "make", "plain", "technical"),
    [
        pytest.param(
            "truncated",
            lambda: photo("4_87.jpg")[:20_000],
            "This photo seems damaged or incomplete",
            "corrupt or truncated JPEG",
            id="truncated-rejected-by-the-function",
        ),
    ],
)
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_file_that_cannot_be_classified_is_explained_in_plain_words(
    stack, open_page, tmp_path, viewport, kind, make, plain, technical
):
    size = viewport_name(viewport)
    page = open_page(viewport)
    page.goto(stack.web_url)
    bad = tmp_path / "menu.jpg"
    bad.write_bytes(make())
    page.set_input_files("#file", str(bad))
    # The file's name shows even when the browser cannot preview it (no empty dashed box)
    expect(page.locator("#chosen")).to_contain_text("menu.jpg")
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text(plain, timeout=30_000)
    expect(page.locator("#status")).to_contain_text("Please choose")  # what to do
    expect(page.locator("#status")).not_to_contain_text(technical)  # the library's words only in details
    expect(page.locator("#problem-text")).to_contain_text(technical, use_inner_text=False)
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#submit")).to_be_disabled()  # the same file would fail again
    expect(page.locator("#status")).to_be_focused()
    screenshot(page, f"5-rejected-{kind}-{size}")
    assert_accessible(page, f"/ after a rejected file ({size})")


def _file_in_page(page, path, mime="image/jpeg"):
    """A DataTransfer holding the file, made in the page (as a drag or the clipboard carries it)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return page.evaluate_handle(
        """([data, name, type]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [data, path.name, mime],
    )


def test_a_photo_can_be_dropped_or_pasted(stack, open_page):
    page = open_page(PHONE)
    page.goto(stack.web_url)
    # Dropped on the zone
    transfer = _file_in_page(page, PHOTOS / "4_87.jpg")
    page.dispatch_event("#drop", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#drop")).to_have_class("drop over")
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(page.locator("#chosen")).to_contain_text("4_87.jpg")
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#submit")).to_be_enabled()
    # Pasted from the clipboard (a screenshot, a copied image)
    transfer = _file_in_page(page, PHOTOS / "1_17.jpg")
    page.evaluate("(t) => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: t }))", transfer)
    expect(page.locator("#chosen")).to_contain_text("1_17.jpg")
    expect(page.locator("#submit")).to_be_enabled()
    # Classified as chosen
    page.click("#submit")
    expect(page.locator("#label")).to_have_text("Dairy product", timeout=30_000)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_upload_shows_its_progress_and_can_be_cancelled(stack, store, open_page, viewport):
    size = viewport_name(viewport)
    page = open_page(viewport)
    page.goto(stack.web_url)
    # GIVEN a slow connection (about 20 KB/s up) and a 314 KB photo
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 50, "downloadThroughput": -1, "uploadThroughput": 20_000},
    )
    incoming_before = {o.key for o in store.list("incoming")}
    page.set_input_files("#file", str(PHOTOS / "1_17.jpg"))
    page.click("#submit")
    # THEN a progress bar with its percentage, and Cancel, focused
    bar = page.locator("[role=progressbar]")
    expect(bar).to_be_visible()
    wait_until(lambda: int(bar.get_attribute("aria-valuenow") or 0) > 0, 20, "some upload progress")
    expect(page.locator("#progress-text")).to_contain_text("%")
    expect(page.locator("#cancel")).to_be_focused()
    screenshot(page, f"6-uploading-{size}")
    assert_accessible(page, f"/ while uploading ({size})")
    # WHEN the visitor cancels
    page.keyboard.press("Enter")
    # THEN the upload stops, nothing is stored, and the same photo may be sent again
    expect(page.locator("#status")).to_have_text(
        "Upload cancelled. Press Classify to send the photo again, or choose another one."
    )
    expect(bar).to_be_hidden()
    expect(page.locator("#submit")).to_be_enabled()
    page.wait_for_timeout(500)
    assert {o.key for o in store.list("incoming")} == incoming_before
    # WHEN it is sent again at full speed, while the classifier has not answered yet
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.route("**/predictions/*?wait=*", lambda route: route.fulfill(json={"status": "pending", "stage": "queued"}))
    page.click("#submit")
    # THEN the bar says it is classifying (no percentage to give), then the label comes
    expect(page.locator("#progress-text")).to_have_text("Classifying…")
    assert bar.get_attribute("aria-valuenow") is None
    screenshot(page, f"7-classifying-{size}")
    assert_accessible(page, f"/ while classifying ({size})")
    page.unroute("**/predictions/*?wait=*")
    expect(page.locator("#label")).to_have_text("Dairy product", timeout=30_000)
