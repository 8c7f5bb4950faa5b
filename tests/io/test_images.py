"""Reading images: every mode and format as the same grey, EXIF orientation, bad files."""

import json
import shutil

import numpy as np
import pytest
from conftest import ROOT, face_like, ferkit
from PIL import Image

from ferkit.errors import FerkitError
from ferkit.io.images import as_pil, open_image, to_gray, to_rgb


@pytest.fixture
def grey():
    return face_like(3, 64)


@pytest.mark.parametrize(
    "mode,ext", [("RGB", "jpg"), ("L", "png"), ("RGBA", "png"), ("P", "png"), ("CMYK", "jpg"),
                 ("RGB", "bmp"), ("RGB", "webp"), ("LA", "png")],
)
def test_every_common_mode_and_format_reads_as_the_same_grey(tmp_path, grey, mode, ext):
    path = tmp_path / f"face.{ext}"
    Image.fromarray(grey).convert(mode).save(path)
    out = to_gray(open_image(path))
    assert out.shape == grey.shape and out.dtype == np.uint8
    # lossy formats and palettes move values a little, never the picture
    assert np.abs(out.astype(int) - grey).mean() < 8


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path, grey):
    path = tmp_path / "deep.png"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode.startswith("I")
    out = to_gray(open_image(path))
    assert np.abs(out.astype(int) - grey).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((40, 80), np.uint8)
    img[:, :10] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, exif=exif.tobytes())
    out = to_gray(open_image(path))
    assert out.shape == (80, 40)
    assert out[:10].mean() > 200  # the band is now at the top


def test_a_phone_heic_photo_is_read_upright_like_its_png(tmp_path):
    """tests/data/astronaut_sideways.heic: photos/astronaut.png coded a quarter turn round,
    the turn back recorded as HEIF's irot and EXIF orientation 6, as a phone held sideways
    saves it (made with pillow-heif 1.8.1, quality 50). Given in a folder: found there too."""
    phone = tmp_path / "phone"
    phone.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "astronaut_sideways.heic", phone / "IMG_0001.HEIC")
    r = ferkit("predict", str(phone), str(ROOT / "photos" / "astronaut.png"), "--json")
    assert r.returncode == 0, r.stderr
    heic, png = (json.loads(line) for line in r.stdout.splitlines())
    assert (heic["width"], heic["height"]) == (png["width"], png["height"])
    assert len(heic["faces"]) == 1
    assert heic["faces"][0]["label"] == png["faces"][0]["label"] == "happy"
    assert np.abs(np.subtract(heic["faces"][0]["box"], png["faces"][0]["box"])).max() <= 3


def test_transparent_margins_become_white_not_black():
    rgba = np.zeros((10, 10, 4), np.uint8)
    assert to_gray(Image.fromarray(rgba, "RGBA")).min() == 255


def test_missing_non_image_and_truncated_files_are_user_errors(tmp_path, grey):
    with pytest.raises(FerkitError, match="no such file"):
        open_image(tmp_path / "nope.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(FerkitError, match="not an image"):
        open_image(tmp_path / "notes.jpg")
    Image.fromarray(grey).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FerkitError, match="corrupt or truncated"):
        open_image(tmp_path / "cut.jpg")
    with pytest.raises(FerkitError, match="is a directory"):
        open_image(tmp_path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(FerkitError, match="too large"):
        open_image(path)


def test_a_bgr_array_becomes_exactly_its_rgb_one_whatever_its_layout():
    """OpenCV frames (BGR, BGRA, views of bigger frames) as RGB: channels swapped, nothing
    else, and the caller's array left alone."""
    bgra = np.random.default_rng(0).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    before = bgra.copy()
    for bgr in (np.ascontiguousarray(bgra[..., :3]), bgra, bgra[3:30:2, 5:50:3, :3]):
        expected = np.ascontiguousarray(bgr[..., 2::-1])
        assert np.array_equal(to_rgb(bgr, bgr=True), expected)
        assert np.array_equal(np.asarray(as_pil(bgr, bgr=True)), expected)
    assert np.array_equal(bgra, before)


def test_arrays_rgb_and_bgr_give_the_same_grey():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    bgr = rgb[..., ::-1]
    assert to_gray(as_pil(rgb)).mean() == pytest.approx(to_gray(as_pil(bgr, bgr=True)).mean())
    assert to_gray(as_pil(rgb)).mean() != pytest.approx(to_gray(as_pil(bgr)).mean())
    assert to_gray(as_pil(np.full((3, 3), 0.5))).max() in (127, 128)  # floats in [0, 1]
    with pytest.raises(FerkitError, match="expected a path"):
        as_pil(42)


@pytest.mark.parametrize("empty", [np.zeros((0, 0, 3), np.uint8), np.zeros((0, 5)),
                                   Image.new("RGB", (0, 3))])
def test_an_empty_image_is_a_user_error(empty):
    with pytest.raises(FerkitError, match="empty image"):
        to_rgb(empty)
    with pytest.raises(FerkitError, match="empty image"):
        as_pil(empty)
