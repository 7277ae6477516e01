"""/review and /quality in Debian's chromium: their header and navigation as on `/` (the white bar, the title
on the left, the pages on the right, wrapping on a phone instead of running off it), reachable by keyboard."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from gourmetgram.store import Store
from tests.browser.conftest import DESKTOP, assert_accessible, screenshot, viewport_name
from tests.seeding import seed_photo

pytestmark = [pytest.mark.browser, pytest.mark.integration]
TALL_PHONE = {"width": 390, "height": 844}
BAR = """() => { const bar = document.querySelector('header .bar'), s = bar && getComputedStyle(bar);
    const header = getComputedStyle(document.querySelector('header'));
    return bar && { display: s.display, justify: s.justifyContent, background: header.backgroundColor,
                    overflow: document.documentElement.scrollWidth > window.innerWidth }; }"""


@pytest.fixture(scope="module")
def reviewed_photo(stack):
    """/quality as it is once photos were reviewed: a model section, its tables, and a model version that is one
    long word (a content hash), the widest things the page shows."""
    seed_photo(
        Store.connect(stack.settings),
        time.time() - 60,
        "Soup",
        0.42,
        human_label="Rice",
        model_version="food11-" + "0123456789abcdef" * 4,
    )


@pytest.mark.parametrize("viewport", [pytest.param(TALL_PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")])
@pytest.mark.parametrize(
    ("path", "links"),
    [
        pytest.param("/review", ["Upload", "Event log", "Quality"], id="review"),
        pytest.param("/quality", ["Upload", "Event log", "Review"], id="quality"),
    ],
)
def test_operator_pages_have_the_header_of_the_upload_page(stack, browser, viewport, path, links, reviewed_photo):
    size = viewport_name(viewport)
    s = stack.settings
    shapes = {}
    public = browser.new_context(viewport=viewport)
    operator = browser.new_context(
        viewport=viewport, http_credentials={"username": s.review_user, "password": s.local_review_token}
    )
    try:
        page = public.new_page()
        page.goto(stack.web_url)
        shapes["/"] = page.evaluate(BAR)
        page = operator.new_page()
        page.goto(f"{stack.web_url}{path}")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # its tables count too
        shapes[path] = page.evaluate(BAR)
        # the same bar as on `/`, and nothing wider than the phone
        assert (
            shapes[path]
            == shapes["/"]
            == {"display": "flex", "justify": "space-between", "background": "rgb(255, 255, 255)", "overflow": False}
        )
        nav = page.locator("header .bar nav[aria-label='Pages']")
        expect(nav.locator("a")).to_have_text(links)
        # the first Tab reaches the navigation
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == links[0]
        screenshot(page, f"header{path.replace('/', '-')}-{size}", full_page=False)
        assert_accessible(page, f"{path} header ({size})")
    finally:
        public.close()
        operator.close()
