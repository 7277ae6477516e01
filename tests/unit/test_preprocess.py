import io

import pytest
import torch
from PIL import Image

from classifier_fn.inference.errors import Rejected
from classifier_fn.inference.preprocess import prepare
from tests import phone_photos
from tests.conftest import bomb_png, image_bytes, photo


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA", "CMYK", "1", "I"])
def test_every_common_mode_becomes_a_normalised_rgb_tensor(mode):
    fmt = "JPEG" if mode in ("RGB", "L", "CMYK") else "TIFF" if mode == "I" else "PNG"
    prepared = prepare(image_bytes(fmt, (300, 200), mode))
    assert prepared.tensor.shape == (3, 224, 224) and prepared.tensor.dtype == torch.float32
    assert prepared.mode == mode
    assert -2.2 < prepared.tensor.min().item() and prepared.tensor.max().item() < 2.7


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (400, 200), "white")
    image.paste((255, 0, 0), (0, 0, 200, 200))  # left half red
    plain, rotated = io.BytesIO(), io.BytesIO()
    image.save(plain, "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90° clockwise
    image.save(rotated, "JPEG", quality=95, exif=exif)
    a, b = prepare(plain.getvalue()), prepare(rotated.getvalue())
    assert (a.width, a.height) == (400, 200) and (b.width, b.height) == (200, 400)
    # After rotating, red (high R, low G) is on top: compare the top and bottom rows.
    green = b.tensor[1]
    assert green[:50].mean() < green[-50:].mean()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: phone_photos.heic(phone_photos.turned()), id="heic-exif-only"),
        pytest.param(phone_photos.heic_turned_in_container, id="heic-irot-and-exif"),
        pytest.param(lambda: phone_photos.heif(phone_photos.turned()), id="heif"),
        pytest.param(lambda: phone_photos.avif(phone_photos.turned()), id="avif-irot"),
    ],
)
def test_a_phone_photo_is_turned_once_and_decodes_close_to_its_jpeg(make):
    jpeg = prepare(phone_photos.turned())
    phone = prepare(make())
    assert (jpeg.width, jpeg.height) == (phone.width, phone.height) == (384, 512)  # 9_452.jpg held upright
    # the same picture the same way up: close (lossy encoders), unlike the same one turned
    assert (phone.tensor - jpeg.tensor).abs().mean() < 0.05  # measured 0.016 to 0.018
    assert (prepare(photo()).tensor - jpeg.tensor).abs().mean() > 0.5  # measured 0.97


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    assert prepare(out.getvalue()).format == "GIF"


def test_tiny_image_is_upscaled():
    assert prepare(image_bytes("PNG", (1, 1))).tensor.shape == (3, 224, 224)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="zero-bytes"),
        pytest.param(b"just some text\n" * 10, "not an image", id="text"),
        pytest.param(photo()[:4000], "corrupt or truncated image", id="truncated-header"),
        pytest.param(image_bytes("JPEG", (800, 600))[:6000], "corrupt or truncated JPEG", id="truncated-jpeg"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not", id="png-garbage"),
        pytest.param(image_bytes("PNG", (2000, 30)), "aspect ratio", id="strip"),
    ],
)
def test_rejections_have_reasons_a_person_understands(data, reason):
    with pytest.raises(Rejected, match=reason):
        prepare(data)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = bomb_png(8000, 8000)
    assert len(bomb) < 200_000
    with pytest.raises(Rejected, match="too many pixels"):
        prepare(bomb, max_pixels=40_000_000)
