"""--resume: a run killed (SIGKILL) or interrupted (Ctrl-C) ends exactly as an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_user_error, ferkit, make_dataset

# A small run that touches every resumable piece: AdamW, warm-up + cosine (stepped per step),
# EMA, dropout, random erasing and zoom drawn from the augmentation generator.
FLAGS = ["--recipe", "fast", "--img-size", "32", "--batch-size", "4", "--epochs", "3",
         "--ema", "0.9", "--pretrained", "none", "--cache-dir", "none", "--no-progress",
         "--seed", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("resume") / "data", per_class=10)


@pytest.fixture(scope="module")
def uninterrupted(data) -> Path:
    out = data.parent / "whole"
    r = ferkit("train", "--data", str(data), "--output-dir", str(out), *FLAGS)
    assert r.returncode == 0, r.stderr
    return out


def start(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "ferkit", "train", "--data", str(data), "--output-dir", str(out),
         *FLAGS, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_run(a: Path, b: Path) -> None:
    ca, cb = weights(a / "last_model.pth"), weights(b / "last_model.pth")
    assert ca["model"].keys() == cb["model"].keys()
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    for k in ca["resume"]["raw_model"]:
        assert torch.equal(ca["resume"]["raw_model"][k], cb["resume"]["raw_model"][k]), k
    assert [h["epoch"] for h in cb["history"]] == [1, 2, 3]
    assert [h["val_acc"] for h in cb["history"]] == [h["val_acc"] for h in ca["history"]]
    assert weights(b / "best_model.pth")["epoch"] == weights(a / "best_model.pth")["epoch"]
    assert (b / "training_history.png").exists() and (b / "metrics.json").exists()


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(data, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = start(data, out)
    wait_for(out / "last_model.pth", proc)  # epoch 1 is saved; epoch 2 is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = weights(out / "last_model.pth")
    assert saved["epoch"] < 3 and saved["resume"]["step"] == 0  # lost: the epoch in progress
    r = ferkit("train", "--resume", str(out))
    assert r.returncode == 0, r.stderr
    assert f"resumed after epoch {saved['epoch']}" in r.stdout
    assert_same_run(uninterrupted, out)


def test_ctrl_c_saves_mid_epoch_and_prints_the_resume_command(data, uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    proc = start(data, out, "--save-every", "5")
    wait_for(out / "last_model.pth", proc)  # the first save, 5 steps into epoch 1
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert f"ferkit train --resume {out}" in stderr
    saved = weights(out / "last_model.pth")["resume"]
    assert saved["step"] > 0  # saved inside an epoch, after the step that was running
    r = ferkit("train", "--resume", str(out / "last_model.pth"))
    assert r.returncode == 0, r.stderr
    assert f"step {saved['step']}" in r.stdout
    assert_same_run(uninterrupted, out)


def test_a_resume_that_contradicts_the_run_is_refused(data, uninterrupted, tmp_path):
    from ferkit.commands.train import get_args_parser
    from ferkit.errors import FerkitError
    from ferkit.training.loop import resume

    path, ckpt = resume.load(uninterrupted)
    for flags, fragment in ((["--img-size", "64"], "--img-size 64 contradicts the run"),
                            (["--arch", "resnet18"], "--arch resnet18 contradicts"),
                            (["--data", str(tmp_path)], "--data"),
                            (["--recipe", "brief"], "--recipe brief contradicts")):
        args = get_args_parser().parse_args(["--resume", str(path), *flags])
        with pytest.raises(FerkitError, match=fragment):
            resume.merge_args(args, path, ckpt)
    # where and how it runs may change; what it trains comes from the checkpoint
    args = get_args_parser().parse_args(["--resume", str(path), "--device", "cpu"])
    merged = resume.merge_args(args, path, ckpt)
    assert (merged.img_size, merged.ema, merged.output_dir) == (32, 0.9, str(uninterrupted))
    with pytest.raises(FerkitError, match="has no resume state"):
        resume.load(uninterrupted / "best_model.pth")
    # one real command line: one clear line, exit status 2
    r = ferkit("train", "--resume", str(uninterrupted), "--img-size", "64")
    assert_user_error(r, "--img-size 64 contradicts the run being resumed")
    assert_user_error(ferkit("train", "--resume", str(tmp_path / "nothing")),
                      "no such checkpoint")


def test_a_resume_on_changed_data_is_refused(data, uninterrupted, tmp_path):
    from ferkit.errors import FerkitError
    from ferkit.training.loop import resume

    path, ckpt = resume.load(uninterrupted)
    resume.check_data(path, ckpt, ckpt["config"]["classes"], 70)
    with pytest.raises(FerkitError, match="70 training images then, 71 now"):
        resume.check_data(path, ckpt, ckpt["config"]["classes"], 71)
    with pytest.raises(FerkitError, match="the classes changed"):
        resume.check_data(path, ckpt, ["a", "b"], 70)


def test_a_new_run_does_not_replace_another_run_unasked(data, uninterrupted, tmp_path):
    before = {p.name: p.read_bytes() for p in uninterrupted.glob("*.pth")}
    r = ferkit("train", "--data", str(data), "--output-dir", str(uninterrupted), *FLAGS)
    assert_user_error(r, f"{uninterrupted} already holds a run (best_model.pth, last_model.pth)")
    assert {p.name: p.read_bytes() for p in uninterrupted.glob("*.pth")} == before
    assert_user_error(ferkit("train", "--resume", str(uninterrupted), "--overwrite"),
                      "choose one")
    again = tmp_path / "again"
    again.mkdir()
    (again / "best_model.pth").write_bytes(before["best_model.pth"])
    r = ferkit("train", "--data", str(data), "--output-dir", str(again), "--overwrite", *FLAGS,
               "--epochs", "1")
    assert r.returncode == 0, r.stderr
    assert (again / "best_model.pth").read_bytes() != before["best_model.pth"]
