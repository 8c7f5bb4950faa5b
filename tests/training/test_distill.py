"""Distillation: --teacher's probabilities mixed into the training targets."""

import numpy as np
import pytest
import torch
from conftest import assert_user_error, ferkit, make_dataset, train
from hypothesis import given, settings
from hypothesis import strategies as st

from ferkit.commands.train import get_args_parser
from ferkit.errors import FerkitError
from ferkit.io.datasets import list_classes, load_split
from ferkit.recognition.recognizer import load
from ferkit.training import loop as training
from ferkit.training.distill import distill_targets, teacher_probs


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20), k=st.integers(2, 8), weight=st.floats(0, 1),
       seed=st.integers(0, 2**31), with_soft=st.booleans())
def test_targets_are_distributions_between_labels_and_teachers(n, k, weight, seed, with_soft):
    rng = np.random.default_rng(seed)
    teacher = rng.dirichlet(np.ones(k), n).astype(np.float32)
    labels = rng.integers(0, k, n)
    soft = rng.dirichlet(np.ones(k), n).astype(np.float32) if with_soft else None
    base = soft if with_soft else np.eye(k, dtype=np.float32)[labels]
    targets = distill_targets(labels, teacher, weight, soft)
    assert targets.dtype == np.float32 and targets.shape == (n, k)
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(targets, weight * teacher + (1 - weight) * base, atol=1e-6)
    # each target lies between the label's and the teachers' distributions
    assert (targets >= np.minimum(teacher, base) - 1e-6).all()
    assert (targets <= np.maximum(teacher, base) + 1e-6).all()


def test_the_ends_of_the_weight_are_the_labels_and_the_teachers():
    teacher = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], np.float32)
    labels = np.array([2, 0])
    np.testing.assert_array_equal(distill_targets(labels, teacher, 0.0), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_allclose(distill_targets(labels, teacher, 1.0), teacher)


def test_teachers_are_averaged_as_the_recogniser_reads_them(tiny_checkpoint, tiny_onnx,
                                                            tmp_path):
    data = make_dataset(tmp_path / "data", per_class=3)
    classes = list_classes(data / "train")
    split = load_split(data / "train", classes, 40, None, False)  # not the teachers' 32 px
    probs = teacher_probs([str(tiny_checkpoint), str(tiny_onnx)], split.images, classes,
                          progress=False)
    each = [load(m).classify(list(split.images)) for m in (tiny_checkpoint, tiny_onnx)]
    np.testing.assert_allclose(probs, (each[0] + each[1]) / 2, atol=1e-5)
    assert probs.shape == (len(split), len(classes))


def test_a_teacher_of_other_classes_is_refused(tiny_onnx):
    images = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(FerkitError, match="its classes .* are not the dataset's"):
        teacher_probs([str(tiny_onnx)], images, ["happy", "sad"], progress=False)


def test_the_run_trains_on_the_mixed_targets(tiny_onnx, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2)
    args = training.resolve_recipe(get_args_parser().parse_args([
        "--data", str(data), "--teacher", str(tiny_onnx), "--distill", "0.25",
        "--img-size", "32", "--cache-dir", "none", "--no-progress"]))
    split, _ = training.load_data(args, tmp_path, master=True)
    training.distill(args, split, master=True)
    teacher = load(tiny_onnx).classify(list(split.images))
    one_hot = np.eye(len(split.classes))[split.labels]
    np.testing.assert_allclose(split.soft, 0.25 * teacher + 0.75 * one_hot, atol=1e-5)


def test_train_with_a_teacher_records_it_and_resumes(tiny_onnx, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2)
    out = tmp_path / "run"
    r = train(data, out, "--img-size", "32", "--pretrained", "none", "--batch-size", "8",
              "--teacher", str(tiny_onnx), "--distill", "0.6")
    assert "distilling from 1 teacher(s), 0.6 of each target" in r.stdout
    saved = torch.load(out / "best_model.pth", weights_only=False)["train_args"]
    assert saved["teacher"] == [str(tiny_onnx)] and saved["distill"] == 0.6
    r = ferkit("train", "--resume", str(out), "--epochs", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "distilling from 1 teacher(s), 0.6" in r.stdout and "resumed after epoch 1" in r.stdout


@pytest.mark.parametrize("extra, says", [
    (["--distill", "0.5"], "--distill goes with --teacher MODEL"),
    (["--teacher", "no_such_model.onnx"], "--teacher: no such model file: no_such_model.onnx"),
    (["--teacher", "NOTES", "--distill", "1.5"], "--distill 1.5: the teachers' share"),
    (["--teacher", "NOTES"], "NOTES"),  # a text file where a model should be
])
def test_bad_teachers_are_one_line_and_exit_2(extra, says, tmp_path):
    data = make_dataset(tmp_path / "data", per_class=1)
    notes = tmp_path / "notes.onnx"
    notes.write_text("not a model")
    extra = [str(notes) if a == "NOTES" else a for a in extra]
    says = says.replace("NOTES", str(notes))
    r = ferkit("train", "--data", str(data), "--output-dir", str(tmp_path / "run"),
               "--epochs", "1", "--img-size", "32", "--pretrained", "none", "--cache-dir",
               "none", "--no-progress", *extra)
    assert_user_error(r, says)
    assert not (tmp_path / "run" / "best_model.pth").exists()
