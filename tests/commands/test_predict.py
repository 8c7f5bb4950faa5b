"""`ferkit predict` and `python predict.py`: the brief's banner and bars, JSON, folders,
annotation, piped input and its errors."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import PHOTOS, ROOT, assert_user_error, face_like, ferkit, requires_photos, run
from PIL import Image

from ferkit import Face, load
from ferkit.commands.predict import format_face
from ferkit.io.annotate import annotate_file

BANNER = re.compile(
    r"^={50}\nPredicted Emotion: [A-Z]+\nConfidence: \d{1,3}\.\d\d%\n={50}$", re.M
)


@pytest.fixture
def face_png(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(face_like(5, 96)).convert("RGB").save(path)
    return path


def test_banner_and_bars_have_the_briefs_shape():
    face = Face((0, 0, 48, 48), {"angry": 0.05, "happy": 0.9245, "sad": 0.0255})
    text = format_face(face, show_all=True)
    assert BANNER.search(text)
    assert "Predicted Emotion: HAPPY\nConfidence: 92.45%" in text
    bars = {line.split(":")[0].strip(): line.count("█") for line in text.splitlines()
            if "█" in line or re.match(r"^\w+\s+: ", line)}
    assert bars == {"angry": 2, "happy": 46, "sad": 1}
    assert "happy     : 92.45% " in text


@pytest.mark.parametrize("kind", ["pth", "onnx"])
def test_predict_py_prints_the_banner_from_both_backends(tiny_checkpoint, tiny_onnx, face_png,
                                                         kind):
    model = tiny_checkpoint if kind == "pth" else tiny_onnx
    r = run("predict.py", str(face_png), "--model", str(model), "--show-all", "--no-detect")
    assert r.returncode == 0, r.stderr
    assert BANNER.search(r.stdout)
    assert sum(1 for line in r.stdout.splitlines() if line.endswith("%") or "█" in line) >= 7


def test_json_several_images_and_a_bad_one(tiny_onnx, face_png, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    r = ferkit("predict", "--model", str(tiny_onnx), "--json", "--no-detect", str(face_png),
               str(face_png), str(tmp_path / "notes.txt"))
    assert r.returncode == 2
    assert r.stderr.count("error:") == 1 and "not an image" in r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [len(x["faces"]) for x in out] == [1, 1, 0]
    assert [x["error"] is None for x in out] == [True, True, False]
    face = out[0]["faces"][0]
    assert set(face) == {"face", "box", "label", "confidence", "probs", "detection_score"}
    assert abs(sum(face["probs"].values()) - 1) < 1e-4


def test_annotating_a_folder_keeps_every_picture_and_photos_stay_jpeg(tmp_path):
    photos = tmp_path / "photos"
    for folder in ("a", "b"):
        (photos / folder).mkdir(parents=True)
        Image.open(ROOT / "photos" / "astronaut.png").convert("RGB").save(
            photos / folder / "same.jpg")
    shutil.copy(ROOT / "photos" / "astronaut.png", photos / "a" / "same.png")
    r = ferkit("predict", str(photos), "--annotate", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["index.html", "same-2.jpg", "same.jpg", "same.png"]  # a/, b/, png
    assert Image.open(tmp_path / "out" / "same-2.jpg").format == "JPEG"
    assert Image.open(tmp_path / "out" / "same.png").format == "PNG"


def test_annotating_draws_on_a_copy_of_the_callers_own_image_only(tmp_path):
    """A decoded file is drawn on in place (no 12 Mpx copy); a PIL image or an array the
    caller gave is left as it was, and all come out the same."""
    path = ROOT / "photos" / "astronaut.png"
    mine = Image.open(path).convert("RGB")
    before = np.asarray(mine).copy()
    array = before.copy()
    rec = load()
    from_file, from_mine, from_array = rec.predict_many([path, mine, array])
    annotate_file(from_file, rec.classes, tmp_path / "file.png")
    annotate_file(from_mine, rec.classes, tmp_path / "mine.png")
    annotate_file(from_array, rec.classes, tmp_path / "array.png")
    assert np.array_equal(np.asarray(mine), before) and np.array_equal(array, before)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "array.png")),
                          np.asarray(Image.open(tmp_path / "file.png")))
    drawn = np.asarray(Image.open(tmp_path / "mine.png"))
    assert np.array_equal(drawn, np.asarray(Image.open(tmp_path / "file.png")))
    assert not np.array_equal(drawn, before)


def test_an_annotated_folder_has_a_page_showing_every_picture(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(ROOT / "photos" / "astronaut.png", photos / "R&D <1>.png")
    Image.new("RGB", (300, 200), (90, 90, 90)).save(photos / "blank #2.png")
    r = ferkit("predict", str(photos), "--annotate", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "index.html").read_text()
    # each picture once, its link encoded, its name escaped, its faces in words
    assert page.count("<img ") == 2
    assert 'src="R%26D%20%3C1%3E.png"' in page and "R&amp;D &lt;1&gt;.png" in page
    assert 'src="blank%20%232.png"' in page and "no face found" in page
    assert re.search(r"<b>happy \d+%</b>", page)
    assert "2 image(s): 1 face(s) (happy 1), no face in 1" in page
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "R&D <1>.png", "blank #2.png", "index.html"]


def test_a_run_over_several_images_ends_with_what_it_found(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    astronaut = Image.open(ROOT / "photos" / "astronaut.png")
    astronaut.save(photos / "a.png")
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "b.jpg")
    Image.new("RGB", (300, 200), (90, 90, 90)).save(photos / "c.png")
    (photos / "d.jpg").write_text("not an image")
    r = ferkit("predict", str(photos), "--quiet", "--output", str(tmp_path / "out.csv"))
    assert r.returncode == 2 and r.stdout == ""
    last = r.stderr.splitlines()[-1]
    assert re.fullmatch(r"4 image\(s\): 2 face\(s\) \(happy 2\), no face in 1, 1 unreadable, "
                        r"in \d+\.\ds -> .*out\.csv", last), r.stderr


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_pillow_mode_predicts(tiny_onnx, tmp_path, mode):
    grey = face_like(1, 64)
    img = Image.fromarray(grey.astype(np.uint16) * 257) if mode == "I;16" else Image.fromarray(
        grey).convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    r = run("predict.py", str(path), "--model", str(tiny_onnx), "--no-detect")
    assert r.returncode == 0 and BANNER.search(r.stdout), r.stderr


def test_prediction_errors(tiny_onnx, tmp_path, monkeypatch):
    assert_user_error(run("predict.py", str(tmp_path / "nope.jpg"), "--model", str(tiny_onnx)),
                      "no such file")
    (tmp_path / "a.jpg").write_text("text")
    assert_user_error(run("predict.py", str(tmp_path / "a.jpg"), "--model", str(tiny_onnx)),
                      "not an image")
    (tmp_path / "talk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    assert_user_error(run("predict.py", str(tmp_path / "talk.mp4"), "--model", str(tiny_onnx)),
                      f"(a video: `ferkit video {tmp_path / 'talk.mp4'}` analyses videos)")
    assert_user_error(run("predict.py", "x.jpg", "--model", str(tmp_path / "m.pth")),
                      "no such model file")
    assert_user_error(run("predict.py", str(tmp_path / "a.jpg"), "--model", str(tiny_onnx),
                          "--batch-size", "0"), "--batch-size 0")
    big = tmp_path / "bomb.png"
    Image.new("L", (12000, 12000)).save(big)  # 144 Mpx: over Pillow's safety limit
    assert_user_error(run("predict.py", str(big), "--model", str(tiny_onnx)), "too large")


def test_the_inference_path_never_imports_torch(tiny_onnx, face_png):
    code = (
        "import sys, ferkit.cli; rc = ferkit.cli.main(['predict', '--model', sys.argv[1], "
        "sys.argv[2], '--annotate', sys.argv[3]]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    r = run("-c", code, str(tiny_onnx), str(face_png), str(face_png.with_name("ann.png")))
    assert r.returncode == 0, r.stderr
    assert face_png.with_name("ann.png").exists()


def test_an_unwritable_output_is_a_user_error(tiny_onnx, face_png, tmp_path):
    r = ferkit("predict", "--model", str(tiny_onnx), str(face_png), "--no-detect", "--output",
               str(tmp_path / "missing" / "dir" / "r.csv"))
    assert_user_error(r, "cannot write")


def test_an_empty_folder_or_a_glob_matching_nothing_is_said(tiny_onnx, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    r = ferkit("predict", str(tmp_path / "empty"), "--model", str(tiny_onnx))
    assert r.returncode == 2 and "error: no image files in" in r.stderr, r.stderr
    r = ferkit("predict", str(tmp_path / "*.png"), "--model", str(tiny_onnx))
    assert r.returncode == 2 and "error: nothing matches" in r.stderr, r.stderr


def test_files_are_decoded_one_ahead_in_the_background_with_the_same_results(tmp_path):
    """predict_many (ferkit predict on a folder) decodes the next file while it finds the
    faces of this one: the same results in the same order, errors included."""
    path = ROOT / "photos" / "astronaut.png"
    (tmp_path / "broken.jpg").write_bytes(path.read_bytes()[:300])
    wide = Image.new("RGB", (900, 600), (90, 110, 130))
    wide.paste(Image.open(path).convert("RGB").resize((400, 400)), (400, 100))
    wide.save(tmp_path / "wide.jpg")
    with open(path, "rb") as f:
        inputs = [path, tmp_path / "broken.jpg", str(tmp_path / "wide.jpg"), path.read_bytes(),
                  np.asarray(wide), f, tmp_path / "missing.png", path]

        def run_all():
            f.seek(0)
            return [(r.source is image, r.error, r.size, r.faces)
                    for image, r in zip(inputs, rec.predict_many(inputs, batch_size=2),
                                        strict=True)]

        rec, where = load(), set()
        read = rec.read
        rec.read = lambda *a, **k: where.add(threading.current_thread().name) or read(*a, **k)
        ahead = run_all()
        assert where and all(name.startswith("ferkit-read") for name in where)
        rec.threads = 1  # as the server and Ray run it: no thread of its own
        where.clear()
        assert run_all() == ahead and where == {threading.current_thread().name}
    assert [len(faces) for *_, faces in ahead] == [1, 0, 1, 1, 1, 1, 0, 1]
    assert [error is None for _, error, *_ in ahead] == [True, False, True, True, True, True,
                                                          False, True]


def test_an_image_piped_in_is_read_with_a_dash(tmp_path):
    def piped(data: bytes, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ferkit", "predict", *args], input=data,
                              capture_output=True, env={**os.environ,
                                                        "PYTHONPATH": str(ROOT / "src")})

    astronaut = ROOT / "photos" / "astronaut.png"
    r = piped(astronaut.read_bytes(), "-", "--json", "--annotate", str(tmp_path / "a.png"),
              "--output", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["image"] == "-" and answer["faces"][0]["label"] == "happy"
    assert tuple(answer["faces"][0]["box"]) == load().predict(astronaut)[0].box
    assert Image.open(tmp_path / "a.png").size == (512, 512)  # drawn from the piped bytes
    assert (tmp_path / "f.csv").read_text().splitlines()[1].startswith("1,-,512,512,1,1,")
    for data, args, says in ((b"", ["-"], "error: - is empty"),
                             (astronaut.read_bytes(), ["-", str(astronaut)], "goes alone"),
                             (astronaut.read_bytes(), ["-", "--ray", "--output", "o.csv"],
                              "read without --ray")):
        r = piped(data, *args)
        assert r.returncode == 2 and says in r.stderr.decode(), r.stderr


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
