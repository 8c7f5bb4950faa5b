import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import (
    FACES_IN_PHOTOS,
    PHOTOS,
    ROOT,
    SHARED,
    assert_user_error,
    face_like,
    ferkit,
    requires,
    requires_photos,
)
from PIL import Image

from ferkit.detection.blazeface import BlazeFace
from ferkit.detection.boxes import Detection, weighted_nms
from ferkit.detection.framing import MAX_ROLL, face_roll, fer_crop
from ferkit.detection.passes import _thinned, downscaled
from ferkit.recognition.recognizer import load


@pytest.fixture(scope="module")
def detector():
    return BlazeFace()


@requires_photos
@pytest.mark.parametrize("name", sorted(FACES_IN_PHOTOS))
def test_every_face_and_no_false_face_in_real_photos(detector, name):
    rgb = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
    dets = detector.detect(rgb)
    assert len(dets) == FACES_IN_PHOTOS[name], [d.box for d in dets]
    for d in dets:
        x0, y0, x1, y1 = d.box
        assert 0.6 < (x1 - x0) / (y1 - y0) < 1.6 and d.score > 0.6
        assert d.keypoints.shape == (6, 2)
        # eyes lie inside the box, above the mouth
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in d.keypoints[:4])
        assert d.keypoints[0, 1] < d.keypoints[3, 1]


@requires_photos
def test_a_face_is_found_where_it_is_put(detector):
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    for x, y in ((40, 60), (600, 300)):
        canvas = Image.new("RGB", (1000, 700), (120, 140, 160))
        canvas.paste(face, (x, y))
        (det,) = detector.detect(np.asarray(canvas))
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        assert abs(cx - (x + 130)) < 40 and abs(cy - (y + 130)) < 40


def test_nms_averages_one_levels_boxes_and_drops_another_levels_looser_ones():
    kps = np.zeros((6, 2))
    fine = [Detection((208, 72, 313, 177), 0.86, kps), Detection((210, 74, 311, 175), 0.64, kps)]
    # the whole-image level's boxes around the same face: 1.6-1.9x larger, less sure
    coarse = [Detection((171, 44, 357, 229), 0.63, kps), Detection((166, 53, 357, 244), 0.61,
                                                                   kps)]
    (face,) = weighted_nms(fine + coarse, 0.3)
    expected = (np.array(fine[0].box) * 0.86 + np.array(fine[1].box) * 0.64) / 1.5
    assert np.abs(np.array(face.box) - expected).max() < 1e-6 and face.score == 0.86
    flat = Detection((10, 10, 10, 20), 0.9, kps)  # no width: it overlaps nothing, even itself
    assert [d.box for d in weighted_nms([flat, *fine], 0.3)] == [flat.box, face.box]


@requires_photos
def test_a_colour_photo_is_boxed_as_tightly_as_its_grey_copy(detector):
    """In colour the whole-image pass also finds the group photo's larger faces, boxed
    loosely; those boxes must not widen the finer level's (they made one box 1.42x wider)."""
    rgb = Image.open(PHOTOS / "multi_face.jpg").convert("RGB")
    colour = sorted(d.box for d in detector.detect(np.asarray(rgb)))
    grey = sorted(d.box for d in detector.detect(np.asarray(rgb.convert("L").convert("RGB"))))
    assert len(colour) == len(grey) == 5
    for c, g in zip(colour, grey, strict=True):
        assert 0.85 < (c[2] - c[0]) / (g[2] - g[0]) < 1.2, (c, g)


def test_crop_is_square_centred_and_padded_at_edges():
    gray = np.arange(100 * 80, dtype=np.uint32).reshape(100, 80).astype(np.uint8)
    crop = fer_crop(gray, (10, 20, 30, 40), scale=1.5, shift=0.0)
    assert crop.shape == (30, 30)
    assert crop[15, 15] == gray[30, 20]
    up = fer_crop(gray, (10, 20, 30, 40), scale=1.5, shift=-0.1)
    assert up[15, 15] == gray[28, 20]  # FER framing sits a little above the box centre
    edge = fer_crop(gray, (-10, -10, 10, 10), scale=1.0, shift=0.0)
    assert edge.shape == (20, 20) and edge[0, 0] == gray[0, 0]


