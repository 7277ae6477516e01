"""One real-browser test: Debian's chromium, driven by Playwright, against the real stack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from gourmetgram.cli.client import post_photo
from tests.conftest import PHOTOS, ROOT, photo
from tests.stack import production_objects, wait_final, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/setup.sh --test-tools installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update"])
        yield browser
        browser.close()


def csp_violations(page) -> list[str]:
    """What the page's Content-Security-Policy blocked: Chromium reports each blocked script, style or
    image on the console."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text
            else None)
    return seen


@pytest.mark.parametrize("viewport", [pytest.param({"width": 390, "height": 844}, id="phone")])
def test_upload_see_the_label_and_correct_it(stack, store, browser, viewport):
    page = browser.new_page(viewport=viewport)
    violations = csp_violations(page)
    response = page.goto(stack.web_url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_contain_text("GourmetGram")
    # GIVEN a real food photo picked in the page
    page.set_input_files("#file", str(PHOTOS / "9_452.jpg"))
    expect(page.locator("#preview")).to_be_visible()
    # WHEN it is uploaded
    started = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/predict") and r.request.method == "POST") as accepted:
        page.click("#submit")
    pid = accepted.value.json()["id"]
    # THEN the label and confidence appear
    expect(page.locator("#label")).to_have_text("Soup", timeout=30_000)
    seconds = time.monotonic() - started
    expect(page.locator("#confidence")).to_contain_text("%")
    expect(page.locator("#demo-banner")).to_be_hidden()  # the stack serves the fixture model, not the demo
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "result-phone.png"), full_page=True)
    print(f"\nupload-to-label in the browser: {seconds:.2f} s")
    # WHEN the user corrects the label
    page.select_option("#corrected", "Seafood")
    page.click("#correct")
    expect(page.locator("#feedback-status")).to_contain_text('Saved "Seafood"')
    page.screenshot(path=str(ARTIFACTS / "feedback-phone.png"), full_page=True)
    # THEN this photo's production object in MinIO carries the correction
    [key] = production_objects(store, pid)
    wait_until(lambda: store.get_tags("production", key).get("corrected_class") == "Seafood", 10,
               "the corrected_class tag")
    assert key.startswith("class_09/")
    assert violations == []  # the preview (an object URL), the script, the styles: all allowed by the CSP
    page.close()


def test_the_event_log_fills_its_table_under_the_csp(stack, store, browser):
    pid = post_photo(stack.web_url, photo("1_17.jpg"))["id"]
    wait_final(store, pid)
    page = browser.new_page()
    violations = csp_violations(page)
    response = page.goto(f"{stack.web_url}/events")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(f"#events tbody tr:has-text('{pid}')")).to_be_visible(timeout=15_000)
    assert violations == []
    page.close()


def test_a_text_file_shows_the_reason(stack, browser, tmp_path):
    page = browser.new_page()
    page.goto(stack.web_url)
    fake = tmp_path / "menu.jpg"
    fake.write_text("soup of the day: tomato")
    page.set_input_files("#file", str(fake))
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text("not an image")
    expect(page.locator("#result")).to_be_hidden()
    page.close()
