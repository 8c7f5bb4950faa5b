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
import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..errors import FerkitError
from ..evaluation.metrics import compute_metrics, write_reports
from ..io.datasets import (
    Split,
    check_same_classes,
    dataset_splits,
    list_classes,
    list_files,
    load_samples,
    load_split,
    report_skipped,
    stratified_split,
    write_file_list,
)
from ..io.fer2013_csv import is_csv, load_csv_split
from ..recognition.backends.torch import torch_device
from ..recognition.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from ..recognition.networks import IMAGENET_MEAN, IMAGENET_STD, build_model, set_trainable
from . import resume
from .augment import EvalPreset, TrainPreset, mix

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


# Defaults of the options that no recipe sets; None in the parser so that --resume can tell a
# flag the user gave from one left out.
DEFAULTS = dict(
    data="data", output_dir=".", recipe="brief", arch="mobilenet_v2", pretrained="imagenet",
    seed=42, freeze_backbone=False, soft_labels=False, ferplus_classes=7, val_split=0.0,
    class_weights="none", sampler="shuffle",
)

OUTPUTS = (
    "best_model.pth", "last_model.pth", "training_history.png", "confusion_matrix.png",
    "classification_report.txt", "metrics.json",
)


# Checked before any slow work, so that a typo is one line, not a traceback minutes later.
OPTION_RANGES = [
    ("val_split", lambda v: 0 <= v < 1, "use a fraction between 0 and 1"),
    ("lr", lambda v: v > 0, "the learning rate must be positive"),
    ("weight_decay", lambda v: v >= 0, "use 0 or more"),
    ("warmup_epochs", lambda v: v >= 0, "use 0 or more"),
    ("label_smoothing", lambda v: 0 <= v < 1, "use a value in [0, 1)"),
    ("mixup", lambda v: v >= 0, "an alpha of 0 (off) or more"),
    ("cutmix", lambda v: v >= 0, "an alpha of 0 (off) or more"),
    ("erasing", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("translate", lambda v: 0 <= v < 1, "a fraction of the side in [0, 1)"),
    ("min_scale", lambda v: v > 0, "the scale must be positive"),
    ("max_scale", lambda v: v > 0, "the scale must be positive"),
    ("rotation", lambda v: 0 <= v <= 180, "degrees in [0, 180]"),
    ("ema", lambda v: 0 <= v < 1, "a decay in [0, 1), e.g. 0.999; 0 = off"),
    ("unfreeze_last", lambda v: v >= 0, "use 0 or more"),
    ("save_every", lambda v: v >= 0, "use 0 (each epoch) or more steps"),
]


def resolve_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """Fill every option left unset from the chosen recipe, then from DEFAULTS."""
    if args.recipe is None:
        args.recipe = DEFAULTS["recipe"]
    for key, value in {**RECIPES[args.recipe], **DEFAULTS}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.img_size < 32:
        raise FerkitError(f"--img-size {args.img_size} is too small; use 32 or more")
    if args.epochs < 1 or args.batch_size < 2:
        raise FerkitError("--epochs must be >= 1 and --batch-size >= 2")
    for option, ok, expected in OPTION_RANGES:
        value = getattr(args, option)
        if not ok(value):
            flag = "--" + option.replace("_", "-")
            raise FerkitError(f"{flag} {value}: {expected}")
    # a resumed run takes its weights from the checkpoint, not from --pretrained
    if (not args.resume and args.pretrained not in ("imagenet", "none")
            and not Path(args.pretrained).is_file()):
        raise FerkitError(f"--pretrained: no such weights file: {args.pretrained}")
    if args.max_scale < args.min_scale:
        raise FerkitError(f"--max-scale {args.max_scale} is below --min-scale {args.min_scale}")
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
    return torch_device(requested), 0, 1


def load_data(args, out: Path, master: bool) -> tuple[Split, Split]:
    """The training and validation splits: image folders (val/ or test/, or --val-split of
    train/), or FER2013's CSV (Training / PublicTest, FER+ votes with --labels)."""
    cache = None if args.cache_dir == "none" else args.cache_dir
    progress = master and not args.no_progress
    if is_csv(args.data):
        if args.val_split:
            raise FerkitError("--val-split is for image folders; FER2013's CSV has PublicTest")
        kw = dict(labels=args.labels, soft=args.soft_labels, ferplus_classes=args.ferplus_classes,
                  cache_dir=cache)
        train, val = (load_csv_split(args.data, usage, **kw) for usage in ("Training",
                                                                            "PublicTest"))
    else:
        if args.labels or args.soft_labels:
            raise FerkitError("--labels/--soft-labels (FER+ votes) go with --data fer2013.csv")
        # Check the layout before any slow work.
        train_dir, val_dir = dataset_splits(args.data, need_val=not args.val_split)
        classes = list_classes(train_dir)
        if args.val_split:
            train_s, val_s = stratified_split(list_files(train_dir, classes), args.val_split,
                                              args.seed)
            if master:
                write_file_list(out / "val_split.txt", train_dir, val_s,
                                f"ferkit validation split: {args.val_split:g} of each class, "
                                f"seed {args.seed}; ferkit evaluate --data {train_dir} "
                                f"--files {out / 'val_split.txt'}")
            train, val = (load_samples(train_dir, s, classes, args.img_size, cache, progress)
                          for s in (train_s, val_s))
        else:
            check_same_classes(classes, val_dir, f"{train_dir}")
            train, val = (load_split(d, classes, args.img_size, cache, progress)
                          for d in (train_dir, val_dir))
    if master:
        report_skipped(train)
        report_skipped(val)
    return train, val


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse class frequency, scaled so that a balanced dataset gets weight 1 per class."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return (len(labels) / (num_classes * np.maximum(counts, 1))).astype(np.float32)


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


class Interrupted(Exception):
    """Ctrl-C during training, after the resume checkpoint has been written."""


def epoch_order(n: int, args, ctx) -> torch.Tensor:
    """This rank's sample indices for the epoch: the same draw on every rank, seeded by the
    epoch (a resumed run draws it again), then each rank takes its shard."""
    gen = torch.Generator().manual_seed(args.seed + ctx["epoch"])
    if ctx["sample_weights"] is not None:  # --sampler balanced: classes drawn equally often
        order = torch.multinomial(ctx["sample_weights"], n, replacement=True, generator=gen)
    else:
        order = torch.randperm(n, generator=gen)
    per_rank = n // ctx["world"]
    return order[ctx["rank"] * per_rank : (ctx["rank"] + 1) * per_rank].to(ctx["device"])


def train_one_epoch(model, opt, step_sched, images, labels, args, ctx,
                    start_step: int = 0, sums=(0.0, 0.0, 0)) -> tuple[float, float, int]:
    """One pass over this rank's shard, from `start_step` on (a resumed epoch, with the
    `sums` of loss, correct and seen so far); returns (mean loss, accuracy) reduced across
    ranks, and how many images this call trained on."""
    model.train()
    order = epoch_order(len(labels), args, ctx)
    steps = len(order) // args.batch_size + (len(order) % args.batch_size > 1)
    loss_sum = torch.tensor(float(sums[0]), device=ctx["device"])
    correct = torch.tensor(float(sums[1]), device=ctx["device"])
    seen = int(sums[2])
    bar = _progress(range(start_step, steps), ctx, f"epoch {ctx['epoch']}/{args.epochs}")
    for step in bar:
        idx = order[step * args.batch_size : (step + 1) * args.batch_size]
        x = ctx["train_aug"](images[idx], ctx["gen"])
        y = labels[idx]
        if ctx["soft"] is not None:  # FER+ vote distributions
            targets = ctx["soft"][idx]
        else:  # scatter, not F.one_hot: one_hot checks its input's range, a host sync
            targets = torch.zeros(len(y), ctx["num_classes"], device=y.device).scatter_(
                1, y[:, None], 1.0)
        x, targets = mix(x, targets, args.mixup, args.cutmix, ctx["gen"])
        x = x.contiguous(memory_format=torch.channels_last)
        with ctx["autocast"]():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), targets, weight=ctx["class_weights"],
                                   label_smoothing=args.label_smoothing)
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
        every = args.save_every and (step + 1) % args.save_every == 0 and step + 1 < steps
        if ctx["stop"] or every:
            ctx["save_progress"](step + 1, [loss_sum.item(), correct.item(), seen])
            if ctx["stop"]:
                raise Interrupted(f"epoch {ctx['epoch']}, step {step + 1} of {steps}")
    stats = torch.stack([loss_sum, correct, torch.tensor(float(seen), device=ctx["device"])])
    if ctx["world"] > 1:
        dist.all_reduce(stats)
        average_buffers(model)
    return (stats[0] / stats[2]).item(), (stats[1] / stats[2]).item(), seen - int(sums[2])


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
        x = x.contiguous(memory_format=torch.channels_last)
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

    return tqdm(iterable, desc=desc, unit="batch", leave=False, dynamic_ncols=True,
                disable=not sys.stderr.isatty())


