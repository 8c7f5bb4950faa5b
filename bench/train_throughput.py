"""Training throughput, one JSON line per measurement.

    python bench/train_throughput.py                 # GPU: 224 and the fast preset's size
    python bench/train_throughput.py --sizes 64 --epochs 1 --subset 2000    # a CPU-sized run

(a) step:      the train step alone on synthetic tensors already on the device
               (channels_last, as `ferkit train`; bf16 autocast on CUDA), the ceiling;
(b) ferkit:    `ferkit train`'s real end-to-end throughput on FER2013 (augmentation on),
               from the last epoch's training time;
(c) baseline:  the original pipeline for comparison: torchvision ImageFolder, PIL transforms
               per image, a DataLoader, fp32 (--baseline).
"""

import argparse
import tempfile
import time
from pathlib import Path

from _common import FER, WEIGHTS, device_name, emit, require


def step_alone(size: int, batch: int, steps: int, device: str) -> float:
    import torch
    import torch.nn.functional as F

    from ferkit.recognition.networks import build_model

    cuda = device.startswith("cuda")
    model = build_model("mobilenet_v2", 7, "none").to(device, memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, size, size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,), device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def subset(root: Path, per_class: int | None, tmp: Path) -> Path:
    """FER2013 itself, or a symlinked subset with `per_class` train images per class."""
    if not per_class:
        return root
    for split, n in (("train", per_class), ("test", max(per_class // 8, 2))):
        for cls in sorted((root / split).iterdir()):
            (tmp / split / cls.name).mkdir(parents=True)
            for f in sorted(cls.iterdir())[:n]:
                (tmp / split / cls.name / f.name).symlink_to(f)
    return tmp


def ferkit_train(data: Path, size: int, recipe: str, epochs: int, batch: int | None,
                 out: Path) -> dict:
    from ferkit.commands.train import get_args_parser
    from ferkit.training.loop import main

    argv = ["--data", str(data), "--recipe", recipe, "--img-size", str(size), "--epochs",
            str(epochs), "--output-dir", str(out), "--pretrained", str(WEIGHTS), "--no-progress"]
    if batch:
        argv += ["--batch-size", str(batch)]
    main(get_args_parser().parse_args(argv))
    import json

    return json.loads((out / "metrics.json").read_text())["history"][-1]


def decode_cache(data: Path, tmp: Path) -> dict:
    """Seconds to load train/ and test/ cold (decoding every file) and warm (from the cache)."""
    from ferkit.io.datasets import load_split

    times = {}
    for label in ("cold_s", "warm_s"):
        t0 = time.perf_counter()
        for split in ("train", "test"):
            load_split(data / split, size=224, cache_dir=tmp / "cache", progress=False)
        times[label] = round(time.perf_counter() - t0, 2)
    return times


def baseline(data: Path, size: int, batch: int, device: str, workers: int) -> float:
    """The original recipe's data path, one epoch: images/s."""
    import torch
    import torch.nn.functional as F
    from torchvision import datasets, transforms

    from ferkit.recognition.networks import build_model

    tf = transforms.Compose([
        transforms.Grayscale(1), transforms.Resize((size, size)),
        transforms.RandomHorizontalFlip(), transforms.RandomRotation(10),
        transforms.ColorJitter(0.2, 0.2), transforms.ToTensor(),
    ])
    ds = datasets.ImageFolder(str(data / "train"), transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True,
                                         num_workers=workers, pin_memory=device != "cpu")
    model = build_model("mobilenet_v2", len(ds.classes), "none").to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(ds) / (time.perf_counter() - t0)


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", help="input sizes (default: 224 and fast's)")
    p.add_argument("--batch", type=int, default=256, help="batch for the step-alone and fast")
    p.add_argument("--epochs", type=int, default=2, help="ferkit train epochs (last is timed)")
    p.add_argument("--subset", type=int, help="train images per class (default: all)")
    p.add_argument("--baseline", action="store_true", help="also time the original pipeline")
    p.add_argument("--workers", type=int, default=8, help="baseline DataLoader workers")
    p.add_argument("--skip-step", action="store_true")
    args = p.parse_args()
    require(FER)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    from ferkit.training.loop import RECIPES

    sizes = args.sizes or [224, RECIPES["fast"]["img_size"]]
    name = device_name()
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(FER, args.subset, Path(tmp) / "data")
        # always on the whole of FER2013: the start-up a real run sees
        emit(kind="decode_cache", data=str(FER), **decode_cache(FER, Path(tmp)), device=name)
        for size in sizes:
            if not args.skip_step:
                ips = step_alone(size, args.batch, 30 if device == "cuda" else 3, device)
                emit(kind="step_alone", img_size=size, batch=args.batch, img_per_s=round(ips),
                     device=name)
            last = ferkit_train(data, size, "fast", args.epochs, args.batch,
                                Path(tmp) / f"run{size}")
            emit(kind="ferkit_train", recipe="fast", img_size=size, batch=args.batch,
                 img_per_s=round(last["train_img_per_s"]), epoch_s=round(last["seconds"], 2),
                 device=name)
            if args.baseline:
                ips = baseline(data, size, 32, device, args.workers)
                emit(kind="baseline_pil_dataloader", img_size=size, batch=32,
                     img_per_s=round(ips), workers=args.workers, device=name)
                last = ferkit_train(data, size, "brief", 1, 32, Path(tmp) / f"brief{size}")
                emit(kind="ferkit_train", recipe="brief", img_size=size, batch=32,
                     img_per_s=round(last["train_img_per_s"]), device=name)


if __name__ == "__main__":
    main()
