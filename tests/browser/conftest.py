"""Debian's chromium through Playwright, axe-core (the accessibility engine) in it, and screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 664}  # a 390-px phone with the browser's bars taking the rest
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]
BLOCKING = ("serious", "critical")  # axe's impacts that fail a test


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: Playwright's sync API keeps an asyncio loop running in this thread until
    # it is closed, and the tests that run after the browser tests need the thread without one.
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/setup.sh --test-tools installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """`open_page(viewport, **context options)`: a page in a context of its own, closed after the test."""
    contexts = []

    def open_(viewport: dict, **options):
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def csp_violations(page) -> list[str]:
    """What the page's Content-Security-Policy blocked: Chromium reports each blocked script, style or
    image on the console."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None)
    return seen


_AXE = Axe()


def assert_accessible(page, state: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation (contrast, names, roles, ...)."""
    results = _AXE.run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(' '.join(n['target']) for n in v['nodes'])}"
        for v in blocking
    )
    assert not blocking, f"axe-core on {state}:\n{report}"


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """A screenshot in test-artifacts/ (named `<n>-<state>-<viewport>.png` by the tests): the whole page, or
    with `full_page=False` what the window shows."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def viewport_name(viewport: dict) -> str:
    return "phone" if viewport["width"] < 600 else "desktop"