def check_new_run(out: Path) -> None:
    """A new run never replaces another's models unasked (hours of training, gone at the end
    of the first epoch)."""
    found = [name for name in ("best_model.pth", "last_model.pth") if (out / name).exists()]
    if found:
        raise FerkitError(
            f"{out} already holds a run ({', '.join(found)}): `--resume {out}` continues it, "
            "--overwrite starts a new one there, or choose another --output-dir"
        )


def main(args: argparse.Namespace) -> nn.Module:
    """Train as `args` say; returns the trained (unwrapped) model."""
    resumed = None
    if args.resume:
        if args.overwrite:
            raise FerkitError("--resume continues a run and --overwrite starts a new one: "
                              "choose one")
        resume_path, resumed = resume.load(args.resume)
        args = resume.merge_args(args, resume_path, resumed)
    args = resolve_recipe(args)
    if not resumed and not args.overwrite:
        check_new_run(Path(args.output_dir))
    device, rank, world = setup_device(args.device)
    master = rank == 0
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    if master:
        out.mkdir(parents=True, exist_ok=True)

    train, val = load_data(args, out, master)
    classes = train.classes
    if resumed:
        resume.check_data(resume_path, resumed, classes, len(train))
    model = build_model(args.arch, len(classes), "none" if resumed else args.pretrained)
    set_trainable(model, args.freeze_backbone, args.unfreeze_last)
    # The whole decoded dataset lives on the training device (FER2013 train: 66 MB).
    train_x, train_y, val_x, val_y = (
        torch.from_numpy(a).to(device, non_blocking=True)
        for a in (train.images, train.labels, val.images, val.labels)
    )

    cuda = device.type == "cuda"
    # channels_last on every device (here, for each batch and for the best model's report):
    # CUDA's tensor cores want it, and on the CPU oneDNN's convolutions in that layout make a
    # MobileNetV2 epoch ~1.6x faster.
    model = model.to(device, memory_format=torch.channels_last)
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
    weights = class_weights(train.labels, len(classes))
    ctx = dict(
        device=device, rank=rank, world=world, master=master, gen=gen, epoch=0,
        raw_model=raw_model, ema=ema, stop=False,
        num_classes=len(classes), no_progress=args.no_progress,
        # bf16 autocast on CUDA; on the CPU a no-op rather than a second code path.
        autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda),
        train_aug=TrainPreset(
            img_size=args.img_size, rotation=args.rotation, erasing=args.erasing,
            translate=args.translate, scale=(args.min_scale, args.max_scale),
        ),
        eval_aug=EvalPreset(img_size=args.img_size),
        soft=torch.from_numpy(train.soft).to(device) if train.soft is not None else None,
        class_weights=(torch.from_numpy(weights).to(device)
                       if args.class_weights == "balanced" else None),
        sample_weights=(torch.from_numpy(weights[train.labels]).double()
                        if args.sampler == "balanced" else None),
    )
    config = dict(
        arch=args.arch, classes=classes, img_size=args.img_size, channels=1,
        input="grey float32 [N,1,H,W] in [0,1]; normalisation inside the model",
        mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), tta=False,
    )
    # Where the run stands: `epoch` epochs done (+ `step` steps of the next), best so far.
    run = dict(epoch=0, step=0, sums=[0.0, 0.0, 0], best_acc=-1.0, best_epoch=0, elapsed=0.0)
    history = []
    if resumed:
        r = resume.restore(resumed, raw_model=raw_model, ema=ema, opt=opt,
                           schedulers=[plateau, step_sched], gen=gen)
        run = {k: r[k] for k in run}
        history = list(resumed["history"])
        if world > 1:  # each rank's augmentation stream was its own; start fresh ones
            gen.manual_seed(args.seed + rank + 7919 * run["epoch"])
    if master:
        print(
            f"ferkit {__version__}: training {args.arch} on {len(train_y)} images "
            f"({len(classes)} classes: {', '.join(classes)}), validating on {len(val_y)} "
            f"from {val.root}; {device}"
            + (f" x{world} ({dist.get_backend()})" if dist.is_initialized() else "")
            + (f"; resumed after epoch {run['epoch']}" + (f" step {run['step']}"
               if run["step"] else "") if resumed else ""),
            flush=True,
        )

    def save_last(epoch_done: int, step: int, sums, metrics) -> None:
        """last_model.pth: the weights, and all it takes to resume from here."""
        state = resume.state(
            epoch=epoch_done, step=step, sums=sums, best_acc=run["best_acc"],
            best_epoch=run["best_epoch"], elapsed=run["elapsed"] + time.time() - start,
            data=str(Path(args.data).resolve()), train_samples=len(train_y),
            raw_model=raw_model, ema=ema, opt=opt, schedulers=[plateau, step_sched], gen=gen)
        save_checkpoint(out / "last_model.pth", eval_model, config, train_args=train_args,
                        epoch=epoch_done, history=history, metrics=metrics, resume=state)

    train_args = {k: v for k, v in vars(args).items() if k != "resume"}
    ctx["out"] = out
    ctx["save_progress"] = lambda step, sums: master and save_last(
        ctx["epoch"] - 1, step, sums,
        {k: history[-1][k] for k in ("val_acc", "val_loss")} if history else {})
    start = time.time()
    with _graceful_interrupt(ctx, enabled=world == 1):
        for epoch in range(run["epoch"] + 1, args.epochs + 1):
            ctx["epoch"] = epoch
            t0 = time.time()
            first = run["step"] if epoch == run["epoch"] + 1 else 0
            train_loss, train_acc, trained = train_one_epoch(
                model, opt, step_sched, train_x, train_y, args, ctx, first, run["sums"])
            train_seconds = time.time() - t0  # .item() in train_one_epoch has synchronised
            val_loss, val_acc, _ = evaluate(eval_model, val_x, val_y, ctx)
            if plateau is not None:
                plateau.step(val_loss)
            metrics = dict(val_acc=val_acc, val_loss=val_loss)
            history.append(dict(
                epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                val_acc=val_acc, lr=opt.param_groups[0]["lr"], seconds=time.time() - t0,
                train_seconds=train_seconds, train_img_per_s=trained * world / train_seconds,
                elapsed=run["elapsed"] + time.time() - start,
            ))
            if not master:
                continue
            print(
                f"epoch {epoch:3d}/{args.epochs}  train loss {train_loss:.4f} acc "
                f"{train_acc:.2%}  val loss {val_loss:.4f} acc {val_acc:.2%}  "
                f"({time.time() - t0:.1f}s, train {trained * world / train_seconds:.0f} img/s)",
                flush=True,
            )
            extra = dict(train_args=train_args, epoch=epoch, history=history, metrics=metrics)
            if val_acc > run["best_acc"]:
                run["best_acc"], run["best_epoch"] = val_acc, epoch
                save_checkpoint(out / "best_model.pth", eval_model, config, **extra)
            save_last(epoch, 0, [0.0, 0.0, 0], metrics)
            if ctx["stop"]:
                raise Interrupted(f"the end of epoch {epoch}")
    train_time = run["elapsed"] + time.time() - start

    if master:
        final_report(out, eval_model, config, val_x, val_y, ctx, history, dict(
            training_time_s=train_time, best_epoch=run["best_epoch"], epochs=args.epochs,
            device=torch.cuda.get_device_name(device) if cuda else "cpu", world_size=world,
            train_samples=len(train_y), val_samples=len(val_y), val_dir=str(val.root),
            skipped_files=len(train.skipped) + len(val.skipped), recipe=args.recipe,
        ))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return eval_model


