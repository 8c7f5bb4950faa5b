"""`ferkit evaluate`: labelled photos (--detect), predictions.csv and the mistakes figure."""


import csv
import json
from pathlib import Path

import numpy as np
import torch
from conftest import ROOT, assert_user_error, ferkit, make_dataset, write_fer_csv
from PIL import Image

from ferkit.evaluation.metrics import classify_all, labelled_faces
from ferkit.recognition.recognizer import bundled_model, load

ASTRONAUT = ROOT / "photos" / "astronaut.png"


def labelled_photos(root: Path) -> Path:
    """happy: the astronaut, and a small astronaut left of a large one; sad: the astronaut
    (a wrong label: a mistake); neutral: a blank picture (no face) and a broken file."""
    astronaut = Image.open(ASTRONAUT).convert("RGB")
    for folder in ("happy", "sad", "neutral"):
        (root / folder).mkdir(parents=True)
    astronaut.save(root / "happy" / "astronaut.png")
    pair = Image.new("RGB", (1000, 512), (120, 120, 120))
    pair.paste(astronaut.resize((300, 300)), (0, 100))
    pair.paste(astronaut, (488, 0))
    pair.save(root / "happy" / "pair.jpg")
    astronaut.save(root / "sad" / "astronaut.jpg")
    Image.new("RGB", (400, 300), (128, 128, 128)).save(root / "neutral" / "blank.png")
    (root / "neutral" / "broken.jpg").write_text("not an image")
    return root


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_detect_scores_the_largest_face_and_counts_photos_without_one(tmp_path):
    photos = labelled_photos(tmp_path / "photos")
    out = tmp_path / "ev"
    r = ferkit("evaluate", "--data", str(photos), "--detect", "--output-dir", str(out),
               "--json", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["images"], m["num_samples"], m["no_face"], m["skipped_files"]) == (4, 3, 1, 1)
    assert m["no_face_per_class"] == [0, 0, 0, 0, 1, 0, 0]  # neutral's blank picture
    assert m["accuracy"] == 2 / 3 and m["end_to_end_accuracy"] == 2 / 4
    assert "no face found in 1 of 4 images; end-to-end accuracy 0.5000" in r.stdout
    assert "skipped 1 unreadable" in r.stderr and "--min-face" in r.stderr

    rows = {row["file"]: row for row in read_rows(out / "predictions.csv")}
    assert list(rows) == ["happy/astronaut.png", "happy/pair.jpg", "neutral/blank.png",
                          "sad/astronaut.jpg"]
    assert rows["neutral/blank.png"]["predicted"] == "no face"
    assert rows["sad/astronaut.jpg"]["predicted"] == "happy"
    assert rows["sad/astronaut.jpg"]["correct"] == "False"
    # the larger astronaut (right), not the first face from the left
    x0, y0, x1, y1 = (int(rows["happy/pair.jpg"][k]) for k in ("x0", "y0", "x1", "y1"))
    assert x0 > 488 and x1 - x0 > 80
    photo = rows["happy/astronaut.png"]
    assert [photo["predicted"], photo["correct"]] == ["happy", "True"]
    # the same face ferkit predict finds, with the same probabilities
    face = load().predict(ASTRONAUT)[0]
    assert [int(photo[k]) for k in ("x0", "y0", "x1", "y1")] == list(face.box)
    assert abs(float(photo["happy"]) - face.probs["happy"]) < 1e-3
    for name in ("confusion_matrix.png", "mistakes.png", "reliability.png"):
        assert Image.open(out / name).size[0] > 300
    assert "no face found in 1 of 4" in (out / "classification_report.txt").read_text()


