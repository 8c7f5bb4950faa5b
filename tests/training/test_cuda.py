"""The CUDA paths, run for real: `pytest -m requires_cuda` on a machine with a GPU
(`bench/gpu_check.sh`). Elsewhere every test here skips, saying why.

Data: synthetic faces whose class shows (a bright patch whose place is the class), so that a
few epochs from scratch learn them and predictions have clear margins."""

import json

import numpy as np
import pytest
from conftest import ROOT, run, train
from PIL import Image

torch = pytest.importorskip("torch")

from ferkit.commands.train import get_args_parser  # noqa: E402
from ferkit.recognition.backends import open_backend  # noqa: E402
from ferkit.recognition.checkpoint import load_model  # noqa: E402
from ferkit.recognition.presets import eval_batch  # noqa: E402
from ferkit.recognition.recognizer import load  # noqa: E402
from ferkit.training import loop as training  # noqa: E402
from ferkit.training.augment import EvalPreset, TrainPreset  # noqa: E402

pytestmark = [
    pytest.mark.requires_cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU (bench/gpu_check.sh runs these on one)"),
]
CLASSES = ["happy", "neutral", "sad"]
FLAGS = ("--device", "cuda", "--img-size", "48", "--pretrained", "none", "--batch-size", "16")


def learnable_face(c: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(110, 25, (48, 48))
    y, x = 8 + 12 * c + rng.integers(-2, 3), 12 + rng.integers(-3, 4)
    img[y : y + 10, x : x + 24] += 90
    return np.clip(img, 0, 255).astype(np.uint8)


def learnable_data(root, train_per_class: int = 64, test_per_class: int = 100):
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                seed = (0 if split == "train" else 10**6) + 1000 * c + i
                Image.fromarray(learnable_face(c, seed)).save(folder / f"{i}.png")
    return root


def held_out_faces(root) -> tuple[list[np.ndarray], np.ndarray]:
    grays, labels = [], []
    for c, name in enumerate(CLASSES):
        for path in sorted((root / "test" / name).iterdir()):
            grays.append(np.asarray(Image.open(path)))
            labels.append(c)
    return grays, np.array(labels)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return learnable_data(tmp_path_factory.mktemp("cuda") / "data")


@pytest.fixture(scope="module")
def cuda_run(data, tmp_path_factory):
    """Eight epochs on the GPU: bf16 autocast and channels_last, as every CUDA run. (The same
    on the CPU: train loss 1.13 -> 0.11, 98.7% on the held-out faces.)"""
    out = tmp_path_factory.mktemp("cuda_run")
    r = train(data, out, *FLAGS, "--epochs", "8")
    return out, r.stdout


def test_bf16_channels_last_epochs_lower_the_loss_and_write_every_output(cuda_run):
    out, stdout = cuda_run
    assert "; cuda" in stdout  # the banner names the device the run used
    assert all((out / name).is_file() for name in training.OUTPUTS)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == torch.cuda.get_device_name(0)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0], losses
    assert metrics["accuracy"] > 0.9  # the classes are easy: learnt, not just run


def test_the_cuda_step_really_runs_bf16_and_channels_last(data, tmp_path, monkeypatch):
    seen = {}
    build = training.build_model

    def spying_build(*args, **kw):
        model = build(*args, **kw)
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

        def first_conv(module, inputs, output):
            if module.training:
                seen["weight_channels_last"] = module.weight.is_contiguous(
                    memory_format=torch.channels_last)
                seen["output_channels_last"] = output.is_contiguous(
                    memory_format=torch.channels_last)
                seen["device"] = output.device.type

        def last_linear(module, inputs, output):
            if module.training:
                seen["logits_dtype"] = output.dtype

        convs[0].register_forward_hook(first_conv)
        linears[-1].register_forward_hook(last_linear)
        return model

    monkeypatch.setattr(training, "build_model", spying_build)
    args = get_args_parser().parse_args([
        "--data", str(data), "--output-dir", str(tmp_path / "out"), "--epochs", "1",
        "--cache-dir", "none", "--no-progress", *FLAGS])
    training.main(args)
    assert seen == {"weight_channels_last": True, "output_channels_last": True,
                    "device": "cuda", "logits_dtype": torch.bfloat16}


def test_compile_trains_and_its_checkpoint_loads_without_compile(data, tmp_path):
    out = tmp_path / "compiled"
    train(data, out, *FLAGS, "--epochs", "8", "--compile")
    weights = torch.load(out / "best_model.pth", weights_only=True)["model"]
    assert not any(k.startswith("_orig_mod.") for k in weights)  # the module, not its wrapper
    model, _ = load_model(out / "best_model.pth")  # a plain nn.Module on the CPU
    assert not hasattr(model, "_orig_mod")
    grays, labels = held_out_faces(data)
    probs = load(out / "best_model.pth").classify(grays)
    assert (probs.argmax(1) == labels).mean() > 0.8


