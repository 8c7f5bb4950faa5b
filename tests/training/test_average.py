"""`ferkit average`: weights averaged over runs, BatchNorm statistics measured again."""

from pathlib import Path

import pytest
import torch
from conftest import assert_user_error, ferkit, make_dataset, train

from ferkit.recognition.checkpoint import load_checkpoint, load_model
from ferkit.training.augment import TrainPreset
from ferkit.training.average import measure_batchnorm

FLAGS = ("--img-size", "32", "--pretrained", "none", "--batch-size", "8", "--val-split", "0.25")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("average")
    data = make_dataset(root / "data", per_class=8, splits=("train",))
    for seed in (1, 2):
        train(data, root / f"seed{seed}", *FLAGS, "--seed", str(seed))
    return [root / f"seed{seed}" / "best_model.pth" for seed in (1, 2)]


def is_batchnorm_statistic(name: str) -> bool:
    return name.endswith(("running_mean", "running_var"))


def test_the_average_is_the_runs_mean_with_batchnorm_measured_again(runs, tmp_path):
    parents = [load_checkpoint(p)["model"] for p in runs]
    mean = {k: (parents[0][k].float() + parents[1][k].float()) / 2 for k in parents[0]}
    out = {way: tmp_path / f"{way}.pth" for way in ("measure", "average")}
    for way, path in out.items():
        r = ferkit("average", *map(str, runs), "--output", str(path), "--batchnorm", way)
        assert r.returncode == 0, r.stderr
        assert "held-out faces (14 of" in r.stdout and "average" in r.stdout
    measured, averaged = (load_checkpoint(out[w])["model"] for w in ("measure", "average"))
    for name, value in averaged.items():
        if value.is_floating_point():
            assert torch.allclose(value, mean[name], atol=1e-6), name
    weights = [k for k, v in parents[0].items()
               if v.is_floating_point() and not is_batchnorm_statistic(k)]
    assert all(torch.equal(measured[k], averaged[k]) for k in weights)
    statistics = [k for k in mean if is_batchnorm_statistic(k)]
    assert statistics and not all(torch.allclose(measured[k], mean[k]) for k in statistics)
    model, config = load_model(out["measure"])  # a checkpoint like any other
    assert config["img_size"] == 32 and not model.training
    r = ferkit("export", "--model", str(out["measure"]), "--output", str(tmp_path / "a.onnx"))
    assert r.returncode == 0, r.stderr


def test_measured_statistics_are_those_of_the_images():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    images = torch.randint(0, 256, (24, 16, 16), dtype=torch.uint8)
    still = TrainPreset(img_size=16, hflip=0, rotation=0, brightness=0, contrast=0)
    measure_batchnorm(net, images, still, batch_size=8)
    with torch.no_grad():
        features = net[0](images[:, None].float() / 255)
    assert torch.allclose(net[1].running_mean, features.mean((0, 2, 3)), atol=1e-5)
    assert not net.training


def test_runs_that_are_not_the_same_network_are_refused(runs, tmp_path):
    data = runs[0].parent.parent / "data"
    other = tmp_path / "other"
    train(data, other, *FLAGS[2:], "--img-size", "40")
    out = str(tmp_path / "a.pth")
    assert_user_error(ferkit("average", str(runs[0]), str(other / "best_model.pth"),
                             "--output", out), "img_size 40")
    assert_user_error(ferkit("average", str(runs[0]), "--output", out), "two checkpoints")
    assert_user_error(ferkit("average", *map(str, runs), "--output", str(runs[1])),
                      "one of the checkpoints")
    assert_user_error(ferkit("average", *map(str, runs), "--output", str(tmp_path / "a.onnx")),
                      "must end in .pth")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(runs[1].read_bytes()[:5000])
    assert_user_error(ferkit("average", str(runs[0]), str(broken), "--output", out),
                      "not a readable checkpoint")
    assert not Path(out).exists()
