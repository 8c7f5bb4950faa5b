"""Training end to end: the brief's defaults, options, outputs, DDP, EMA, errors."""

import json
import re
import shutil

import numpy as np
import pytest
import torch
from conftest import (
    ROOT,
    SHARED,
    assert_user_error,
    ferkit,
    make_dataset,
    requires_fer,
    requires_weights,
    run,
    train,
)

from ferkit.commands.train import get_args_parser
from ferkit.errors import FerkitError
from ferkit.recognition.networks import build_model
from ferkit.training import loop as training
from ferkit.training.loop import OUTPUTS, resolve_recipe

WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet_fp16.pth"


def test_defaults_are_the_briefs():
    args = resolve_recipe(get_args_parser().parse_args([]))
    assert (args.data, args.batch_size, args.epochs, args.lr, args.img_size) == (
        "data", 32, 30, 1e-3, 224)
    assert (args.arch, args.optimizer, args.scheduler, args.pretrained) == (
        "mobilenet_v2", "adam", "plateau", "imagenet")
    assert args.output_dir == "." and args.rotation > 0
    fast = resolve_recipe(get_args_parser().parse_args(["--recipe", "fast", "--epochs", "3"]))
    assert fast.epochs == 3 and fast.optimizer == "adamw" and fast.batch_size > 32


@pytest.mark.parametrize("flags, says", [
    (["--lr", "-1"], "--lr -1.0: the learning rate must be positive"),
    (["--lr", "0"], "--lr 0.0"),
    (["--weight-decay", "-0.1"], "--weight-decay"),
    (["--label-smoothing", "1.5"], "--label-smoothing"),
    (["--mixup", "-1"], "--mixup"),
    (["--erasing", "2"], "--erasing"),
    (["--photo-aug", "-0.5"], "--photo-aug -0.5: a probability"),
    (["--ema", "1.5"], "--ema"),
    (["--rotation", "-5"], "--rotation"),
    (["--translate", "3"], "--translate"),
    (["--min-scale", "1.2", "--max-scale", "1.1"], "below --min-scale"),
    (["--recipe", "fast", "--min-scale", "0"], "--min-scale"),
    (["--val-split", "1.5"], "between 0 and 1"),
    (["--img-size", "8"], "too small"),
    (["--batch-size", "1"], "--batch-size >= 2"),
])
def test_out_of_range_options_are_refused_before_any_work(flags, says):
    with pytest.raises(FerkitError, match=re.escape(says)):
        resolve_recipe(get_args_parser().parse_args(flags))


def _fer_subset(root, per_class_train=30, per_class_test=10):
    """A small FER2013 copy (symlinks) plus one corrupt and one non-image file."""
    for split, n in (("train", per_class_train), ("test", per_class_test)):
        for cls in sorted((SHARED / "fer2013" / split).iterdir()):
            dst = root / split / cls.name
            dst.mkdir(parents=True)
            for f in sorted(cls.iterdir())[:n]:
                (dst / f.name).symlink_to(f)
    (root / "train" / "happy" / "notes.txt").write_text("not an image")
    good = next((root / "train" / "sad").iterdir()).read_bytes()
    (root / "train" / "sad" / "broken.jpg").write_bytes(good[:50])
    return root


