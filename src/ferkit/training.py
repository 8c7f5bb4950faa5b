"""Training: `python train.py` / `ferkit train` / `torchrun -m ferkit train`.

    python train.py --data data                    # the brief: MobileNetV2, 224px, 30 epochs
    python train.py --data data --recipe fast      # large batch, AdamW, warm-up + cosine
    torchrun --nproc_per_node 4 -m ferkit train --data data --recipe fast

The loop reads top to bottom: setup -> data (decoded once, on the device) -> model ->
for each epoch: train_one_epoch, evaluate, checkpoint -> final report and figures.
DistributedDataParallel switches on when torchrun sets RANK; only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import __version__
from .augment import EvalPreset, TrainPreset, mix
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .data import (
    Split,
    check_same_classes,
    dataset_splits,
    default_cache_dir,
    list_classes,
    load_split,
    report_skipped,
)
from .errors import FerkitError
from .evaluation import compute_metrics, write_reports
from .models import ARCHS, IMAGENET_MEAN, IMAGENET_STD, build_model, set_trainable
from .plots import plot_history

# Recipes fill every option the user did not set. "brief" is the original README's recipe.
RECIPES = {
    "brief": dict(
        img_size=224, epochs=30, batch_size=32, lr=1e-3, optimizer="adam", weight_decay=0.0,
        scheduler="plateau", warmup_epochs=0, label_smoothing=0.0, mixup=0.0, cutmix=0.0,
        erasing=0.0, translate=0.0, min_scale=1.0, max_scale=1.0, rotation=10.0, ema=0.0,
    ),
    # For a GPU; what it has reached so far is in the README.
    "fast": dict(
        img_size=112, epochs=15, batch_size=256, lr=2e-3, optimizer="adamw", weight_decay=0.05,
        scheduler="cosine", warmup_epochs=1, label_smoothing=0.1, mixup=0.0, cutmix=0.0,
        erasing=0.25, translate=0.1, min_scale=0.85, max_scale=1.15, rotation=15.0,
        ema=0.0,
    ),
}


OUTPUTS = (
    "best_model.pth", "last_model.pth", "training_history.png", "confusion_matrix.png",
    "classification_report.txt", "metrics.json",
)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train an expression classifier on data/{train,test}/<class>/*.jpg.",
        add_help=add_help,
    )
    brief = RECIPES["brief"]
    # fmt: off
    p.add_argument("--data", default="data", help="dataset folder with train/ and test/ (or val/)")
    p.add_argument("--output-dir", default=".", help="where best_model.pth, plots and reports go")
    p.add_argument("--recipe", default="brief", choices=sorted(RECIPES),
                   help="defaults for every option below that you do not set")
    p.add_argument("--arch", default="mobilenet_v2", choices=sorted(ARCHS))
    p.add_argument("--pretrained", default="imagenet",
                   help="imagenet (torchvision download), none, or PATH to a local state_dict")
    p.add_argument("--freeze-backbone", action="store_true", help="train the head only")
    p.add_argument("--unfreeze-last", type=int, default=0, metavar="N",
                   help="with the backbone frozen, still train its last N blocks")
    p.add_argument("--img-size", type=int, help=f"input side in pixels ({brief['img_size']})")
    p.add_argument("--epochs", type=int, help=f"({brief['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"per process ({brief['batch_size']})")
    p.add_argument("--lr", type=float, help=f"learning rate ({brief['lr']})")
    p.add_argument("--optimizer", choices=["adam", "adamw"], help="(adam)")
    p.add_argument("--weight-decay", type=float, help="(0)")
    p.add_argument("--scheduler", choices=["plateau", "cosine"],
                   help="plateau: ReduceLROnPlateau on val loss; cosine: warm-up + cosine")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up with cosine (0)")
    p.add_argument("--label-smoothing", type=float, help="(0)")
    p.add_argument("--mixup", type=float, help="MixUp alpha, 0 = off (0)")
    p.add_argument("--cutmix", type=float, help="CutMix alpha, 0 = off (0)")
    p.add_argument("--erasing", type=float, help="random erasing probability (0)")
    p.add_argument("--translate", type=float, help="max shift, fraction of the side (0)")
    p.add_argument("--min-scale", type=float, help="random zoom: smallest face scale (1 = off)")
    p.add_argument("--max-scale", type=float, help="random zoom: largest face scale (1 = off)")
    p.add_argument("--rotation", type=float, help="max rotation in degrees (10)")
    p.add_argument("--ema", type=float, help="weight EMA decay per step, e.g. 0.999; 0 = off (0)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--cache-dir", default=str(default_cache_dir()),
                   help="decoded-dataset cache; 'none' to decode every run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    # fmt: on
    return p


def resolve_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """Fill every option left unset from the chosen recipe."""
    for key, value in RECIPES[args.recipe].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.img_size < 32:
        raise FerkitError(f"--img-size {args.img_size} is too small; use 32 or more")
    if args.epochs < 1 or args.batch_size < 2:
        raise FerkitError("--epochs must be >= 1 and --batch-size >= 2")
    return args


# ---------------------------------------------------------------------------------------------
# setup


def setup_device(requested: str) -> tuple[torch.device, int, int]:
    """(device, rank, world_size); DDP is on exactly when torchrun set RANK."""
    if "RANK" in os.environ:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        use_cuda = torch.cuda.is_available() and requested != "cpu"
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return torch.device(f"cuda:{local}" if use_cuda else "cpu"), rank, world
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu"), 0, 1
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise FerkitError(f"--device {requested}: CUDA is not available here; use --device cpu")
    try:
        return torch.device(requested), 0, 1
    except RuntimeError as e:
        raise FerkitError(f"--device {requested!r} is not a device ({e})") from e


def dataset_classes(args) -> tuple[Path, Path, list[str]]:
    """Check the layout before any slow work: (train dir, validation dir, classes)."""
    train_dir, val_dir = dataset_splits(args.data)
    classes = list_classes(train_dir)
    check_same_classes(classes, val_dir, f"{train_dir}")
    return train_dir, val_dir, classes


def load_data(args, train_dir: Path, val_dir: Path, classes, master: bool) -> tuple[Split, Split]:
    cache = None if args.cache_dir == "none" else args.cache_dir
    progress = master and not args.no_progress
    train = load_split(train_dir, classes, args.img_size, cache, progress)
    val = load_split(val_dir, classes, args.img_size, cache, progress)
    if master:
        report_skipped(train)
        report_skipped(val)
    return train, val


def make_optimizer(args, model: nn.Module, steps_per_epoch: int):
    params = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    if args.scheduler == "plateau":
        # Stepped once per epoch on the validation loss (the brief's ReduceLROnPlateau).
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3)
        return opt, sched, None
    total = max(args.epochs * steps_per_epoch, 1)
    warm = min(int(args.warmup_epochs * steps_per_epoch), total - 1)

    def warmup_cosine(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return opt, None, torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine)


# ---------------------------------------------------------------------------------------------
# the loop


def train_one_epoch(model, opt, step_sched, images, labels, args, ctx) -> tuple[float, float]:
    """One pass over this rank's shard; returns (mean loss, accuracy), reduced across ranks."""
    model.train()
    n = len(labels)
    # Same permutation on every rank (seeded by epoch), then each rank takes its shard.
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed + ctx["epoch"]))
    per_rank = n // ctx["world"]
    perm = perm[ctx["rank"] * per_rank : (ctx["rank"] + 1) * per_rank].to(ctx["device"])
    steps = per_rank // args.batch_size + (per_rank % args.batch_size > 1)
    loss_sum = torch.zeros((), device=ctx["device"])
    correct = torch.zeros((), device=ctx["device"])
    seen = 0
    bar = _progress(range(steps), ctx, f"epoch {ctx['epoch']}/{args.epochs}")
    for step in bar:
        idx = perm[step * args.batch_size : (step + 1) * args.batch_size]
        x = ctx["train_aug"](images[idx], ctx["gen"])
        y = labels[idx]
        # scatter, not F.one_hot: one_hot checks its input's range, a host sync every step
        targets = torch.zeros(len(y), ctx["num_classes"], device=y.device).scatter_(
            1, y[:, None], 1.0)
        x, targets = mix(x, targets, args.mixup, args.cutmix, ctx["gen"])
        x = x.contiguous(memory_format=ctx["memory_format"])
        with ctx["autocast"]():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), targets, label_smoothing=args.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step_sched is not None:
            step_sched.step()
        if ctx["ema"] is not None:
            ctx["ema"].update_parameters(ctx["raw_model"])
        # Accumulate on the device: no host sync per step.
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if ctx["master"] and step % 20 == 0 and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
    stats = torch.stack([loss_sum, correct, torch.tensor(float(seen), device=ctx["device"])])
    if ctx["world"] > 1:
        dist.all_reduce(stats)
        average_buffers(model)
    return (stats[0] / stats[2]).item(), (stats[1] / stats[2]).item()


