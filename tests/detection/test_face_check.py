"""The face check: faces pass and textures do not, loose boxes are re-framed onto the face,
CenterFace finds with it faces it missed without it, and the tool that trains it runs."""

import math
import random

import numpy as np
import pytest
from conftest import FACES_IN_PHOTOS, PHOTOS, ROOT, SHARED, requires_fer, requires_photos, run
from PIL import Image, ImageDraw, ImageFilter

from ferkit.detection.boxes import Detection, iou
from ferkit.detection.centerface import CenterFace
from ferkit.detection.face_check import FaceCheck, box_of
from ferkit.detection.framing import FRAME_SCALE, crop_square

NO_KEYPOINTS = np.zeros((5, 2))


@pytest.fixture(scope="module")
def face_check():
    return FaceCheck()


def _candidate(frame) -> Detection:
    """A candidate whose FER2013 frame is `frame`."""
    return Detection(box_of(frame), 0.1, NO_KEYPOINTS)


@requires_photos
def test_real_faces_pass_and_squares_of_a_landscape_do_not(face_check):
    for name in sorted(n for n, count in FACES_IN_PHOTOS.items() if count):
        rgb = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
        faces = CenterFace(check=False).detect(rgb)
        probability, _ = face_check.look(rgb, faces)
        assert len(probability) == FACES_IN_PHOTOS[name]
        assert probability.min() > 0.95, (name, probability)

    land = np.asarray(Image.open(PHOTOS / "landscape_no_face.jpg").convert("RGB"))
    rng = np.random.default_rng(0)
    frames = []
    for side in rng.integers(40, 300, 200):
        x, y = rng.integers(0, land.shape[1] - side), rng.integers(0, land.shape[0] - side)
        frames.append((x, y, x + side, y + side))
    probability, _ = face_check.look(land, [_candidate(f) for f in frames])
    assert probability.max() < 0.5, probability.max()


def test_faces_and_non_faces_of_another_collection(face_check):
    """scikit-image's 100 LFW faces (tight 25x25 crops, unlike FER2013's framing) and its 100
    non-face patches: the network has seen neither."""
    skimage = pytest.importorskip("skimage.data")
    lfw = (skimage.lfw_subset() * 255).astype(np.uint8)
    rgb = np.concatenate([np.repeat(im[..., None], 3, 2) for im in lfw], axis=1)
    frames = [(25 * i, 0, 25 * i + 25, 25) for i in range(len(lfw))]
    probability, moved = face_check.look(rgb, [_candidate(f) for f in frames])
    assert (probability[:100] > 0.5).mean() >= 0.95
    assert (probability[100:] < 0.5).mean() >= 0.95
    # the crops are tighter than FER2013's: the network widens the frame around the faces
    sides = [crop_square(d.box, FRAME_SCALE)[2] - crop_square(d.box, FRAME_SCALE)[0]
             for d in moved[:100]]
    assert np.median(sides) > 27


@requires_photos
@pytest.mark.parametrize("shift", [(0.2, 0.0, 1.0), (0.0, -0.2, 1.0), (0.0, 0.0, 1.4),
                                   (0.1, 0.1, 0.8)])
def test_a_loose_box_is_reframed_onto_the_face(face_check, shift):
    face = Image.open(PHOTOS / "single_face.jpg").convert("RGB").crop((150, 160, 410, 420))
    dx, dy, scale = shift
    for x, y, size in ((40, 60, 260), (600, 300, 120)):
        canvas = Image.new("RGB", (1000, 700), (120, 140, 160))
        canvas.paste(face.resize((size, size)), (x, y))
        truth = (x, y, x + size, y + size)
        cx, cy, half = x + (0.5 + dx) * size, y + (0.5 + dy) * size, scale * size / 2
        loose = (cx - half, cy - half, cx + half, cy + half)
        probability, (moved,) = face_check.look(np.asarray(canvas), [_candidate(loose)])
        assert probability[0] > 0.9
        assert iou(crop_square(moved.box, FRAME_SCALE), truth) > 0.7 > iou(loose, truth)


