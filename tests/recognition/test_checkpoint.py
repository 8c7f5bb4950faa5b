"""Checkpoints: round trips, safe loading, broken and tampered files."""

import pickle

import pytest
import torch
from conftest import assert_user_error, run

from ferkit.errors import FerkitError
from ferkit.recognition.checkpoint import load_checkpoint, load_model, save_checkpoint
from ferkit.recognition.networks import build_model

CONFIG = dict(arch="resnet18", classes=["a", "b", "c"], img_size=32)


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = build_model("resnet18", 3, "none").eval()
    save_checkpoint(tmp_path / "m.pth", model, CONFIG, epoch=3)
    loaded, config = load_model(tmp_path / "m.pth")
    x = torch.rand(2, 1, 32, 32)
    assert config == CONFIG
    assert torch.equal(model(x), loaded(x))
    assert load_checkpoint(tmp_path / "m.pth")["epoch"] == 3


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    model = build_model("resnet18", 3, "none")
    save_checkpoint(tmp_path / "m.pth", model, CONFIG)
    before = (tmp_path / "m.pth").read_bytes()
    with pytest.raises((TypeError, AttributeError, pickle.PicklingError)):
        save_checkpoint(tmp_path / "m.pth", model, CONFIG, bad=lambda: 0)  # unpicklable
    assert (tmp_path / "m.pth").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pth"]


def test_broken_checkpoints_are_user_errors(tmp_path):
    model = build_model("resnet18", 3, "none")
    save_checkpoint(tmp_path / "m.pth", model, CONFIG)
    data = (tmp_path / "m.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    cases = {
        "missing.pth": "no such checkpoint",
        "cut.pth": "corrupt or truncated",
    }
    torch.save({"weights": 1}, tmp_path / "other.pth")
    cases["other.pth"] = "not a ferkit checkpoint"
    wrong = load_checkpoint(tmp_path / "m.pth")
    wrong["config"] = {**CONFIG, "arch": "mobilenet_v2"}
    torch.save(wrong, tmp_path / "wrong_arch.pth")
    cases["wrong_arch.pth"] = "weights do not match a mobilenet_v2"
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0xFF  # inside a tensor: the zip archive does not notice
    (tmp_path / "tampered.pth").write_bytes(tampered)
    cases["tampered.pth"] = "tampered with"
    for name, message in cases.items():
        with pytest.raises(FerkitError, match=message):
            load_model(tmp_path / name)


class WritesAFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path):
    target = tmp_path / "pwned"
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"format": "ferkit-checkpoint", "x": WritesAFile(str(target))}, f)
    torch.save({"format": "ferkit-checkpoint", "x": WritesAFile(str(target))},
               tmp_path / "evil_zip.pth")
    assert not target.exists()
    for name in ("evil.pth", "evil_zip.pth"):
        with pytest.raises(FerkitError, match="refused"):
            load_checkpoint(tmp_path / name)
        assert_user_error(run("predict.py", "--model", str(tmp_path / name), "x.jpg"), "refused")
    assert not target.exists()


def test_a_file_that_is_no_pytorch_file_is_called_what_it_is(tmp_path):
    (tmp_path / "notes.pth").write_text("not weights")
    (tmp_path / "png.pth").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for name in ("notes.pth", "png.pth"):
        with pytest.raises(FerkitError, match="not a file torch.save wrote"):
            load_checkpoint(tmp_path / name)
