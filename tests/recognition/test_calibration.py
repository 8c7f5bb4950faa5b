"""Temperature calibration and `ferkit calibrate`."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from conftest import assert_user_error, ferkit, make_dataset
from PIL import Image

from ferkit.recognition.calibration import (
    apply_temperature,
    calibration_error_floor,
    ece_of_bins,
    expected_calibration_error,
    fit_temperature,
    reliability,
    smoothed_calibration_error,
)
from ferkit.recognition.recognizer import load


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def sampled(temperature: float, n: int = 20000, seed: int = 0):
    """Labels drawn from softmax(z), and a model that reports softmax(z / temperature)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (n, 7))
    truth = softmax(z)
    labels = np.array([rng.choice(7, p=p) for p in truth])
    return softmax(z / temperature), labels


@pytest.mark.parametrize("fit", ["ece", "nll"])
def test_a_temperature_is_recovered_and_removes_the_calibration_error(fit):
    over, labels = sampled(0.5)  # twice as confident as it should be
    assert fit_temperature(over, labels, fit) == pytest.approx(2.0, rel=0.1)
    fixed = apply_temperature(over, fit_temperature(over, labels, fit))
    assert expected_calibration_error(over, labels) > 0.08
    assert expected_calibration_error(fixed, labels) < 0.02
    assert (fixed.argmax(1) == over.argmax(1)).all() and np.allclose(fixed.sum(1), 1)
    under, labels = sampled(1.6)
    assert fit_temperature(under, labels, fit) == pytest.approx(1 / 1.6, rel=0.1)


def runner_up_right(n: int = 20000, seed: int = 0):
    """A model whose top probability is calibrated and whose mistakes are all its second
    choice: the likelihood also answers for that second probability, the confidence not."""
    rng = np.random.default_rng(seed)
    top, confidence = rng.integers(0, 7, n), rng.uniform(0.5, 0.95, n)
    second = (top + rng.integers(1, 7, n)) % 7
    probs = np.repeat(((1 - confidence) * 0.1 / 5)[:, None], 7, axis=1)
    probs[np.arange(n), top] = confidence
    probs[np.arange(n), second] = (1 - confidence) * 0.9
    return probs, np.where(rng.random(n) < confidence, top, second)


def test_the_confidence_people_read_is_calibrated_where_the_likelihood_fit_is_not():
    probs, labels = runner_up_right()
    by_ece, by_nll = fit_temperature(probs, labels, "ece"), fit_temperature(probs, labels, "nll")
    assert by_ece == pytest.approx(1.0, rel=0.05) and by_nll < 0.9  # NLL sharpens
    ece = expected_calibration_error(apply_temperature(probs, by_ece), labels)
    assert ece < 0.012 < expected_calibration_error(apply_temperature(probs, by_nll), labels)
    # the error counts faces in the bins the reliability diagram draws
    binned = [ece_of_bins(reliability(probs, labels, b)) for b in range(10, 21)]
    assert expected_calibration_error(probs, labels, 13) == pytest.approx(binned[3], abs=1e-6)
    assert smoothed_calibration_error(probs, labels) == pytest.approx(np.mean(binned), abs=1e-6)
    with pytest.raises(ValueError, match="fit must be one of"):
        fit_temperature(probs, labels, "mse")


def test_the_noise_floor_is_what_a_calibrated_model_scores_and_shrinks_with_more_faces():
    floors = []
    for n in (500, 20000):
        calibrated, labels = sampled(1.0, n=n, seed=n)
        floor = calibration_error_floor(calibrated)
        # a calibrated model's measured error is sampling noise, of the floor's size
        assert 0.4 * floor < expected_calibration_error(calibrated, labels) < 2.5 * floor
        floors.append(floor)
    assert floors[0] > 3 * floors[1]  # ~1/sqrt(n)
    over, labels = sampled(0.5, n=500, seed=500)
    assert expected_calibration_error(over, labels) > 3 * calibration_error_floor(over)


def test_reliability_bins_count_every_face_once():
    probs, labels = sampled(1.0, n=3000)
    bins = reliability(probs, labels, bins=10)
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 3000
    for b in bins:
        if b["count"]:
            assert b["low"] < b["confidence"] <= b["high"] and 0 <= b["accuracy"] <= 1