def test_predictions_csv_agrees_with_the_metrics_and_mistakes_are_the_most_confident(
        tiny_data, tiny_onnx, tmp_path):
    out = tmp_path / "ev"
    r = ferkit("evaluate", "--model", str(tiny_onnx), "--data", str(tiny_data / "test"),
               "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    rows = read_rows(out / "predictions.csv")
    assert len(rows) == m["num_samples"] == 28 and "no_face" not in m
    assert np.mean([row["correct"] == "True" for row in rows]) == m["accuracy"]
    classes = m["classes"]
    for row in rows:
        probs = [float(row[c]) for c in classes]
        assert float(row[row["predicted"]]) == max(probs)  # (ties at 4 decimals allowed)
        assert row["label"] == row["file"].split("/")[0] and row["x0"] == ""
    rec = load()  # the bundled model: its confidences on these faces differ widely
    samples, total, _ = labelled_faces(tiny_data / "test", rec.classes)
    done = classify_all(rec, samples, total, batch_size=5, mistakes=4)
    wrong = done.probs.argmax(1) != done.labels
    assert wrong.sum() > 4
    confidences = [c for c, *_ in done.mistakes]
    assert np.allclose(confidences, sorted(done.probs.max(1)[wrong], reverse=True)[:4])
    assert all(label != predicted for _, _, label, predicted, _ in done.mistakes)
    assert done.mistakes[0][-1].shape == (96, 96)
    assert Image.open(out / "mistakes.png").size[1] > 300


def test_detect_options_and_data_it_does_not_fit_are_one_line_errors(tmp_path):
    photos = labelled_photos(tmp_path / "photos")
    r = ferkit("evaluate", "--data", str(photos), "--min-face", "40",
               "--output-dir", str(tmp_path / "a"))
    assert_user_error(r, "--detector and --min-face choose how faces are found: add --detect")
    table = write_fer_csv(tmp_path / "fer2013.csv", {"PrivateTest": 1})
    r = ferkit("evaluate", "--data", str(table), "--detect", "--output-dir", str(tmp_path / "b"))
    assert_user_error(r, "the rows of FER2013's CSV are face crops already")
    for folder in ("happy", "sad"):
        (tmp_path / "blank" / folder).mkdir(parents=True)
        Image.new("L", (300, 300), 90).save(tmp_path / "blank" / folder / "grey.png")
    r = ferkit("evaluate", "--data", str(tmp_path / "blank"), "--detect",
               "--output-dir", str(tmp_path / "c"))
    # after the progress bar: the error is found once the photos have been looked at
    r.stderr = "\n".join(line for line in r.stderr.splitlines()
                          if not line.startswith("classifying"))
    assert_user_error(r, "no face found in any of the 2 readable images")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_evaluate_defaults_to_the_bundled_model(tiny_data, tmp_path):
    r = ferkit("evaluate", "--data", str(tiny_data / "test"), "--output-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("the bundled int8 model on test: accuracy")
    assert (tmp_path / "metrics.json").read_text().count(str(bundled_model())) == 1


def test_evaluate_matches_classes_by_name_and_refuses_unknown_ones(tiny_checkpoint, tmp_path):
    data = make_dataset(tmp_path / "d", per_class=2, classes=["happy", "sad"], splits=("test",))
    r = ferkit("evaluate", "--model", str(tiny_checkpoint), "--data", str(data / "test"),
               "--output-dir", str(tmp_path / "e"), "--json", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["num_samples"] == 4 and metrics["per_class"]["happy"]["support"] == 2
    assert metrics["per_class"]["angry"]["support"] == 0
    make_dataset(data, per_class=1, classes=["contempt"], splits=("test",))
    r = ferkit("evaluate", "--model", str(tiny_checkpoint), "--data", str(data / "test"),
               "--output-dir", str(tmp_path / "e2"))
    assert_user_error(r, "class folders ['contempt']")
    assert not (tmp_path / "e2").exists()


def test_evaluate_runs_a_checkpoint_where_asked_and_refuses_a_device_it_cannot_use(
        tiny_checkpoint, tiny_onnx, tmp_path):
    data = make_dataset(tmp_path / "d", per_class=2, classes=["happy", "sad"], splits=("test",))
    common = ("--data", str(data / "test"), "--output-dir", str(tmp_path / "e"))
    r = ferkit("evaluate", "--model", str(tiny_checkpoint), "--device", "cpu",
               "--json", str(tmp_path / "m.json"), *common)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "m.json").read_text())["device"] == "cpu"
    assert_user_error(ferkit("evaluate", "--model", str(tiny_onnx), "--device", "cuda", *common),
                      "is an ONNX model, which runs on the CPU")
    assert_user_error(ferkit("evaluate", "--model", str(tiny_checkpoint), "--device", "tpu9",
                             *common), "--device 'tpu9' is not a device")
    if not torch.cuda.is_available():
        assert_user_error(ferkit("evaluate", "--model", str(tiny_checkpoint), "--device",
                                 "cuda", *common), "CUDA is not available here")
