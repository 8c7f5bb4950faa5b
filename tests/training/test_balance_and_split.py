"""--val-split for a dataset with only train/, and the class-imbalance options."""

import json
import re
from pathlib import Path

import numpy as np
import torch
from conftest import CLASSES, ferkit, make_dataset, train

from ferkit.io.datasets import list_files, stratified_split
from ferkit.training.loop import class_weights, epoch_order


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=10, splits=("train",))
    samples = list_files(data / "train", CLASSES)
    fit, val = stratified_split(samples, 0.2, seed=1)
    assert len(val) == 14 and len(fit) == 56 and not set(fit) & set(val)
    assert np.bincount([label for _, label in val]).tolist() == [2] * 7
    assert stratified_split(samples, 0.2, seed=1)[1] == val
    assert stratified_split(samples, 0.2, seed=2)[1] != val


def test_val_split_trains_without_a_test_folder_and_evaluate_reuses_its_list(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=8, splits=("train",))
    out = tmp_path / "out"
    r = train(data, out, "--img-size", "32", "--pretrained", "none", "--batch-size", "8",
              "--val-split", "0.25")
    assert "on 42 images" in r.stdout and "validating on 14" in r.stdout
    listed = [line for line in (out / "val_split.txt").read_text().splitlines()
              if not line.startswith("#")]
    assert len(listed) == 14 and all(line.split("/")[0] in CLASSES for line in listed)
    r = ferkit("evaluate", "--model", str(out / "best_model.pth"), "--data",
               str(data / "train"), "--files", str(out / "val_split.txt"), "--json",
               str(tmp_path / "m.json"), "--output-dir", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    evaluated = json.loads(Path(tmp_path / "m.json").read_text())
    trained = json.loads((out / "metrics.json").read_text())
    assert evaluated["num_samples"] == 14
    # the same images, classified the same way (PIL vs tensor resize may move one or two)
    assert abs(evaluated["accuracy"] - trained["accuracy"]) <= 2 / 14


def test_balanced_class_weights_and_sampler_favour_the_rare_class():
    labels = np.array([0] * 90 + [1] * 10)
    w = class_weights(labels, 2)
    assert np.allclose(w, [100 / 180, 100 / 20])  # 90*w0 == 10*w1: each class weighs the same
    drawn = labels[epoch_order(len(labels), 0, 1, torch.from_numpy(w[labels]).double()).numpy()]
    assert 35 <= (drawn == 1).sum() <= 65  # ~50 of 100, against 10 in a shuffle
    assert (labels[epoch_order(100, 0, 1).numpy()] == 1).sum() == 10
    # each rank takes its own shard of the same draw
    shards = [epoch_order(100, 0, 1, rank=r, world=2) for r in (0, 1)]
    assert sorted(torch.cat(shards).tolist()) == list(range(100))


def test_training_with_both_imbalance_options(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=4)
    r = train(data, tmp_path / "out", "--img-size", "32", "--pretrained", "none",
              "--batch-size", "8", "--class-weights", "balanced", "--sampler", "balanced")
    ckpt = torch.load(tmp_path / "out" / "best_model.pth", weights_only=True)
    assert ckpt["train_args"]["sampler"] == "balanced", r.stdout


def held_out(out: Path) -> tuple[str, list[str]]:
    """The seed its header names and the files of a run's val_split.txt."""
    lines = (out / "val_split.txt").read_text().splitlines()
    return re.search(r"seed \d+", lines[0])[0], [ln for ln in lines if not ln.startswith("#")]


def test_runs_with_other_seeds_validate_on_the_same_faces(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=8, splits=("train",))
    flags = ("--img-size", "32", "--pretrained", "none", "--batch-size", "8", "--val-split",
             "0.25")
    runs = {name: tmp_path / name for name in ("seed1", "seed2", "split5")}
    train(data, runs["seed1"], *flags, "--seed", "1")
    train(data, runs["seed2"], *flags, "--seed", "2")
    train(data, runs["split5"], *flags, "--seed", "1", "--split-seed", "5")
    first = held_out(runs["seed1"])
    assert held_out(runs["seed2"]) == first and first[0] == "seed 42"
    assert held_out(runs["split5"])[0] == "seed 5" and held_out(runs["split5"])[1] != first[1]


def test_a_run_from_before_split_seed_resumes_on_its_own_held_out_faces(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=8, splits=("train",))
    out = tmp_path / "out"
    # such a run drew its split with --seed: here 3
    train(data, out, "--img-size", "32", "--pretrained", "none", "--batch-size", "8",
          "--val-split", "0.25", "--seed", "3", "--split-seed", "3")
    before = held_out(out)
    ckpt = torch.load(out / "last_model.pth", weights_only=True)
    del ckpt["train_args"]["split_seed"]
    torch.save(ckpt, out / "last_model.pth")
    r = ferkit("train", "--resume", str(out), "--epochs", "2", "--cache-dir", "none",
               "--no-progress")
    assert r.returncode == 0, r.stderr
    assert held_out(out) == before