@requires_fer
@requires_weights
def test_end_to_end_train_evaluate_export_predict(tmp_path):
    data = _fer_subset(tmp_path / "data")
    out = tmp_path / "run"
    r = run("train.py", "--data", str(data), "--epochs", "1", "--img-size", "64",
            "--pretrained", str(WEIGHTS), "--output-dir", str(out), "--cache-dir", "none",
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "skipped 2 unreadable file(s)" in r.stderr
    assert "Traceback" not in r.stderr
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 70 and metrics["skipped_files"] == 2
    assert set(metrics["per_class"]) == {p.name for p in (data / "train").iterdir()}
    assert {"accuracy", "macro_f1", "confusion_matrix", "training_time_s"} <= set(metrics)
    assert "precision" in (out / "classification_report.txt").read_text()

    r = ferkit("evaluate", "--model", str(out / "best_model.pth"), "--data", str(data / "test"),
               "--output-dir", str(tmp_path / "eval"), "--json", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    evaluated = json.loads((tmp_path / "e.json").read_text())
    # evaluation goes through the same preprocessing as prediction, close to training's own
    assert abs(evaluated["accuracy"] - metrics["accuracy"]) <= 0.05
    assert (tmp_path / "eval" / "confusion_matrix.png").exists()

    onnx_path = tmp_path / "model.onnx"
    assert ferkit("export", "--model", str(out / "best_model.pth"), "--output",
                  str(onnx_path)).returncode == 0
    face = next((data / "test" / "happy").iterdir())
    outputs = []
    for model in (out / "best_model.pth", onnx_path):
        r = run("predict.py", str(face), "--model", str(model), "--show-all", "--no-detect")
        assert r.returncode == 0 and "Predicted Emotion:" in r.stdout, r.stderr
        outputs.append(r.stdout)
    # the same lines from both backends, percentages to two decimals within one rounding step
    # (float error can tip a value such as 18.675 either way)
    percent = re.compile(r"(\d+\.\d+)%")
    assert [percent.sub("%", line) for line in outputs[0].splitlines()] == \
        [percent.sub("%", line) for line in outputs[1].splitlines()]
    assert np.allclose([float(v) for v in percent.findall(outputs[0])],
                       [float(v) for v in percent.findall(outputs[1])], atol=0.0101)
    r = ferkit("evaluate", "--model", str(onnx_path), "--data", str(data / "test"),
               "--output-dir", str(tmp_path / "eval2"), "--json", str(tmp_path / "e2.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "e2.json").read_text())["accuracy"] == evaluated["accuracy"]


@pytest.mark.parametrize("arch", ["efficientnet_b0", "resnet18"])
def test_alternative_architectures_train(tiny_data, tmp_path, arch):
    train(tiny_data, tmp_path / "out", "--arch", arch, "--img-size", "32", "--pretrained",
          "none", "--batch-size", "14", "--freeze-backbone", "--unfreeze-last", "1")
    assert torch.load(tmp_path / "out" / "best_model.pth", weights_only=True)["config"][
        "arch"] == arch


def test_dataset_errors_are_one_line_and_exit_2(tiny_data, tmp_path):
    def go(data, *extra):
        return ferkit("train", "--data", str(data), "--output-dir", str(tmp_path / "o"),
                      "--epochs", "1", "--img-size", "32", "--pretrained", "none",
                      "--cache-dir", "none", "--no-progress", *extra)

    assert_user_error(go(tmp_path / "missing"), "no such dataset folder")
    assert_user_error(go(tiny_data / "train"), "no train/ folder")
    shutil.rmtree(tiny_data / "test" / "fear")
    assert_user_error(go(tiny_data), "differ from")
    make_dataset(tiny_data, splits=("test",))
    for f in (tiny_data / "train" / "sad").iterdir():
        f.unlink()
    assert_user_error(go(tiny_data), "sad is empty")
    make_dataset(tiny_data, splits=("train",))
    # the weights are checked before any data is read (a big dataset decodes for minutes)
    assert_user_error(go(tmp_path / "missing", "--pretrained", str(tmp_path / "w.pth")),
                      "no such weights file")
    assert_user_error(go(tiny_data, "--lr", "-1"), "the learning rate must be positive")
    assert not (tmp_path / "o" / "best_model.pth").exists()


def test_a_failed_run_keeps_earlier_outputs(tiny_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "best_model.pth").write_bytes(b"previous model")
    r = ferkit("train", "--data", str(tmp_path / "nope"), "--output-dir", str(out))
    assert r.returncode == 2
    assert (out / "best_model.pth").read_bytes() == b"previous model"


def test_two_gloo_processes_end_with_identical_weights_and_one_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    r = run("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
            str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path / "rank{rank}.pt"),
            "--data", str(tiny_data), "--output-dir", str(out),
            "--epochs", "1", "--img-size", "32", "--pretrained", "none", "--batch-size", "4",
            "--cache-dir", "none", "--no-progress", "--device", "cpu",
            env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("epoch   1/1") == 1  # only rank 0 prints
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    saved = torch.load(out / "best_model.pth", weights_only=True)["model"]
    assert all(torch.equal(saved[k], ranks[0][k]) for k in saved)
    assert sorted(p.name for p in out.glob("*.pth")) == ["best_model.pth", "last_model.pth"]


def test_ema_saves_averaged_weights(tiny_data, tmp_path):
    def weights(out, *extra):
        train(tiny_data, out, "--img-size", "32", "--pretrained", "none", "--batch-size", "7",
              "--recipe", "fast", "--epochs", "1", *extra)
        return torch.load(out / "best_model.pth", weights_only=True)["model"]

    plain = weights(tmp_path / "plain", "--ema", "0")
    averaged = weights(tmp_path / "ema", "--ema", "0.5")
    first = "backbone.features.0.0.weight"
    assert not torch.equal(plain[first], averaged[first])
    # same seed, same steps: the EMA lies between the start and the trained weights
    torch.manual_seed(42)  # train's default --seed, set before it builds the model
    start = build_model("mobilenet_v2", 7, "none").state_dict()
    assert (averaged[first] - start[first]).norm() < (plain[first] - start[first]).norm()


def test_the_cpu_step_runs_channels_last(tiny_data, tmp_path, monkeypatch):
    """On the CPU too: oneDNN's convolutions in that layout make an epoch ~1.5x faster."""
    seen = {}
    build = training.build_model

    def spying_build(*args, **kw):
        model = build(*args, **kw)
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))

        def hook(module, inputs, output):
            if module.training:
                seen.update(
                    weight=module.weight.is_contiguous(memory_format=torch.channels_last),
                    output=output.is_contiguous(memory_format=torch.channels_last),
                    device=output.device.type)

        conv.register_forward_hook(hook)
        return model

    monkeypatch.setattr(training, "build_model", spying_build)
    training.main(get_args_parser().parse_args([
        "--data", str(tiny_data), "--output-dir", str(tmp_path / "out"), "--device", "cpu",
        "--img-size", "32", "--pretrained", "none", "--batch-size", "7", "--epochs", "1",
        "--cache-dir", "none", "--no-progress"]))
    assert seen == {"weight": True, "output": True, "device": "cpu"}