def test_a_cuda_trained_checkpoint_exports_to_onnx_matching_pytorch_on_the_cpu(cuda_run, data):
    out, _ = cuda_run
    onnx_path = out / "model.onnx"
    r = run("-m", "ferkit", "export", "--model", str(out / "best_model.pth"),
            "--output", str(onnx_path))
    assert r.returncode == 0, r.stderr
    grays, _ = held_out_faces(data)
    batch = eval_batch(grays, 48)
    from_torch = open_backend(out / "best_model.pth").run(batch)
    from_onnx = open_backend(onnx_path).run(batch)
    assert np.abs(from_torch - from_onnx).max() < 1e-4


def test_evaluation_on_cuda_equals_evaluation_on_the_cpu(cuda_run, data):
    out, _ = cuda_run
    grays, labels = held_out_faces(data)
    cpu = load(out / "best_model.pth").classify(grays).argmax(1)  # `ferkit evaluate`'s path
    device = torch.device("cuda")
    model, _ = load_model(out / "best_model.pth")
    model = model.to(device, memory_format=torch.channels_last)
    autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
    x = torch.from_numpy(np.stack(grays)).to(device)
    y = torch.from_numpy(labels).to(device)
    # what training reports, bf16 on the GPU
    _, _, gpu = training.evaluate(model, x, y, EvalPreset(img_size=48), autocast)
    assert len(gpu) == len(cpu) == 300
    assert (gpu == cpu).mean() >= 0.995
    assert (cpu == labels).mean() > 0.9
    on_cuda = load(out / "best_model.pth", device="cuda")  # `ferkit evaluate --device cuda`
    assert on_cuda.backend.device.type == "cuda"
    assert (on_cuda.classify(grays).argmax(1) == cpu).mean() >= 0.995


def test_photo_degradation_runs_on_the_gpu_with_its_generator():
    """--photo-aug on CUDA: the draws come from a CUDA generator, JPEG goes by the host."""
    faces = torch.from_numpy(np.stack([learnable_face(i % 3, i) for i in range(32)]))
    preset = TrainPreset(img_size=64, photo=1.0)
    out = [preset(faces.cuda(), torch.Generator(device="cuda").manual_seed(0)) for _ in range(2)]
    assert out[0].device.type == "cuda" and out[0].shape == (32, 1, 64, 64)
    assert torch.equal(out[0], out[1])
    assert out[0].min() >= 0 and out[0].max() <= 1
    plain = EvalPreset(img_size=64)(faces.cuda())
    assert ((out[0] - plain).abs().amax(dim=(1, 2, 3)) > 0.01).all()


def test_ferkit_evaluate_uses_the_gpu_when_present_and_agrees_with_the_cpu(cuda_run, data,
                                                                           tmp_path):
    out, _ = cuda_run
    metrics = {}
    for device in ("auto", "cpu"):
        r = run("-m", "ferkit", "evaluate", "--model", str(out / "best_model.pth"),
                "--data", str(data / "test"), "--device", device,
                "--output-dir", str(tmp_path / device), "--json", str(tmp_path / f"{device}.json"))
        assert r.returncode == 0, r.stderr
        metrics[device] = json.loads((tmp_path / f"{device}.json").read_text())
    assert metrics["auto"]["device"] == "cuda" and metrics["cpu"]["device"] == "cpu"
    assert abs(metrics["auto"]["accuracy"] - metrics["cpu"]["accuracy"]) <= 0.005


def test_torchrun_with_nccl_trains_and_writes_one_checkpoint(data, tmp_path):
    out = tmp_path / "torchrun"
    r = run("-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port", "29533",
            str(ROOT / "train.py"), "--data", str(data), "--output-dir", str(out),
            "--epochs", "1", "--cache-dir", "none", "--no-progress", *FLAGS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cuda:0 x1 (nccl)" in r.stdout
    assert r.stdout.count("epoch   1/1") == 1
    assert sorted(p.name for p in out.glob("*.pth")) == ["best_model.pth", "last_model.pth"]
    assert torch.load(out / "best_model.pth", weights_only=True)["model"]


def test_gpu_memory_stays_bounded_over_epochs(tmp_path, monkeypatch):
    # 2,100 faces (4.8 MB decoded): a copy of the dataset kept per epoch would show at once
    data = learnable_data(tmp_path / "data", train_per_class=700, test_per_class=20)
    allocated = []
    evaluate = training.evaluate

    def measuring_evaluate(*args, **kw):
        result = evaluate(*args, **kw)
        torch.cuda.synchronize()
        allocated.append(torch.cuda.memory_allocated())
        return result

    monkeypatch.setattr(training, "evaluate", measuring_evaluate)
    args = get_args_parser().parse_args([
        "--data", str(data), "--output-dir", str(tmp_path / "out"), "--epochs", "6",
        "--cache-dir", "none", "--no-progress", "--ema", "0.9", *FLAGS])
    training.main(args)
    per_epoch = allocated[:6]  # the last call is the final report's, with the best model
    growth = max(per_epoch[1:]) - per_epoch[0]
    assert growth < 1_000_000, [f"{a / 1e6:.1f} MB" for a in allocated]
