"""Photos from phones through the page in a real browser (Debian's chromium, Playwright) against the real
stack: HEIC (made by heif-enc) and AVIF (made by Pillow) chosen, classified and stored as what they are; a file
that is no photo refused by its first bytes before anything is sent."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

from gourmetgram import names
from ingest.validate import check_image
from tests import phone_photos
from tests.browser.conftest import VIEWPORTS, assert_accessible, screenshot, viewport_name
from tests.conftest import image_bytes, photo
from tests.stack import production_objects, wait_final

pytestmark = [pytest.mark.browser, pytest.mark.integration]
TALL_PHONE = {"width": 390, "height": 844}


def count_uploads(page) -> list:
    """Every request for an upload the page makes, from now on."""
    sent: list = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/predict") else None)
    return sent


@pytest.mark.parametrize(
    ("name", "make", "ext"),
    [
        pytest.param(
            "IMG_0042.HEIC",
            lambda: phone_photos.heic(phone_photos.turned(photo("10_36.jpg"))),
            ".heic",
            id="iphone-heic",
        ),
        pytest.param(
            "PXL_0042.avif",
            lambda: phone_photos.avif(phone_photos.turned(photo("10_36.jpg"))),
            ".avif",
            id="android-avif",
        ),
    ],
)
@pytest.mark.parametrize("viewport", [pytest.param(TALL_PHONE, id="phone"), VIEWPORTS[1]])
def test_a_phone_photo_is_classified_from_the_page_and_kept_as_what_it_is(
    stack, store, open_page, tmp_path, viewport, name, make, ext
):
    size = viewport_name(viewport)
    page = open_page(viewport)
    page.goto(stack.web_url)
    chosen = tmp_path / name
    chosen.write_bytes(make())
    # GIVEN a phone's photo chosen in the page (chromium gives a .HEIC no image type: the bytes decide)
    page.set_input_files("#file", str(chosen))
    expect(page.locator("#chosen")).to_contain_text(name)
    expect(page.locator("#submit")).to_be_enabled()
    expect(page.locator("#status")).not_to_have_class("status error")
    # WHEN it is classified
    with page.expect_response(lambda r: r.url.endswith("/predict") and r.request.method == "POST") as accepted:
        page.click("#submit")
    assert accepted.value.status == 202, accepted.value.text()
    pid = accepted.value.json()["id"]
    done = wait_final(store, pid)
    # THEN it is labelled, and kept in production under its own extension and type, byte for byte
    assert done["status"] == "done", done
    # (the fixture model knows these photos only as JPEGs, and upright: the card may show a guess)
    expect(page.locator("#result-heading")).to_contain_text(done["predicted_class"], timeout=30_000)
    [key] = production_objects(store, pid)
    assert key.endswith(ext) and key == done["production_key"]
    assert store.head("production", key).content_type == dict(names.IMAGE_FORMATS.values())[ext]
    assert store.read("production", key) == chosen.read_bytes()
    screenshot(page, f"phone-{ext[1:]}-result-{size}")
    assert_accessible(page, f"/ with a {ext} result ({size})")


@pytest.mark.parametrize("viewport", [pytest.param(TALL_PHONE, id="phone"), VIEWPORTS[1]])
def test_a_renamed_text_file_is_refused_by_its_bytes_before_anything_is_sent(stack, open_page, tmp_path, viewport):
    size = viewport_name(viewport)
    page = open_page(viewport)
    page.goto(stack.web_url)
    sent = count_uploads(page)
    # GIVEN a text file named like a photo, of the type a photo has
    renamed = tmp_path / "menu.jpg"
    renamed.write_bytes(b"soup of the day: tomato\n")
    page.set_input_files(
        "#file", files=[{"name": "menu.jpg", "mimeType": "image/jpeg", "buffer": renamed.read_bytes()}]
    )
    # THEN the page refuses it in the server's words, nothing to press, and nothing was sent
    status = page.locator("#status")
    expect(status).to_have_text(
        "This file is not a photo we can read. Please choose a JPEG, PNG, GIF, WebP, "
        "BMP, TIFF, HEIC/HEIF or AVIF photo."
    )
    expect(status).to_have_class("status error")
    expect(page.locator("#problem-text")).to_have_text(
        "not an image: the content is in no image format we accept (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF "
        "or AVIF)",
        use_inner_text=False,
    )
    expect(page.locator("#submit")).to_be_disabled()
    page.keyboard.press("Enter")  # nor by the keyboard
    screenshot(page, f"phone-refused-text-{size}")
    assert_accessible(page, f"/ with a text file refused by its bytes ({size})")
    # WHEN a photo follows, in a type the browser does not know: its bytes make it a photo
    page.set_input_files(
        "#file",
        files=[{"name": "IMG_0043.HEIC", "mimeType": "application/octet-stream", "buffer": phone_photos.heic()}],
    )
    expect(page.locator("#submit")).to_be_enabled()
    expect(status).to_have_text("Chosen: IMG_0043.HEIC. Press Classify to find out what food it is.")
    assert sent == []


def _heads(files: dict[str, bytes]) -> dict[str, list[int]]:
    return {name: list(data[:16]) for name, data in files.items()}


def test_the_pages_check_lets_every_format_the_server_takes_through_and_nothing_else(stack, open_page):
    # the server's formats, made by their real encoders, against the page's signatures (sniff.js)
    photos = {
        fmt.lower(): image_bytes(fmt, mode="P" if fmt == "GIF" else "RGB")
        for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
    }
    photos |= {
        "bigtiff": image_bytes("TIFF", big_tiff=True),
        "heic": phone_photos.heic(),
        "heif": phone_photos.heif(),
        "avif": phone_photos.avif(),
    }
    for name, data in photos.items():  # each is one the server accepts
        assert check_image(io.BytesIO(data), 40_000_000)[1] is None, name
    others = {
        "text": b"soup of the day: tomato\n",
        "pdf": b"%PDF-1.7\n",
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n",
        "ppm": b"P6\n2 2\n255\n",
        "mp4-video": b"\0\0\0\x18ftypmp42\0\0\0\0",
        "almost-gif": b"GIF88a",
        "one-byte": b"\xff",
        "zip": b"PK\x03\x04",
        "html": b"<!doctype html>",
    }
    page = open_page(TALL_PHONE)
    page.goto(stack.web_url)
    verdicts = page.evaluate(
        """async (heads) => {
        const { looksLikePhoto } = await import('/static/sniff.js');
        return Object.fromEntries(Object.entries(heads).map(([n, h]) => [n, looksLikePhoto(new Uint8Array(h))]));
    }""",
        _heads(photos) | _heads(others),
    )
    assert verdicts == {name: name in photos for name in photos | others}
