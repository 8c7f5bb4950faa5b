"""CenterFace, the sharper detector: real photos, placement, small faces, the pyramid, and the
way it is chosen from the CLI and the Python API."""

import json

import numpy as np
import pytest
from conftest import FACES_IN_PHOTOS, PHOTOS, assert_user_error, ferkit, requires_photos
from PIL import Image

from ferkit.detection.blazeface import BlazeFace
from ferkit.detection.boxes import iou
from ferkit.detection.centerface import CenterFace
from ferkit.detection.framing import FRAME_SCALE, crop_square
from ferkit.errors import FerkitError
from ferkit.recognition.recognizer import load


@pytest.fixture(scope="module")
def detector():
    return CenterFace()


@requires_photos
@pytest.mark.parametrize("name", sorted(FACES_IN_PHOTOS))
def test_every_face_and_no_false_face_in_real_photos(detector, name):
    rgb = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
    dets = sorted(detector.detect(rgb), key=lambda d: d.box[0])
    assert len(dets) == FACES_IN_PHOTOS[name], [d.box for d in dets]
    # boxes follow BlazeFace's convention, so crops and drawings are the same for both
    blaze = sorted(BlazeFace().detect(rgb), key=lambda d: d.box[0])
    for d, b in zip(dets, blaze, strict=True):
        assert d.score > 0.6 and d.keypoints.shape == (5, 2)
        assert iou(d.box, b.box) > 0.55, (d.box, b.box)
        x0, y0, x1, y1 = d.box
        eyes, mouth = d.keypoints[:2], d.keypoints[3:]
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in d.keypoints)
        assert eyes[:, 1].max() < mouth[:, 1].min()


@requires_photos
def test_a_face_is_framed_where_it_is_put(detector):
    """The square ferkit would crop for FER2013 framing lands on the pasted face."""
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    for x, y, size in ((40, 60, 260), (600, 300, 180), (820, 20, 120)):
        canvas = Image.new("RGB", (1000, 700), (120, 140, 160))
        canvas.paste(face.resize((size, size)), (x, y))
        (det,) = detector.detect(np.asarray(canvas))
        square = crop_square(det.box, FRAME_SCALE)
        assert iou(square, (x, y, x + size, y + size)) > 0.5, (square, (x, y, size))


@requires_photos
def test_small_faces_are_found_when_asked_for_and_the_pyramid_is_short():
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    canvas = Image.new("RGB", (1200, 900), (120, 140, 160))
    canvas.paste(face.resize((60, 60)), (700, 500))
    rgb = np.asarray(canvas)
    assert CenterFace().detect(rgb) == []  # 60 px is below the default (18% of 900 px)
    (det,) = CenterFace(min_face=50).detect(rgb)
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    assert abs(cx - 730) < 12 and abs(cy - 530) < 12

    d = CenterFace()
    scales = d.scales(1200, 900)
    assert scales[0] == pytest.approx(d.smallest / (0.18 * 900))  # min_face -> 48 px
    assert all(a / b == pytest.approx(d.largest) for a, b in zip(scales, scales[1:],
                                                                   strict=False))
    assert 900 * scales[-1] <= d.smallest * d.largest  # the coarsest level holds any face
    assert CenterFace(min_face=20).scales(1200, 900)[0] == 1.0  # never upsampled


@requires_photos
def test_chosen_by_name_from_the_api_and_the_cli(tiny_onnx):
    rec = load(str(tiny_onnx), detector="centerface", min_face=40)
    assert isinstance(rec.detector, CenterFace) and rec.detector.min_face == 40
    assert len(rec.predict(PHOTOS / "multi_face.jpg")) == 5
    with pytest.raises(FerkitError, match="unknown face detector 'retina'"):
        load(str(tiny_onnx), detector="retina")

    r = ferkit("predict", "--model", str(tiny_onnx), "--detector", "centerface", "--json",
               str(PHOTOS / "multi_face.jpg"))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["faces"]) == 5
    assert_user_error(ferkit("predict", "--model", str(tiny_onnx), "--detector", "retina",
                             str(PHOTOS / "single_face.jpg")), "unknown face detector 'retina'")