def test_a_face_leaning_past_max_roll_is_turned_back_by_the_excess():
    rng = np.random.default_rng(0)
    upright = np.asarray(Image.fromarray(rng.integers(0, 256, (32, 40), np.uint8))
                         .resize((400, 320), Image.Resampling.BICUBIC))  # smooth texture
    box = (150, 110, 250, 210)  # centre (200, 160)
    leaning = np.asarray(Image.fromarray(upright).rotate(-40, Image.Resampling.BILINEAR,
                                                         center=(200, 160)))  # clockwise
    want = fer_crop(upright, box).astype(float)
    for roll in (0, 10, -15):  # within MAX_ROLL: the crop is exactly the square, as before
        assert np.array_equal(fer_crop(leaning, box, roll=roll), fer_crop(leaning, box))
    turned = fer_crop(leaning, box, roll=40 + MAX_ROLL).astype(float)
    assert turned.shape == want.shape
    assert np.abs(turned - want).mean() < 2  # what interpolating twice costs
    assert np.abs(fer_crop(leaning, box) - want).mean() > 30
    colour = fer_crop(np.dstack([leaning] * 3), box, roll=40 + MAX_ROLL).astype(float)
    assert np.abs(colour - turned).max() <= 1
    edge = fer_crop(leaning, (-20, -20, 60, 60), roll=60)  # past the corner: edges repeated
    assert edge.shape == (84, 84)


def test_face_roll_is_the_eye_lines_angle():
    def roll(*eyes):
        return face_roll(Detection((0, 0, 1, 1), 1.0, np.array([*eyes, (0, 0)] * 2, float)))

    assert roll((10, 20), (30, 20)) == 0
    assert roll((10, 20), (30, 40)) == pytest.approx(45)  # the right one lower: clockwise
    assert roll((10, 20), (30, 0)) == pytest.approx(-45)
    assert roll((0, 0), (0, 0)) == 0  # a detector without keypoints
    assert face_roll(Detection((0, 0, 1, 1), 1.0, np.zeros((0, 2)))) == 0


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


@requires_photos
def test_no_face_is_a_normal_result(tiny_onnx, tmp_path):
    import json

    image = str(PHOTOS / "landscape_no_face.jpg")
    r = ferkit("predict", "--model", str(tiny_onnx), image)
    assert r.returncode == 0 and "No face found" in r.stdout
    r = ferkit("predict", "--model", str(tiny_onnx), "--json", image)
    assert json.loads(r.stdout)["faces"] == []


@requires_photos
def test_folder_glob_csv_jsonl_and_annotation(tiny_onnx, tmp_path):
    import csv
    import json
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(PHOTOS, folder)
    (folder / "broken.jpg").write_text("not an image")
    r = ferkit("predict", "--model", str(tiny_onnx), str(folder), "--output",
               str(tmp_path / "r.csv"), "--annotate", str(tmp_path / "ann"), "--quiet")
    assert r.returncode == 2 and r.stderr.count("error:") == 1 and "broken.jpg" in r.stderr
    rows = list(csv.DictReader((tmp_path / "r.csv").read_text().splitlines()))
    faces = [row for row in rows if row["face"]]
    assert len(faces) == 7
    assert {row["faces"] for row in rows if not row["face"]} == {"0", ""}  # none; unreadable
    assert [row["error"] != "" for row in rows if not row["face"]].count(True) == 1
    # photos annotated as JPEG, other images as PNG
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [
        "astronaut.png", "index.html", "landscape_no_face.jpg", "multi_face.jpg",
        "single_face.jpg"]
    drawn = np.asarray(Image.open(tmp_path / "ann" / "multi_face.jpg").convert("RGB"))
    original = np.asarray(Image.open(PHOTOS / "multi_face.jpg").convert("RGB"))
    assert drawn.shape == original.shape and (drawn != original).any()

    r = ferkit("predict", "--model", str(tiny_onnx), str(folder / "*.jpg"), "--output",
               str(tmp_path / "r.jsonl"), "--quiet")
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 4  # broken.jpg, landscape, multi_face, single_face
    assert_user_error(ferkit("predict", "--model", str(tiny_onnx), str(folder),
                             "--output", str(tmp_path / "r.txt")), "use a .jsonl, .csv or .parquet")


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
    assert len(one) >= 0.95 * len(found)
    # the detector's framing and the resampling cost the found faces at most 2 points
    # (measured: 1.4 with the int8 model, 1.3 with fp32; cropping each at its true square
    # alone costs 0.7)
    through_detector = np.mean([rec.classes.index(found[i][0].label) == truth[i] for i in one])
    assert through_detector >= np.mean(original[one]) - 0.02, (through_detector,
                                                                np.mean(original[one]))


