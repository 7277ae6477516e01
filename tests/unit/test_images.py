import io

import pillow_heif
import pytest
from PIL import ExifTags, Image

from gourmetgram import images
from tests import phone_photos
from tests.conftest import bomb_png, image_bytes, photo


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
def test_every_served_format_opens_by_its_content(fmt, mode):
    image = images.open_header(image_bytes(fmt, (64, 48), mode), max_pixels=10_000)
    assert image.format == fmt and image.size == (64, 48)


@pytest.mark.parametrize("fmt", ["HEIC", "HEIF", "AVIF"])
def test_phone_photos_made_by_real_encoders_open_by_their_content(fmt):
    image = images.open_header(phone_photos.PHONE_FORMATS[fmt](), max_pixels=512 * 384)
    assert image.format == fmt and image.size == (512, 384)  # 9_452.jpg's size


def test_a_heif_is_heic_only_when_its_brand_says_hevc():
    data = bytearray(phone_photos.heic())
    for brand, fmt in [(b"heic", "HEIC"), (b"heix", "HEIC"), (b"heis", "HEIC"), (b"mif1", "HEIF")]:
        data[8:12] = brand
        assert images.open_header(bytes(data), 40_000_000).format == fmt, brand


def test_a_phone_photo_past_the_pixel_limit_is_refused_before_decoding():
    with pytest.raises(images.ImageRefused, match="512x384 is more than 196,607") as refused:
        images.open_header(phone_photos.heic(), max_pixels=512 * 384 - 1)
    assert refused.value.kind == "too_many_pixels"


@pytest.mark.parametrize(
    ("make", "left"),
    [
        # heif-enc (libheif 1.15) copies the EXIF alone: pillow-heif's reset to 1 would leave the photo on its side
        pytest.param(lambda: phone_photos.heic(phone_photos.turned()), 6, id="heic-exif-only"),
        pytest.param(lambda: phone_photos.heif(phone_photos.turned()), 6, id="heif-exif-only"),
        # an iPhone's: libheif turns it by `irot`; the EXIF orientation beside it must not turn it a second time
        pytest.param(phone_photos.heic_turned_in_container, 1, id="heic-irot"),
        # mirrored (2) and mirrored and turned (5): libheif's `imir` alone, or with `irot`
        pytest.param(
            lambda: phone_photos.heic_turned_in_container(phone_photos.turned(orientation=2)), 1, id="heic-imir"
        ),
        pytest.param(
            lambda: phone_photos.heic_turned_in_container(phone_photos.turned(orientation=5)), 1, id="heic-irot-imir"
        ),
        pytest.param(lambda: phone_photos.heic(phone_photos.turned(orientation=1)), 1, id="heic-exif-upright"),
        pytest.param(phone_photos.heic, 1, id="heic-upright"),
    ],
)
def test_a_heifs_exif_says_the_turn_left_after_libheifs_decode(make, left):
    image = images.open_header(make(), 40_000_000)
    assert image.getexif().get(ExifTags.Base.Orientation, 1) == left


def test_without_pillow_heifs_decoder_handle_its_reset_is_trusted():
    # the handle goes once the pixels are loaded (or if pillow-heif ever hides it): never a second turn
    assert images._heif_turns(Image.new("RGB", (4, 4))) is True


def test_pillow_heif_reads_the_primary_image_alone_on_one_thread():
    images.open_header(phone_photos.heic(), 40_000_000)  # registers the opener
    assert images.HEIF_OPTIONS == {"thumbnails": False, "depth_images": False, "aux_images": False, "decode_threads": 1}
    assert (
        pillow_heif.options.THUMBNAILS,
        pillow_heif.options.DEPTH_IMAGES,
        pillow_heif.options.AUX_IMAGES,
        pillow_heif.options.DECODE_THREADS,
    ) == (False, False, False, 1)


def test_a_stream_opens_like_bytes():
    assert images.open_header(io.BytesIO(photo()), 40_000_000).format == "JPEG"


@pytest.mark.parametrize(
    ("data", "kind", "words"),
    [
        pytest.param(b"", "empty", r"empty \(0 bytes\)", id="empty"),
        pytest.param(b"name,price\nsoup,3\n", "not_an_image", "not an image", id="text"),
        pytest.param(b"P6\n2 2\n255\n" + bytes(12), "not_an_image", "not an image", id="ppm-not-served"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n", "not_an_image", "not an image", id="eps-never-opened"),
        pytest.param(image_bytes("PNG")[:30], "not_an_image", "not an image", id="truncated-header"),
        pytest.param(b"BM" + bytes(20), "unreadable", "Unsupported BMP header", id="broken-bmp-header"),
    ],
)
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
    assert str(refused.value) == "GIF images are not accepted: only JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF"