def _scene(rng: random.Random, background: Image.Image, faces: list) -> tuple[np.ndarray, list]:
    """A 640x480 piece of a background with three small FER2013 faces pasted in, feathered,
    some tinted: the scene benchmark's hardest size band."""
    x, y = rng.randint(0, background.width - 640), rng.randint(0, background.height - 480)
    scene = background.crop((x, y, x + 640, y + 480))
    squares = []
    for i in range(3):
        size = rng.randint(50, 90)
        x, y = 20 + 210 * i + rng.randint(0, 100), rng.randint(0, 480 - size)
        face = Image.open(rng.choice(faces)).convert("RGB").resize((size, size),
                                                                   Image.Resampling.BICUBIC)
        if rng.random() < 0.3:
            colour = np.array([rng.uniform(0.7, 1.15) for _ in range(3)])
            face = Image.fromarray(np.clip(np.asarray(face) * colour, 0, 255).astype(np.uint8))
        feather = size // 16
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).rectangle((feather, feather, size - feather, size - feather), 255)
        scene.paste(face, (x, y), mask.filter(ImageFilter.GaussianBlur(feather / 2)))
        squares.append((x, y, x + size, y + size))
    return np.asarray(scene), squares


@requires_fer
def test_centerface_finds_more_small_faces_with_it_and_no_false_ones():
    """On textures (scikit-image's grass, gravel and bricks, upscaled), where small faces
    hide."""
    skimage = pytest.importorskip("skimage.data")
    rng = random.Random(0)
    backgrounds = [Image.fromarray(getattr(skimage, name)()).convert("RGB").resize((1024, 1024))
                   for name in ("grass", "gravel", "brick")]
    faces = sorted((SHARED / "fer2013" / "test").glob("*/*.jpg"))
    scenes = [_scene(rng, backgrounds[i % 3], faces) for i in range(45)]
    counts = {}
    for check in (False, True):
        detector = CenterFace(min_face=50, check=check)
        found = false = 0
        for rgb, squares in scenes:
            frames = [crop_square(d.box, FRAME_SCALE) for d in detector.detect(rgb)]
            found += sum(any(iou(f, s) >= 0.5 for f in frames) for s in squares)
            false += sum(all(iou(f, s) < 0.3 for s in squares) for f in frames)
        counts[check] = found, false
    (before, _), (after, false) = counts[False], counts[True]
    assert after >= 0.9 * 135 and after >= before + 5, counts
    assert false == 0, counts


@requires_fer
def test_the_tool_trains_a_network_ferkit_can_use(tmp_path):
    for extra in ("torch", "onnx", "skimage", "sklearn", "matplotlib"):
        pytest.importorskip(extra)
    out = tmp_path / "face_check.onnx"
    r = run(str(ROOT / "tools" / "make_face_check.py"), "--fer",
            str(SHARED / "fer2013"), "--scenes", "16", "--epochs", "1", "--workers", "1",
            "--output", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "candidates" in r.stdout and "fp16" in r.stdout
    rgb = np.asarray(Image.new("RGB", (200, 200), (90, 90, 90)))
    probability, moved = FaceCheck(out).look(rgb, [_candidate((20, 20, 120, 120))])
    assert probability.shape == (1,) and 0.0 <= probability[0] <= 1.0
    assert all(math.isfinite(v) for v in moved[0].box)


@requires_fer
def test_the_recogniser_frames_blazeface_faces_as_fer2013_does():
    """BlazeFace's boxes vary from face to face; the face check moves each onto FER2013's
    frame: FER2013 faces pasted in scenes are framed much closer to where they were put."""
    from scenes import backgrounds, scene

    from ferkit.recognition.recognizer import load

    bgs = backgrounds()
    faces = [Image.open(p).convert("L") for c in sorted((SHARED / "fer2013" / "test").iterdir())
             for p in sorted(c.iterdir())[10:13]]
    framed, raw = load(detector="blazeface"), load(detector="blazeface", reframe=False)
    overlaps = {True: [], False: []}
    for k, face in enumerate(faces):
        picture, [square] = scene(bgs[k % len(bgs)], [(face, 120 + 10 * (k % 8), 0.0)], seed=k)
        found = {True: framed.predict(picture), False: raw.predict(picture)}
        if found[True] and found[False]:
            for key, [f] in found.items():
                overlaps[key].append(iou(crop_square(f.box, FRAME_SCALE), square))
    assert len(overlaps[True]) >= 12
    assert np.mean(overlaps[True]) >= 0.85 > np.mean(overlaps[False]) + 0.1, overlaps