def test_the_pyramid_goes_from_the_whole_image_to_the_smallest_face():
    d = BlazeFace()
    scales = d.scales(1000, 667)
    assert scales[0] == 128 / 1000  # the whole image, letterboxed to the model's input
    assert scales[-1] == pytest.approx(d.smallest / (0.18 * 667))
    assert all(b / a <= d.largest for a, b in zip(scales, scales[1:], strict=False))
    assert BlazeFace(min_face=10).scales(1000, 667)[-1] == 1.0  # never upsampled
    assert BlazeFace(pyramid=False).scales(1000, 667) == [128 / 1000]


def test_small_passes_run_two_at_a_time_and_big_ones_alone_finding_the_same_faces():
    """On two or more cores small passes (the default pyramid's levels, second looks) run
    two at a time, a big one (a small --min-face's finest level) alone on all the threads:
    the same faces, scores and order as one pass after another on one thread."""
    face = Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
    canvas = Image.new("RGB", (1600, 1000), (120, 140, 160))
    for x, size in ((0, 600), (700, 300), (1100, 160)):  # for each level, and the finest
        canvas.paste(face.resize((size, size)), (x, 100))
    rgb = np.asarray(canvas)
    runs = {}
    for min_face in (None, 40):
        one, two = BlazeFace(threads=1, min_face=min_face), BlazeFace(threads=2, min_face=min_face)
        assert one.passes.paired is None and two.passes.paired is not None
        one.sure = two.sure = 1.0  # every face gets a second look
        seen = runs[min_face] = set()  # (which session, in the pool's thread?)
        for kind in ("alone", "paired"):
            run = getattr(two.passes, kind).run
            getattr(two.passes, kind).run = lambda *a, kind=kind, run=run, seen=seen: seen.add(
                (kind, threading.current_thread().name.startswith("ferkit-detect"))) or run(*a)
        expected, got = one.detect(rgb), two.detect(rgb)
        assert len(expected) >= 2
        assert [(d.box, d.score) for d in got] == [(d.box, d.score) for d in expected]
    assert runs[None] == {("paired", False), ("paired", True)}
    assert ("alone", False) in runs[40] and ("alone", True) not in runs[40]


