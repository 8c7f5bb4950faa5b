"""`ferkit explain`: occlusion maps of where an expression was read from."""

import numpy as np
import pytest
from conftest import ROOT, assert_user_error, ferkit, ferkit_without
from PIL import Image

from ferkit.recognition.explanation import PANEL, explain, explanation_figure, occlusion_maps
from ferkit.recognition.recognizer import Recognizer, load

ASTRONAUT = ROOT / "photos" / "astronaut.png"


class CornerModel:
    """A classifier that reads its first class from the brightness of the top-right 24x24
    corner only: hiding anything else cannot change its answer."""

    config = {"classes": ["bright", "dark"], "img_size": 64}

    def run(self, batch: np.ndarray) -> np.ndarray:
        corner = batch[:, 0, :24, 40:].mean(axis=(1, 2))
        bright = 1 / (1 + np.exp(-8 * (corner - 0.5)))
        return np.stack([bright, 1 - bright], axis=1).astype(np.float32)


def test_the_map_lies_where_the_model_looks():
    rec = Recognizer(CornerModel())
    face = np.full((80, 80), 230, np.uint8)
    face[40:, :] = 20  # a dark lower half, so that hiding a patch means filling it with grey
    faces, probs, maps = occlusion_maps(rec, [face])
    assert faces.shape == (1, 64, 64) and maps.shape == (1, 2, 64, 64)
    assert np.allclose(probs[0], rec.classify([face])[0])  # the unhidden face, as predict sees it
    bright = maps[0, 0]
    y, x = np.unravel_index(np.argmax(bright), bright.shape)
    assert y < 24 and x >= 40, (y, x)  # evidence for "bright": the corner it reads
    assert bright[:24, 40:].mean() > 0.01
    assert np.abs(bright[48:, :16]).max() < 1e-6  # nothing from far away
    assert np.allclose(maps[0, 1], -maps[0, 0], atol=1e-6)  # evidence against "dark"


def test_explain_a_photo_matches_predict_and_maps_evidence_both_ways():
    rec = load()
    [item] = rec.explain(ASTRONAUT)
    [face] = rec.predict(ASTRONAUT)
    assert item.face.box == face.box and item.face.label == "happy"
    assert np.allclose(list(item.face.probs.values()), list(face.probs.values()), atol=1e-6)
    assert item.crop.shape == (rec.img_size, rec.img_size)
    # Some patches hold evidence for the smile and some against it. (Which half of the face
    # holds more of a 91% smile's evidence is the model's business and moves by tenths of a
    # point: 0.41 upper for the model bundled before 2026-12-07, 0.70 for the one after; the
    # model card's saliency section averages it over 150 faces per class.)
    ev = item.evidence()
    assert ev.max() > 0 > ev.min() and 0 <= item.upper_share() <= 1
    figure = explanation_figure([item, item], top=3)
    assert figure.width == 8 + 4 * (PANEL + 8) and figure.height > 2 * PANEL
    assert explain(rec, np.full((300, 400, 3), 128, np.uint8)) == []


def test_max_faces_keeps_the_largest_left_to_right():
    astronaut = Image.open(ASTRONAUT).convert("RGB")
    canvas = Image.new("RGB", (1500, 560), (120, 120, 120))
    for side, x in ((400, 0), (300, 500), (500, 950)):
        canvas.paste(astronaut.resize((side, side)), (x, 30))
    rec = load(min_face=60)
    every = explain(rec, np.asarray(canvas))
    two = explain(rec, np.asarray(canvas), max_faces=2)
    assert [round(e.face.box[0], -2) for e in every] == [100, 600, 1100]
    assert [e.face.box for e in two] == [every[0].face.box, every[2].face.box]


def test_cli_writes_the_picture_without_torch(tmp_path):
    out = tmp_path / "why.png"
    r = ferkit_without("torch", "explain", str(ASTRONAUT), "--output", str(out), "--top", "1")
    assert r.returncode == 0, r.stderr
    [item] = load().explain(ASTRONAUT)  # the CLI says what the API measures
    half = "upper" if item.upper_share() > 0.5 else "lower"
    assert "HAPPY" in r.stdout and f"read mostly from the {half} face" in r.stdout
    assert Image.open(out).size[0] == 8 + 2 * (PANEL + 8)
    # the default name: the image's, in the current folder
    r = ferkit("explain", str(ASTRONAUT), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "astronaut_explained.png").is_file()


def test_cli_no_face_writes_nothing(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (128, 128, 128)).save(blank)
    r = ferkit("explain", str(blank), "-o", str(tmp_path / "out.png"))
    assert r.returncode == 0, r.stderr
    assert "No face found" in r.stdout and "--min-face" in r.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("make, args, fragment", [
    (lambda p: p.write_text("not an image"), [], "broken.jpg"),
    (lambda p: None, [], "broken.jpg"),  # missing
    (lambda p: Image.new("L", (48, 48)).save(p, "JPEG"), ["--top", "0"], "--top 0"),
    (lambda p: Image.new("L", (48, 48)).save(p, "JPEG"), ["--max-faces", "0"], "--max-faces"),
    (lambda p: Image.new("L", (48, 48)).save(p, "JPEG"), ["-o", "why.txt"], "why.txt"),
])
def test_cli_bad_input_is_one_line(tmp_path, make, args, fragment):
    image = tmp_path / "broken.jpg"
    make(image)
    r = ferkit("explain", str(image), "-o", str(tmp_path / "out.png"), *args)
    assert_user_error(r, fragment)
    assert not (tmp_path / "out.png").exists()
