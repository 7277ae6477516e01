import io

import pytest
from PIL import Image

from gourmetgram import images
from tests.conftest import bomb_png, image_bytes, photo


@pytest.mark.parametrize(("fmt", "mode"), [
    pytest.param("JPEG", "RGB", id="jpeg"), pytest.param("PNG", "RGBA", id="png"),
    pytest.param("GIF", "P", id="gif"), pytest.param("WEBP", "RGB", id="webp"),
    pytest.param("BMP", "RGB", id="bmp"), pytest.param("TIFF", "RGB", id="tiff"),
])
def test_every_served_format_opens_by_its_content(fmt, mode):
    image = images.open_header(image_bytes(fmt, (64, 48), mode), max_pixels=10_000)
    assert image.format == fmt and image.size == (64, 48)


def test_a_stream_opens_like_bytes():
    assert images.open_header(io.BytesIO(photo()), 40_000_000).format == "JPEG"


@pytest.mark.parametrize(("data", "kind", "words"), [
    pytest.param(b"", "empty", r"empty \(0 bytes\)", id="empty"),
    pytest.param(b"name,price\nsoup,3\n", "not_an_image", "not an image", id="text"),
    pytest.param(b"P6\n2 2\n255\n" + bytes(12), "not_an_image", "not an image", id="ppm-not-served"),
    pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n", "not_an_image", "not an image", id="eps-never-opened"),
    pytest.param(image_bytes("PNG")[:30], "not_an_image", "not an image", id="truncated-header"),
    pytest.param(b"BM" + bytes(20), "unreadable", "Unsupported BMP header", id="broken-bmp-header"),
])
def test_refusals_say_why(data, kind, words):
    with pytest.raises(images.ImageRefused, match=words) as refused:
        images.open_header(data, 40_000_000)
    assert refused.value.kind == kind


def test_the_pixel_limit_is_inclusive():
    exactly = image_bytes("PNG", (100, 50))
    assert images.open_header(exactly, max_pixels=5000).size == (100, 50)
    with pytest.raises(images.ImageRefused, match="100x50 is more than 4,999") as refused:
        images.open_header(exactly, max_pixels=4999)
    assert refused.value.kind == "too_many_pixels"


def test_a_bomb_past_pillows_own_limit_is_refused_before_decoding():
    # 15000 x 15000 = 225 Mpx: past twice Pillow's MAX_IMAGE_PIXELS, Pillow itself refuses to open it
    assert 15000 * 15000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(images.ImageRefused, match="decompression bomb") as refused:
        images.open_header(bomb_png(15000, 15000), max_pixels=40_000_000)
    assert refused.value.kind == "too_many_pixels"


def test_between_pillows_warning_and_its_limit_our_limit_refuses_without_a_warning():
    side = 10_000  # 100 Mpx: Pillow only warns (an error in this test suite); our limit refuses it
    assert Image.MAX_IMAGE_PIXELS < side * side < 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(images.ImageRefused, match="10000x10000 is more than 40,000,000"):
        images.open_header(bomb_png(side, side), max_pixels=40_000_000)


def test_a_format_a_plugin_names_but_we_do_not_list_is_refused_by_name(monkeypatch):
    # e.g. a Pillow upgrade whose JPEG plugin names a new variant (as MPO once was): refused, not served
    # under an extension and type we do not have for it
    monkeypatch.setattr(images, "IMAGE_FORMATS", {k: v for k, v in images.IMAGE_FORMATS.items() if k != "GIF"})
    with pytest.raises(images.ImageRefused) as refused:
        images.open_header(image_bytes("GIF", (64, 48), "P"), max_pixels=10_000)
    assert refused.value.kind == "not_an_image"
    assert str(refused.value) == "GIF images are not accepted: only JPEG, PNG, GIF, WebP, BMP or TIFF"