def test_threads_detecting_at_once_each_get_their_own_faces():
    """One detector shared by several threads (an application's own pool): each picture's
    faces, as when they come one at a time."""
    face = Image.open(ROOT / "photos" / "astronaut.png").convert("RGB").resize((360, 360))
    pictures = []
    for x in (0, 280, 560, 840):
        canvas = Image.new("RGB", (1200, 600), (110, 120, 130))
        canvas.paste(face, (x, 120))
        pictures.append(np.asarray(canvas))
    detector = BlazeFace(threads=2)
    expected = [[d.box for d in detector.detect(p)] for p in pictures]
    assert [len(boxes) for boxes in expected] == [1, 1, 1, 1]
    got = {}

    def detect(i: int) -> None:
        got[i] = [[d.box for d in detector.detect(pictures[i])] for _ in range(5)]

    threads = [threading.Thread(target=detect, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == [expected[i]] * 5 for i in range(4))


def test_a_big_photo_is_thinned_to_every_kth_pixel_whatever_its_memory_layout():
    rgb = np.random.default_rng(0).integers(0, 256, (1003, 1501, 3), dtype=np.uint8)
    for view in (rgb, rgb[5:900, 17:1400], rgb[:, ::-1], rgb[::2]):
        for step in (2, 3, 5):
            assert np.array_equal(_thinned(view, step), view[::step, ::step])


class CountingPool(ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_a_photo_is_reduced_in_two_halves_side_by_side_to_the_pixels_of_one_resize():
    """downscaled() with a pool thins and box-reduces the top and bottom halves at once: the
    same pixels as Pillow's resize(reducing_gap=1.0) of the thinned photo."""
    rgb = np.random.default_rng(1).integers(0, 256, (1003, 1501, 3), dtype=np.uint8)
    with CountingPool(1) as pool:
        for view in (rgb, rgb[:, ::-1], rgb[5:900, 17:1400]):
            for scale in (0.03, 0.1, 0.2665, 0.31):
                step = max(int(1 / (3 * scale)), 1)
                thinned = Image.fromarray(np.ascontiguousarray(view[::step, ::step]))
                rest = scale * step  # what Pillow resizes by
                size = (round(thinned.width * rest), round(thinned.height * rest))
                expected = thinned.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)
                got = downscaled(view, scale, pool)
                assert np.array_equal(np.asarray(got), np.asarray(expected)), (view.shape, scale)
        assert pool.submitted == 12  # one half of each in the pool's thread


@requires_photos
def test_a_small_face_is_found_when_asked_for():
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    canvas = Image.new("RGB", (1200, 900), (120, 140, 160))
    canvas.paste(face.resize((80, 80)), (700, 500))
    (det,) = BlazeFace(min_face=40).detect(np.asarray(canvas))
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    assert abs(cx - 740) < 15 and abs(cy - 540) < 15


def test_no_face_at_the_default_size_says_how_to_look_for_smaller_ones(tmp_path):
    """A face of 4% of the picture is below the default smallest face (18%): the CLI says
    so once, on stderr, and --min-face finds it."""
    canvas = Image.new("RGB", (2400, 1800), (120, 140, 160))
    canvas.paste(Image.open(ROOT / "photos" / "astronaut.png").convert("RGB").resize((300, 300)),
                 (1200, 700))  # her face: ~70 px
    canvas.save(tmp_path / "wide.jpg")
    Image.new("RGB", (300, 200), (90, 90, 90)).save(tmp_path / "blank.png")
    r = ferkit("predict", str(tmp_path / "wide.jpg"))
    assert r.returncode == 0 and "No face found" in r.stdout
    assert r.stderr.count("note:") == 1 and "--min-face 40" in r.stderr, r.stderr
    r = ferkit("predict", str(tmp_path), "--json")  # one note for the folder
    assert r.returncode == 0 and "no face found in 2 image(s)" in r.stderr
    assert all(line.startswith("{") for line in r.stdout.splitlines())  # stdout stays JSON
    r = ferkit("predict", str(tmp_path / "wide.jpg"), "--min-face", "40")
    assert r.returncode == 0 and "HAPPY" in r.stdout and "note:" not in r.stderr
    assert "note:" not in ferkit("predict", str(tmp_path / "blank.png"), "--no-detect").stderr


@requires_photos
def test_min_face_must_be_positive(tiny_onnx):
    assert_user_error(ferkit("predict", "--model", str(tiny_onnx), "--min-face", "0",
                             str(PHOTOS / "single_face.jpg")), "positive size in pixels")


@requires_photos
def test_a_face_in_a_12_megapixel_photo_is_found_in_place(detector):
    """Big photos are thinned before Pillow sees them: the boxes must still be in the
    photo's own pixels."""
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    canvas = Image.new("RGB", (4000, 3000), (120, 140, 160))
    canvas.paste(face.resize((1040, 1040)), (2500, 600))
    (det,) = detector.detect(np.asarray(canvas))
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    assert abs(cx - 3020) < 60 and abs(cy - 1120) < 60 and det.box[2] - det.box[0] > 500


def test_a_face_that_fills_the_picture_is_found_by_the_close_up_look():
    """A tight crop (the face fills the picture, its chin cut, small like a film still's): too
    large for BlazeFace as it is; the close-up look, with a border, finds it and the
    recogniser reads it; textures with no face stay without one."""
    astronaut = Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
    tight = np.asarray(astronaut.crop((160, 60, 290, 190)).resize((64, 64)))
    assert BlazeFace(close_ups=False).detect(tight) == []
    (face,) = BlazeFace().detect(tight)
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and x1 - x0 >= 0.4 * 64
    [found] = load().predict(tight)
    assert found.label == "happy"
    skimage = pytest.importorskip("skimage.data", reason="textures: the dev extra")
    for name in ("brick", "grass", "gravel", "coffee", "rocket", "chelsea"):
        texture = np.asarray(Image.fromarray(getattr(skimage, name)()).convert("RGB"))
        assert BlazeFace().detect(texture) == [], name
        small = np.asarray(Image.fromarray(texture).resize((64, 64)))
        assert BlazeFace().detect(small) == [], name
