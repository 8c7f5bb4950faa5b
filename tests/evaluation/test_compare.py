"""`ferkit compare`: models on the same faces, and whether they differ beyond chance."""

import json

import numpy as np
import pytest
from conftest import ROOT, SHARED, assert_user_error, ferkit, make_dataset, requires_fer
from PIL import Image

pytest.importorskip("scipy", reason="needs the evaluate extra")
from ferkit.evaluation.compare import macro_f1, mcnemar_p, paired_intervals, wilson_interval  # noqa: E402

ASTRONAUT = ROOT / "photos" / "astronaut.png"


def test_the_statistics():
    assert mcnemar_p(10, 0) == pytest.approx(2 * 0.5 ** 10)  # every discordant face one way
    assert mcnemar_p(5, 5) == 1.0 and mcnemar_p(0, 0) == 1.0
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    y = np.array([0, 0, 1, 1, 2, 2])
    assert macro_f1(y, y, 3) == 1.0
    assert macro_f1(y, np.array([0, 0, 1, 1, 1, 1]), 3) == pytest.approx((1 + 2 / 3 + 0) / 3)
    # a model right on 30 more of 1,000 faces: the interval of the difference excludes 0
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 7, 1000)
    first = np.where(rng.random(1000) < 0.6, truth, (truth + 1) % 7)
    better = first.copy()
    better[np.flatnonzero(first != truth)[:30]] = truth[first != truth][:30]
    ci = paired_intervals(truth, first, better, 7, resamples=500)
    assert 0 < ci["accuracy_diff_ci"][0] < 0.03 < ci["accuracy_diff_ci"][1] < 0.05


@pytest.fixture(scope="module")
def smiles(tmp_path_factory):
    """A test split of 36 crops of the astronaut's smile (shifted, lighter and darker),
    labelled happy, and one synthetic face in every other class."""
    root = make_dataset(tmp_path_factory.mktemp("smiles"), per_class=1, splits=("test",))
    face = Image.open(ASTRONAUT).convert("L").crop((150, 60, 350, 260))
    for i in range(36):
        dx, dy, gain = i % 3 * 6, i // 3 % 3 * 6, 0.8 + 0.1 * (i // 9)
        crop = face.crop((dx, dy, dx + 180, dy + 180)).point(lambda v, g=gain: min(255, v * g))
        crop.save(root / "test" / "happy" / f"smile_{i}.png")
    return root / "test"


def test_compare_a_model_with_itself_and_with_a_worse_one(smiles, tiny_onnx, tmp_path):
    out = tmp_path / "cmp.json"
    r = ferkit("compare", "fp32", str(ROOT / "src/ferkit/assets/ferkit_mobilenet_v2.onnx"),
               str(tiny_onnx), "--data", str(smiles), "--json", str(out), "--plot",
               str(tmp_path / "recall.png"))
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert result["faces"] == 36 + 7
    same, worse = (m["against_first"] for m in result["models"][1:])
    # the same model under another name: the same answer on every face, nothing to test
    assert same["same_label"] == 1.0 and same["mcnemar_p"] == 1.0
    assert same["accuracy_diff_ci"] == [0.0, 0.0]
    assert "no difference these faces can show" in r.stdout
    # a model trained one epoch on noise: most smiles lost, and the test says so
    assert result["models"][0]["recall"]["happy"] > 0.9
    assert worse["only_first_right"] > 20 and worse["mcnemar_p"] < 1e-4
    assert worse["accuracy_diff_ci"][1] < 0
    assert "less accurate than the first" in r.stdout
    assert Image.open(tmp_path / "recall.png").size[0] > 500


def test_compare_refuses_what_it_cannot_compare(smiles, tiny_onnx, tmp_path):
    assert_user_error(ferkit("compare", "int8", "--data", str(smiles)), "two or more")
    assert_user_error(ferkit("compare", "int8", str(tmp_path / "none.onnx"), "--data",
                             str(smiles)), "none.onnx")
    assert_user_error(ferkit("compare", "fp32", "bundled", "--data", str(smiles)),
                      "no such model: bundled (give a .onnx or .pth file, or a bundled model: "
                      "int8, fp32)")
    assert_user_error(ferkit("compare", "fp32", "int8", "--data", str(tmp_path / "none")),
                      "none")
    assert_user_error(ferkit("compare", "fp32", "int8", "--data", str(smiles), "--plot",
                             "r.txt"), "--plot r.txt")


@requires_fer
def test_the_bundled_int8_model_is_not_detectably_less_accurate(tmp_path):
    """The model card's claim: on PublicTest the int8 copy's difference is within chance."""
    out = tmp_path / "cmp.json"
    r = ferkit("compare", "fp32", "int8", "--data", str(SHARED / "fer2013" / "test"),
               "--json", str(out))
    assert r.returncode == 0, r.stderr
    int8 = json.loads(out.read_text())["models"][1]
    assert int8["against_first"]["mcnemar_p"] > 0.05
    assert int8["against_first"]["same_label"] > 0.95
    low, high = int8["against_first"]["accuracy_diff_ci"]
    assert low < 0 < high and high - low < 0.015