def _resume_command(ctx: dict) -> list[str]:
    return ["ferkit", "train", "--resume", str(ctx["out"])]


class _graceful_interrupt:
    """Ctrl-C asks the loop to stop after the current step, save and say how to resume; a
    second Ctrl-C stops at once."""

    def __init__(self, ctx: dict, enabled: bool):
        self.ctx, self.enabled = ctx, enabled

    def __enter__(self):
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.ctx["stop"] = True
        signal.signal(signal.SIGINT, self.previous)
        print("\ninterrupt: saving after this step (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, kind, exc, tb):
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)
        if isinstance(exc, Interrupted):
            command = " ".join(shlex.quote(a) for a in _resume_command(self.ctx))
            print(f"interrupted at {exc}; saved. Resume with:\n  {command}", file=sys.stderr)
            raise KeyboardInterrupt from None
        return False


def final_report(out: Path, model, config, val_x, val_y, ctx, history, info: dict) -> None:
    """Reload the best weights, evaluate them and write the report, matrix and curves."""
    best = model_from_checkpoint(load_checkpoint(out / "best_model.pth"), out / "best_model.pth")
    best = best.to(ctx["device"], memory_format=torch.channels_last)
    _, _, pred = evaluate(best, val_x, val_y, ctx)
    metrics = compute_metrics(val_y.cpu().numpy(), pred, config["classes"])
    metrics.update(info, history=history)
    report = write_reports(out, metrics, f"{config['arch']} on {Path(info['val_dir']).name}")
    from ..evaluation.plots import plot_history  # matplotlib: imported when it draws

    plot_history(history, out / "training_history.png")
    print(
        f"\nbest epoch {info['best_epoch']}: accuracy {metrics['accuracy']:.2%}, "
        f"macro-F1 {metrics['macro_f1']:.4f}; trained in {info['training_time_s']:.1f}s\n"
    )
    print(report)
    print(f"wrote {', '.join(str(out / f) for f in OUTPUTS)}")