@torch.no_grad()
def average_buffers(model: nn.Module) -> None:
    """Average BatchNorm statistics across ranks: DDP syncs gradients, not running stats,
    and every rank must evaluate and save the same model."""
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(dist.get_world_size())


@torch.no_grad()
def evaluate(model, images, labels, ctx, batch_size: int = 256):
    """(mean loss, accuracy, predictions) over a whole split."""
    model.eval()
    loss_sum = torch.zeros((), device=ctx["device"])
    preds = []
    for start in range(0, len(labels), batch_size):
        x = ctx["eval_aug"](images[start : start + batch_size])
        x = x.contiguous(memory_format=ctx["memory_format"])
        y = labels[start : start + batch_size]
        with ctx["autocast"]():
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    acc = (pred == labels).float().mean().item()
    return loss_sum.item() / len(labels), acc, pred.cpu().numpy()


def _progress(iterable, ctx, desc):
    if not ctx["master"] or ctx["no_progress"]:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


def main(args: argparse.Namespace) -> nn.Module:
    """Train as `args` say; returns the trained (unwrapped) model."""
    args = resolve_recipe(args)
    device, rank, world = setup_device(args.device)
    master = rank == 0
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    if master:
        out.mkdir(parents=True, exist_ok=True)

    train_dir, val_dir, classes = dataset_classes(args)
    model = build_model(args.arch, len(classes), args.pretrained)
    set_trainable(model, args.freeze_backbone, args.unfreeze_last)
    train, val = load_data(args, train_dir, val_dir, classes, master)
    # The whole decoded dataset lives on the training device (FER2013 train: 66 MB).
    train_x, train_y, val_x, val_y = (
        torch.from_numpy(a).to(device, non_blocking=True)
        for a in (train.images, train.labels, val.images, val.labels)
    )

    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    raw_model = model
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if cuda else None
        )
    if args.compile:
        model = torch.compile(model)

    # Weight EMA: evaluated and saved instead of the raw weights when on.
    ema = None
    if args.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(raw_model, multi_avg_fn=get_ema_multi_avg_fn(args.ema),
                            use_buffers=True)
    eval_model = ema.module if ema is not None else raw_model
    steps = (len(train_y) // world) // args.batch_size + 1
    opt, plateau, step_sched = make_optimizer(args, raw_model, steps)
    gen = torch.Generator(device=device).manual_seed(args.seed + rank)
    ctx = dict(
        device=device, rank=rank, world=world, master=master, gen=gen, epoch=0,
        raw_model=raw_model, ema=ema,
        num_classes=len(classes), memory_format=memory_format, no_progress=args.no_progress,
        # bf16 autocast on CUDA; on the CPU a no-op rather than a second code path.
        autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda),
        train_aug=TrainPreset(
            img_size=args.img_size, rotation=args.rotation, erasing=args.erasing,
            translate=args.translate, scale=(args.min_scale, args.max_scale),
        ),
        eval_aug=EvalPreset(img_size=args.img_size),
    )
    config = dict(
        arch=args.arch, classes=classes, img_size=args.img_size, channels=1,
        input="grey float32 [N,1,H,W] in [0,1]; normalisation inside the model",
        mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), tta=False,
    )
    if master:
        print(
            f"ferkit {__version__}: training {args.arch} on {len(train_y)} images "
            f"({len(classes)} classes: {', '.join(classes)}), validating on {len(val_y)} "
            f"from {val.root}; {device}" + (f" x{world}" if world > 1 else ""),
            flush=True,
        )

    history, best_acc, best_epoch = [], -1.0, 0
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        ctx["epoch"] = epoch
        t0 = time.time()
        train_loss, train_acc = train_one_epoch(model, opt, step_sched, train_x, train_y, args, ctx)
        train_seconds = time.time() - t0  # .item() in train_one_epoch has synchronised
        val_loss, val_acc, _ = evaluate(eval_model, val_x, val_y, ctx)
        if plateau is not None:
            plateau.step(val_loss)
        history.append(dict(
            epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, lr=opt.param_groups[0]["lr"], seconds=time.time() - t0,
            train_seconds=train_seconds, train_img_per_s=len(train_y) / train_seconds,
            elapsed=time.time() - start,
        ))
        if not master:
            continue
        print(
            f"epoch {epoch:3d}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:.2%}  "
            f"val loss {val_loss:.4f} acc {val_acc:.2%}  "
            f"({time.time() - t0:.1f}s, train {len(train_y) / train_seconds:.0f} img/s)",
            flush=True,
        )
        extra = dict(train_args=vars(args), epoch=epoch, history=history,
                     metrics=dict(val_acc=val_acc, val_loss=val_loss))
        save_checkpoint(out / "last_model.pth", eval_model, config, **extra)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            save_checkpoint(out / "best_model.pth", eval_model, config, **extra)
    train_time = time.time() - start

    if master:
        final_report(out, eval_model, config, val_x, val_y, ctx, history, dict(
            training_time_s=train_time, best_epoch=best_epoch, epochs=args.epochs,
            device=torch.cuda.get_device_name(device) if cuda else "cpu", world_size=world,
            train_samples=len(train_y), val_samples=len(val_y), val_dir=str(val.root),
            skipped_files=len(train.skipped) + len(val.skipped), recipe=args.recipe,
        ))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return eval_model


def final_report(out: Path, model, config, val_x, val_y, ctx, history, info: dict) -> None:
    """Reload the best weights, evaluate them and write the report, matrix and curves."""
    best = model_from_checkpoint(load_checkpoint(out / "best_model.pth"), out / "best_model.pth")
    best = best.to(ctx["device"], memory_format=ctx["memory_format"])
    _, _, pred = evaluate(best, val_x, val_y, ctx)
    metrics = compute_metrics(val_y.cpu().numpy(), pred, config["classes"])
    metrics.update(info, history=history)
    report = write_reports(out, metrics, f"{config['arch']} on {Path(info['val_dir']).name}")
    plot_history(history, out / "training_history.png")
    print(
        f"\nbest epoch {info['best_epoch']}: accuracy {metrics['accuracy']:.2%}, "
        f"macro-F1 {metrics['macro_f1']:.4f}; trained in {info['training_time_s']:.1f}s\n"
    )
    print(report)
    print(f"wrote {', '.join(str(out / f) for f in OUTPUTS)}")


def cli(argv: list[str] | None = None) -> None:
    main(get_args_parser().parse_args(argv))


if __name__ == "__main__":
    cli(sys.argv[1:])
