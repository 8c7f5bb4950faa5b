"""Big JPEGs are decoded reduced (DCT scaling) when that cannot hurt: same faces, same labels,
boxes in the file's own pixels."""

import numpy as np
import pytest
from PIL import Image

from ferkit.io.images import full_size, open_image, reduced
from ferkit.recognition.recognizer import load

ASTRONAUT = "photos/astronaut.png"


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory):
    """The astronaut at 2048x2560 (a 5 Mpx camera JPEG): decodable at half size."""
    path = tmp_path_factory.mktemp("big") / "astronaut_big.jpg"
    Image.open(ASTRONAUT).convert("RGB").resize((2048, 2560), Image.Resampling.BICUBIC).save(
        path, quality=92)
    return path


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_open_image_reduces_a_jpeg_only_as_far_as_asked(big_jpeg, tmp_path):
    half = open_image(big_jpeg, min_side=800)
    assert half.size == (1024, 1280) and full_size(half) == (2048, 2560)
    assert open_image(big_jpeg, min_side=1100).size == (2048, 2560)  # half would be < 1100
    assert full_size(open_image(big_jpeg)) == (2048, 2560)
    png = tmp_path / "big.png"
    Image.open(big_jpeg).save(png)
    assert open_image(png, min_side=300).size == (2048, 2560)  # not a JPEG: no reduction

    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    Image.open(big_jpeg).save(turned, exif=exif.tobytes(), quality=92)
    upright = open_image(turned, min_side=800)
    assert upright.size == (1280, 1024) and full_size(upright) == (2560, 2048)


def test_a_big_jpeg_gives_the_faces_of_its_full_decode_in_its_own_pixels(big_jpeg):
    rec = load()
    full = np.asarray(Image.open(big_jpeg).convert("RGB"))
    assert rec.read(big_jpeg).size == (1024, 1280)  # what predict(path) looks at
    reduced, whole = rec.predict(big_jpeg), rec.predict(full)
    assert len(reduced) == len(whole) == 1
    assert reduced[0].label == whole[0].label == "happy"
    assert abs(reduced[0].confidence - whole[0].confidence) < 0.03
    assert iou(reduced[0].box, whole[0].box) > 0.9
    assert next(rec.predict_many([big_jpeg])).size == (2048, 2560)


def test_no_reduction_when_the_smallest_face_is_given_in_pixels_or_nothing_is_detected(
        big_jpeg):
    assert load(min_face=100).read(big_jpeg).size == (2048, 2560)
    assert load().read(big_jpeg, detect=False).size == (2048, 2560)


def test_a_big_pillow_image_or_png_is_reduced_too_with_boxes_in_its_own_pixels(big_jpeg,
                                                                              tmp_path):
    """Not only a JPEG file: a big PNG, HEIC or Pillow image is made smaller (Pillow's
    reduce) before its faces are looked for; `ferkit crop` asks for its full size."""
    rec = load()
    full = Image.open(big_jpeg).convert("RGB")
    full.save(tmp_path / "big.png")
    whole = rec.predict(np.asarray(full))  # an array is looked at as it is
    for source in (full, tmp_path / "big.png"):
        (face,) = rec.predict(source)
        assert face.label == whole[0].label and iou(face.box, whole[0].box) > 0.9
    assert rec.find_faces(full)[3] == full.size == (2048, 2560)
    (box, small), (full_box, large) = rec.main_face(full), rec.main_face(full, reduce=False)
    assert large.shape[0] > 1.8 * small.shape[0] and iou(box, full_box) > 0.9


def test_reduced_keeps_the_shorter_side_and_says_from_what_size():
    img = Image.new("RGB", (4000, 3000))
    small = reduced(img, 800)  # 3000 // 800 = 3
    assert small.size == (1334, 1000) and full_size(small) == (4000, 3000)
    assert reduced(img, 1600) is img  # only by 1
    assert reduced(small, 300) is small  # already reduced
    assert reduced(img.convert("P"), 800).size == (4000, 3000)  # a palette: left alone