def test_calibrate_writes_a_model_that_carries_its_temperature(tiny_onnx, tmp_path):
    held_out = make_dataset(tmp_path / "data", per_class=20, splits=("val",)) / "val"
    out, plot = tmp_path / "calibrated.onnx", tmp_path / "reliability.png"
    r = ferkit("calibrate", "--model", str(tiny_onnx), "--data", str(held_out), "--output",
               str(out), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    assert "fitted (ece) on 140 faces" in r.stdout and plot.stat().st_size > 10_000
    assert "(noise floor ~" in r.stdout
    meta = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta()
    config = json.loads(meta.custom_metadata_map["ferkit"])
    temperature = config["temperature"]
    assert config["calibration"]["faces"] == 140 and 0.2 <= temperature <= 5
    assert config["calibration"]["fit"] == "ece"
    faces = [np.asarray(Image.open(p)) for p in sorted(held_out.rglob("*.jpg"))[:10]]
    raw, calibrated = load(tiny_onnx), load(out)
    assert calibrated.temperature == pytest.approx(temperature)
    assert np.allclose(calibrated.classify(faces),
                       apply_temperature(raw.classify(faces), temperature), atol=1e-5)

    r = ferkit("evaluate", "--model", str(out), "--data", str(held_out), "--output-dir",
               str(tmp_path / "eval"))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["temperature"] == pytest.approx(temperature)
    assert metrics["ece"] == pytest.approx(config["calibration"]["ece_after"], abs=1e-3)
    assert 0 < metrics["ece_floor"] < 0.5 and ", noise floor ~" in r.stdout
    assert (tmp_path / "eval" / "reliability.png").exists()

    r = ferkit("calibrate", "--model", str(tiny_onnx), "--data", str(held_out), "--output",
               str(out), "--fit", "nll")
    assert r.returncode == 0, r.stderr
    meta = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta()
    report = json.loads(meta.custom_metadata_map["ferkit"])["calibration"]
    assert report["fit"] == "nll" and report["nll_after"] <= report["nll_before"]
    # the likelihood's own optimum (that it can differ from the calibration error's is
    # shown above: a tiny model's two fits may both end at the grid's bound, T = 5)
    assert report["nll_after"] <= config["calibration"]["nll_after"]
    files = sorted(held_out.rglob("*.jpg"))
    probs = raw.classify([np.asarray(Image.open(p)) for p in files])
    labels = np.array([raw.classes.index(p.parent.name) for p in files])
    assert report["temperature"] == pytest.approx(fit_temperature(probs, labels, "nll"),
                                                  rel=1e-3)
    assert "fitted (nll) on 140 faces" in r.stdout


def test_calibrate_errors(tiny_checkpoint, tiny_onnx, tmp_path):
    small = make_dataset(tmp_path / "data", per_class=2, splits=("val",)) / "val"
    out = tmp_path / "c.onnx"
    assert_user_error(ferkit("calibrate", "--model", str(tiny_onnx), "--data", str(small),
                             "--output", str(out)), "held-out faces at least")
    assert_user_error(ferkit("calibrate", "--model", str(tiny_checkpoint), "--data", str(small),
                             "--output", str(out)), "expected an .onnx model")
    assert_user_error(ferkit("calibrate", "--model", str(tiny_onnx), "--data", str(small),
                             "--output", str(out), "--plot", "r.txt"), "--plot r.txt: use")
    for command, output in (("calibrate", "--output"), ("evaluate", "--output-dir")):
        assert_user_error(ferkit(command, "--model", str(tiny_onnx), "--data", str(small),
                                 output, str(out), "--batch-size", "0"), "--batch-size 0")
    csv = tmp_path / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n")
    assert_user_error(ferkit("calibrate", "--model", str(tiny_onnx), "--data", str(csv),
                             "--output", str(out)), "reads image folders")
    assert not out.exists()


def test_the_reliability_line_leaves_off_bins_of_a_face_or_two(monkeypatch, tmp_path):
    plots = pytest.importorskip("ferkit.evaluation.plots")
    probs, labels = sampled(1.0, n=3000)
    probs[0] = [0.16, 0.14, 0.14, 0.14, 0.14, 0.14, 0.14]  # alone in the 0.13-0.2 bin
    bins = reliability(probs, labels)
    assert sum(1 for b in bins if 0 < b["count"] < 15) >= 1
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    plots.plot_reliability({"model": bins}, tmp_path / "r.png")
    line = figures[0].axes[0].lines[1]  # after the diagonal
    shown = [b for b in bins if b["count"] >= 15]  # 0.5% of 3,000 faces
    assert list(line.get_xdata()) == [b["confidence"] for b in shown]
    bars = figures[0].axes[1].patches
    assert sum(bar.get_height() for bar in bars) == pytest.approx(1.0)  # every face counted
