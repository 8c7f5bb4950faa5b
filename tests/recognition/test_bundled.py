"""The models shipped inside the package: pinned, int8 used by default, and what `make demo`
runs."""

import re
import shutil

import numpy as np
import pytest
from conftest import ROOT, assert_user_error, run

import ferkit
from ferkit.errors import FerkitError
from ferkit.recognition import recognizer

pytestmark = pytest.mark.skipif(not recognizer.BUNDLED_INT8.is_file(),
                                reason="no bundled model in this checkout")


@pytest.mark.parametrize("name", ["int8", "fp32"])
def test_the_bundled_models_are_pinned_and_small(name):
    path, _, card = recognizer.BUNDLED[name]
    assert path.stat().st_size <= 10_000_000
    rec = ferkit.load(name)
    assert rec.classes == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert rec.backend.path == path and card["fer2013_publictest_accuracy"] > 0.67
    assert rec.config.get("precision", "fp32") == name


def test_the_default_model_is_the_int8_one():
    assert ferkit.load().backend.path == recognizer.BUNDLED_INT8 == recognizer.bundled_model()
    r = run("predict.py", "photos/astronaut.png", "--model", "int8")
    default = run("predict.py", "photos/astronaut.png")
    assert r.returncode == default.returncode == 0 and r.stdout == default.stdout, r.stderr


@pytest.mark.parametrize("name", ["int8", "fp32"])
def test_a_tampered_bundled_model_is_refused(tmp_path, monkeypatch, name):
    path, pinned, card = recognizer.BUNDLED[name]
    copy = tmp_path / "model.onnx"
    shutil.copy(path, copy)
    with open(copy, "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\0" * 10)
    monkeypatch.setitem(recognizer.BUNDLED, name, (copy, pinned, card))
    with pytest.raises(FerkitError, match="damaged"):
        ferkit.load(name)


def test_the_fp32_model_agrees_with_the_int8_one_on_the_demo_photos():
    fp32, int8 = ferkit.load("fp32"), ferkit.load()
    for photo in ("astronaut.png",):
        a, b = fp32.predict(ROOT / "photos" / photo), int8.predict(ROOT / "photos" / photo)
        assert [f.box for f in a] == [f.box for f in b]  # the same detector
        assert [f.label for f in a] == [f.label for f in b] == ["happy"]
        assert abs(a[0].confidence - b[0].confidence) < 0.05
    r = run("predict.py", "photos/astronaut.png", "--model", "fp32")
    assert r.returncode == 0 and "Predicted Emotion: HAPPY" in r.stdout, r.stderr


def test_demo_photo_is_happy():
    r = run("predict.py", "photos/astronaut.png", "--show-all")
    assert r.returncode == 0, r.stderr
    assert "Predicted Emotion: HAPPY" in r.stdout
    assert re.search(r"^happy     : \d+\.\d\d% █+$", r.stdout, re.M)


def test_readme_python_example_runs(capsys, monkeypatch):
    pytest.importorskip("cv2", reason="the example reads a video: ferkit[video]")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "happy" in out and "a.jpg" in out and "no such file" in out
    assert "0.0s [(1, 'happy')]" in out  # the video: one face, the same id in every frame


def test_wrong_model_argument_is_a_clear_error():
    with pytest.raises(FerkitError, match="expects a model path or None, got int"):
        ferkit.load(3)
    for threads in (0, -1, 2.5, "2", True):
        with pytest.raises(FerkitError, match="threads must be a whole number of at least 1"):
            ferkit.load(threads=threads)
    assert ferkit.load(threads=1).backend.threads == 1
    assert ferkit.load(threads=np.int64(2)).backend.threads == 2  # os / numpy counts too
    assert_user_error(run("predict.py", "photos/astronaut.png", "--model", "nope.onnx"),
                      "no such model file")
