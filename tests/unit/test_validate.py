import io

import pytest

from ingest.validate import UploadRefusal, check_image, check_size
from tests import phone_photos
from tests.conftest import bomb_png, image_bytes


def test_a_file_up_to_the_limit_is_accepted_and_one_byte_more_refused():
    assert check_size(1, 2_000_000) is None and check_size(2_000_000, 2_000_000) is None
    assert check_size(2_000_001, 2_000_000) == UploadRefusal(413, "the file is 2.0 MB; the limit is 2 MB")
    assert check_size(0, 2_000_000) == UploadRefusal(400, "the file is empty")


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [
        pytest.param("JPEG", "RGB", id="jpeg"),
        pytest.param("PNG", "RGBA", id="png"),
        pytest.param("GIF", "P", id="gif"),
        pytest.param("WEBP", "RGB", id="webp"),
        pytest.param("BMP", "RGB", id="bmp"),
        pytest.param("TIFF", "RGB", id="tiff"),
    ],
)
def test_every_served_format_is_accepted_by_its_content_and_the_stream_rewound(fmt, mode):
    stream = io.BytesIO(image_bytes(fmt, (64, 48), mode))
    assert check_image(stream, max_pixels=64 * 48) == (fmt, None)
    assert stream.tell() == 0  # the upload then stores the file from its first byte


@pytest.mark.parametrize("fmt", ["HEIC", "HEIF", "AVIF"])
def test_phone_photos_are_accepted_by_their_content_and_the_stream_rewound(fmt):
    stream = io.BytesIO(phone_photos.PHONE_FORMATS[fmt]())
    stream.read(7)  # wherever the upload left it
    assert check_image(stream, max_pixels=512 * 384) == (fmt, None)
    assert stream.tell() == 0


def test_the_pixel_limit_is_inclusive_on_the_page_too():
    assert check_image(io.BytesIO(image_bytes("PNG", (100, 50))), max_pixels=5000) == ("PNG", None)
    assert check_image(io.BytesIO(image_bytes("PNG", (100, 50))), max_pixels=4999) == (
        "",
        UploadRefusal(413, "too many pixels: 100x50 is more than 4,999"),
    )


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        pytest.param(b"", UploadRefusal(400, "the file is empty (0 bytes)"), id="empty"),
        pytest.param(
            b"name,price\nsoup,3\n",
            UploadRefusal(
                415,
                "not an image: the content is in no image format we accept "
                "(JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF): upload "
                "a JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF "
                "photo",
            ),
            id="text",
        ),
        pytest.param(
            b"BM" + bytes(20),
            UploadRefusal(415, "corrupt or truncated image: Unsupported BMP header type (0)"),
            id="broken-header",
        ),
    ],
)
def test_refusals_say_what_is_wrong_with_the_status_that_fits(data, refusal):
    stream = io.BytesIO(data)
    assert check_image(stream, 40_000_000) == ("", refusal)
    assert stream.tell() == 0


def test_a_decompression_bomb_past_pillows_own_limit_is_refused_on_the_page():
    # 15000 x 15000: Pillow itself refuses to open it (its bomb error), a branch the 9000 x 9000 bomb of the
    # upload test never reaches
    assert check_image(io.BytesIO(bomb_png(15000, 15000)), 40_000_000) == (
        "",
        UploadRefusal(413, "too many pixels (more than 40,000,000): refused as a decompression bomb"),
    )
