"""The recogniser (`ferkit.load`): any detector, every input type, faces classified as found."""


import numpy as np
import pytest
from conftest import PHOTOS, ROOT, SHARED, face_like, requires, requires_photos
from PIL import Image

from ferkit import load
from ferkit.detection.boxes import Detection
from ferkit.detection.framing import face_roll, fer_crop
from ferkit.errors import FerkitError


@requires(SHARED / "fer2013")
def test_faces_leaning_40_degrees_are_classified_better_turned_back():
    """PublicTest faces turned by 40 degrees in a photo: ferkit's crop, which turns them back,
    classifies them better than the upright square of the same detection (bench/rolled_faces.py
    measures ~+10 points on 1,000 faces)."""
    import random

    rec = _bundled_or_skip()
    rng = random.Random(2)
    root = SHARED / "fer2013" / "test"
    samples = [(p, rec.classes.index(c.name)) for c in sorted(root.iterdir())
               for p in sorted(c.iterdir())]
    square, ferkit_crop, truth = [], [], []
    for k, (path, label) in enumerate(rng.sample(samples, 240)):
        face = Image.open(path).convert("RGB").resize((200, 200), Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", (400, 400), (120, 130, 110))
        canvas.paste(face, (100, 100))
        rgb = np.asarray(canvas.rotate(40 if k % 2 else -40, Image.Resampling.BICUBIC))
        dets = rec.detector.detect(rgb)
        if len(dets) != 1:
            continue
        square.append(fer_crop(rgb, dets[0].box))
        ferkit_crop.append(fer_crop(rgb, dets[0].box, roll=face_roll(dets[0])))
        truth.append(label)
    assert len(truth) >= 200
    before = np.mean(rec.classify(square).argmax(1) == truth)
    after = np.mean(rec.classify(ferkit_crop).argmax(1) == truth)
    assert after >= before + 0.04, (before, after)


class FixedDetector:
    """A stand-in detector: the interface is one method."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, rgb):
        return [Detection(b, 0.9, np.zeros((6, 2))) for b in self.boxes]


def test_any_detector_plugs_in_and_faces_come_left_to_right(tiny_onnx):
    rec = load(tiny_onnx, detector=FixedDetector([(60, 0, 90, 30), (5, 10, 35, 40)]))
    faces = rec.predict(np.dstack([face_like(1, 100)] * 3))
    assert [f.box for f in faces] == [(5, 10, 35, 40), (60, 0, 90, 30)]
    assert all(abs(sum(f.probs.values()) - 1) < 1e-4 for f in faces)
    assert load(tiny_onnx, detector=FixedDetector([])).predict(face_like(2, 64)) == []


def _bundled_or_skip():
    from ferkit.recognition.recognizer import BUNDLED, DEFAULT_MODEL

    if not BUNDLED[DEFAULT_MODEL][0].is_file():
        pytest.skip("no bundled model in this checkout")
    return load()


@requires_photos
@requires(SHARED / "fer2013")
def test_detect_crop_classify_finds_the_faces_and_keeps_their_accuracy():
    """FER2013 PublicTest faces, upscaled and placed in a real photo: the detector must find
    (nearly) all of them, and the faces it finds, cropped from the photo, must score (almost)
    as well as the same faces' original crops."""
    import random

    rec = _bundled_or_skip()
    rng = random.Random(1)
    root = SHARED / "fer2013" / "test"
    # all of PublicTest (3,589 faces): a few hundred are too noisy for a tight bound
    samples = [(p, rec.classes.index(c.name)) for c in sorted(root.iterdir())
               for p in sorted(c.iterdir())]
    background = Image.open(PHOTOS / "landscape_no_face.jpg").convert("RGB")
    originals, placed, truth = [], [], []
    for path, label in samples:
        face = Image.open(path).convert("L")
        size = rng.choice([144, 192, 240])
        x, y = rng.randint(0, 1280), rng.randint(0, 600)
        canvas = background.crop((x, y, x + 640, y + 480))
        canvas.paste(face.resize((size, size), Image.Resampling.BICUBIC).convert("RGB"),
                     (rng.randint(0, 640 - size), rng.randint(0, 480 - size)))
        originals.append(np.asarray(face))
        placed.append(canvas)
        truth.append(label)
    original = rec.classify(originals).argmax(1) == truth
    found = [r.faces for r in rec.predict_many(placed)]  # faces batched through the model
    one = [i for i, f in enumerate(found) if len(f) == 1]  # a second (false) face: a miss
    assert len(one) >= 0.98 * len(found)  # measured 99.1% with the cascade, 97.2% BlazeFace alone
    # the detector's framing (re-framed by the face check) and the resampling cost the found
    # faces at most 1 point (measured 2026-12-08: 0.1 with the int8 model; 1.4 before the face
    # check, which a 2-point bound let through)
    through_detector = np.mean([rec.classes.index(found[i][0].label) == truth[i] for i in one])
    assert through_detector >= np.mean(original[one]) - 0.01, (through_detector,
                                                                np.mean(original[one]))


@pytest.fixture
def face_png(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(face_like(5, 96)).convert("RGB").save(path)
    return path


def test_both_backends_agree_through_the_api(tiny_checkpoint, tiny_onnx, face_png):
    a = load(tiny_checkpoint).predict(face_png, detect=False)[0]
    b = load(tiny_onnx).predict(face_png, detect=False)[0]
    assert a.label == b.label and a.box == b.box == (0, 0, 96, 96)
    assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) <= 1e-4
    # paths, PIL images and arrays give the same answer; BGR arrays are said to be BGR
    rgb = np.asarray(Image.open(face_png))
    rec = load(tiny_onnx)
    assert rec.predict(rgb, detect=False)[0].probs == pytest.approx(b.probs, abs=1e-6)
    assert rec.predict(Image.fromarray(rgb), detect=False)[0].probs == pytest.approx(b.probs,
                                                                                    abs=1e-6)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert rec.predict(bgr, bgr=True, detect=False)[0].probs == pytest.approx(b.probs, abs=1e-6)


def test_the_api_takes_an_image_files_bytes_or_binary_file_object(tmp_path):
    rec = load()
    path = ROOT / "photos" / "astronaut.png"
    expected = rec.predict(path)
    assert len(expected) == 1
    with open(path, "rb") as f:
        assert rec.predict(f) == expected
    assert rec.predict(path.read_bytes()) == expected
    assert rec.predict(bytearray(path.read_bytes()), detect=False)[0].box == (0, 0, 512, 512)
    results = list(rec.predict_many([path.read_bytes(), b"not an image"]))
    assert results[0].faces == expected and "image bytes is not an image" in results[1].error
    text = tmp_path / "t.txt"
    text.write_text("hello")
    with open(text) as f, pytest.raises(FerkitError, match="open the file with 'rb'"):
        rec.predict(f)
