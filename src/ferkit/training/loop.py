"""Training: `python train.py` / `ferkit train` / `torchrun -m ferkit train`.

    python train.py --data data                    # the brief: MobileNetV2, 224px, 30 epochs
    python train.py --data data --recipe fast      # large batch, AdamW, warm-up + cosine
    torchrun --nproc_per_node 4 -m ferkit train --data data --recipe fast

main reads top to bottom: settings -> device -> data (decoded once, on the device) ->
build_run (model, optimiser, augmentation: the Run) -> run_epoch for each epoch
(train_one_epoch, evaluate, checkpoints) -> final report and figures.
DistributedDataParallel switches on when torchrun sets RANK; only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
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
from .distill import check_teachers, distill_targets, teacher_probs

# Recipes fill every option the user did not set. "brief" is the original README's recipe.
RECIPES = {
    "brief": dict(
        img_size=224, epochs=30, batch_size=32, lr=1e-3, optimizer="adam", weight_decay=0.0,
        scheduler="plateau", warmup_epochs=0, label_smoothing=0.0, mixup=0.0, cutmix=0.0,
        erasing=0.0, translate=0.0, min_scale=1.0, max_scale=1.0, rotation=10.0, ema=0.0,
        photo_aug=0.0,
    ),
    # For a GPU; what it has reached so far is in the README.
    "fast": dict(
        img_size=112, epochs=15, batch_size=256, lr=2e-3, optimizer="adamw", weight_decay=0.05,
        scheduler="cosine", warmup_epochs=1, label_smoothing=0.1, mixup=0.0, cutmix=0.0,
        erasing=0.25, translate=0.1, min_scale=0.85, max_scale=1.15, rotation=15.0,
        ema=0.0, photo_aug=0.0,
    ),
}


# Defaults of the options that no recipe sets; None in the parser so that --resume can tell a
# flag the user gave from one left out.
DEFAULTS = dict(
    data="data", output_dir=".", recipe="brief", arch="mobilenet_v2", pretrained="imagenet",
    seed=42, split_seed=42, freeze_backbone=False, soft_labels=False, ferplus_classes=7,
    val_split=0.0, class_weights="none", sampler="shuffle", teacher=(), distill=0.5,
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
    ("photo_aug", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    ("distill", lambda v: 0 <= v <= 1, "the teachers' share of the targets, in [0, 1]"),
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
    if (not args.resume and getattr(args, "distill", None) is not None
            and not getattr(args, "teacher", None)):
        raise FerkitError("--distill goes with --teacher MODEL")
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
    check_teachers(args.teacher)
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
                                              args.split_seed)
            if master:
                write_file_list(out / "val_split.txt", train_dir, val_s,
                                f"ferkit validation split: {args.val_split:g} of each class, "
                                f"seed {args.split_seed}; ferkit evaluate --data {train_dir} "
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


def distill(args, train: Split, master: bool) -> None:
    """Replace the split's targets by the labels mixed with the teachers' probabilities."""
    probs = teacher_probs(args.teacher, train.images, train.classes,
                          progress=master and not args.no_progress)
    if master:
        agree = (probs.argmax(1) == train.labels).mean()
        print(f"distilling from {len(args.teacher)} teacher(s), {args.distill:g} of each target:"
              f" they agree with {agree:.1%} of the training labels", flush=True)
    train.soft = distill_targets(train.labels, probs, args.distill, train.soft)


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
# the run's state


@dataclass
class Progress:
    """Where the run stands: `epoch` epochs done (plus `step` steps of the next, with that
    epoch's running `sums` of loss, correct and seen), and the best epoch so far."""

    epoch: int = 0
    step: int = 0
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0])
    best_acc: float = -1.0
    best_epoch: int = 0
    elapsed: float = 0.0  # seconds of training before this process started


@dataclass(eq=False)
class Run:
    """One training run: what every part of the loop reads, and the little it changes
    (`epoch`, `progress`, `history`, `stop`)."""

    args: argparse.Namespace
    out: Path
    device: torch.device
    rank: int
    world: int
    config: dict  # what the checkpoints carry: arch, classes, input size, normalisation
    raw_model: nn.Module  # the FerNet itself
    model: nn.Module  # what the steps call: raw_model, wrapped by DDP or torch.compile
    ema: nn.Module | None  # AveragedModel when --ema is on: evaluated and saved instead
    opt: torch.optim.Optimizer
    plateau: object | None  # ReduceLROnPlateau, stepped per epoch on the validation loss
    step_sched: object | None  # LambdaLR, stepped per batch
    gen: torch.Generator
    train_aug: TrainPreset
    eval_aug: EvalPreset
    soft: torch.Tensor | None  # FER+ vote distributions, one row per training image
    class_weights: torch.Tensor | None
    sample_weights: torch.Tensor | None
    data: str
    train_samples: int
    progress: Progress = field(default_factory=Progress)
    history: list = field(default_factory=list)
    epoch: int = 0  # the epoch in progress
    stop: bool = False  # set by Ctrl-C: save after this step
    started: float = field(default_factory=time.time)

    @property
    def classes(self) -> list[str]:
        return self.config["classes"]

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.raw_model

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        # bf16 on CUDA; on the CPU a no-op rather than a second code path.
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda)

    def elapsed(self) -> float:
        return self.progress.elapsed + time.time() - self.started

    def train_args(self) -> dict:
        return {k: v for k, v in vars(self.args).items() if k != "resume"}

    def save_last(self, epoch_done: int, step: int, sums, metrics: dict) -> None:
        """last_model.pth: the weights, and all it takes to resume from here."""
        p = self.progress
        state = resume.state(
            epoch=epoch_done, step=step, sums=sums, best_acc=p.best_acc,
            best_epoch=p.best_epoch, elapsed=self.elapsed(), data=self.data,
            train_samples=self.train_samples, raw_model=self.raw_model, ema=self.ema,
            opt=self.opt, schedulers=[self.plateau, self.step_sched], gen=self.gen)
        save_checkpoint(self.out / "last_model.pth", self.eval_model, self.config,
                        train_args=self.train_args(), epoch=epoch_done, history=self.history,
                        metrics=metrics, resume=state)

    def save_progress(self, step: int, sums) -> None:
        """A checkpoint inside the epoch in progress (--save-every, Ctrl-C)."""
        if self.master:
            last = self.history[-1] if self.history else {}
            metrics = {k: last[k] for k in ("val_acc", "val_loss") if k in last}
            self.save_last(self.epoch - 1, step, sums, metrics)


def build_run(args: argparse.Namespace, train: Split, out: Path, device: torch.device,
              rank: int, world: int, resumed: dict | None) -> Run:
    """The model (on the device, wrapped as the run asks), its optimiser and schedules,
    augmentation and class balance; restored from `resumed` when given."""
    model = build_model(args.arch, len(train.classes), "none" if resumed else args.pretrained)
    set_trainable(model, args.freeze_backbone, args.unfreeze_last)
    # channels_last on every device: CUDA's tensor cores want it, and on the CPU oneDNN's
    # convolutions in that layout are faster too.
    raw_model = model = model.to(device, memory_format=torch.channels_last)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        model = torch.compile(model)
    ema = None
    if args.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(raw_model, multi_avg_fn=get_ema_multi_avg_fn(args.ema),
                            use_buffers=True)
    steps = (len(train.labels) // world) // args.batch_size + 1
    opt, plateau, step_sched = make_optimizer(args, raw_model, steps)
    weights = class_weights(train.labels, len(train.classes))
    run = Run(
        args=args, out=out, device=device, rank=rank, world=world,
        config=dict(
            arch=args.arch, classes=train.classes, img_size=args.img_size, channels=1,
            input="grey float32 [N,1,H,W] in [0,1]; normalisation inside the model",
            mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), tta=False,
        ),
        raw_model=raw_model, model=model, ema=ema, opt=opt, plateau=plateau,
        step_sched=step_sched, gen=torch.Generator(device=device).manual_seed(args.seed + rank),
        train_aug=TrainPreset.from_settings(vars(args)),
        eval_aug=EvalPreset(img_size=args.img_size),
        soft=torch.from_numpy(train.soft).to(device) if train.soft is not None else None,
        class_weights=(torch.from_numpy(weights).to(device)
                       if args.class_weights == "balanced" else None),
        sample_weights=(torch.from_numpy(weights[train.labels]).double()
                        if args.sampler == "balanced" else None),
        data=str(Path(args.data).resolve()), train_samples=len(train.labels),
    )
    if resumed:
        r = resume.restore(resumed, raw_model=raw_model, ema=ema, opt=opt,
                           schedulers=[plateau, step_sched], gen=run.gen)
        run.progress = Progress(**{k: r[k] for k in vars(Progress())})
        run.history = list(resumed["history"])
        if world > 1:  # each rank's augmentation stream was its own; start fresh ones
            run.gen.manual_seed(args.seed + rank + 7919 * run.progress.epoch)
    return run


# ---------------------------------------------------------------------------------------------
# the loop


class Interrupted(Exception):
    """Ctrl-C during training, after the resume checkpoint has been written."""


def epoch_order(n: int, seed: int, epoch: int, sample_weights: torch.Tensor | None = None,
                rank: int = 0, world: int = 1) -> torch.Tensor:
    """This rank's sample indices for the epoch: the same draw on every rank, seeded by the
    epoch (a resumed run draws it again), then each rank takes its shard."""
    gen = torch.Generator().manual_seed(seed + epoch)
    if sample_weights is not None:  # --sampler balanced: classes drawn equally often
        order = torch.multinomial(sample_weights, n, replacement=True, generator=gen)
    else:
        order = torch.randperm(n, generator=gen)
    per_rank = n // world
    return order[rank * per_rank : (rank + 1) * per_rank]


def train_one_epoch(run: Run, images: torch.Tensor, labels: torch.Tensor, start_step: int = 0,
                    sums=(0.0, 0.0, 0)) -> tuple[float, float, int]:
    """One pass over this rank's shard, from `start_step` on (a resumed epoch, with the
    `sums` of loss, correct and seen so far); returns (mean loss, accuracy) reduced across
    ranks, and how many images this call trained on."""
    args, device = run.args, run.device
    run.model.train()
    order = epoch_order(len(labels), args.seed, run.epoch, run.sample_weights, run.rank,
                        run.world).to(device)
    steps = len(order) // args.batch_size + (len(order) % args.batch_size > 1)
    loss_sum = torch.tensor(float(sums[0]), device=device)
    correct = torch.tensor(float(sums[1]), device=device)
    seen = int(sums[2])
    bar = _progress(range(start_step, steps), run, f"epoch {run.epoch}/{args.epochs}")
    for step in bar:
        idx = order[step * args.batch_size : (step + 1) * args.batch_size]
        x = run.train_aug(images[idx], run.gen)
        y = labels[idx]
        if run.soft is not None:  # FER+ vote distributions
            targets = run.soft[idx]
        else:  # scatter, not F.one_hot: one_hot checks its input's range, a host sync
            targets = torch.zeros(len(y), len(run.classes), device=device).scatter_(
                1, y[:, None], 1.0)
        x, targets = mix(x, targets, args.mixup, args.cutmix, run.gen)
        x = x.contiguous(memory_format=torch.channels_last)
        with run.autocast():
            logits = run.model(x)
            loss = F.cross_entropy(logits.float(), targets, weight=run.class_weights,
                                   label_smoothing=args.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        if run.step_sched is not None:
            run.step_sched.step()
        if run.ema is not None:
            run.ema.update_parameters(run.raw_model)
        # Accumulate on the device: no host sync per step.
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if run.master and step % 20 == 0 and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{run.opt.param_groups[0]['lr']:.2e}")
        every = args.save_every and (step + 1) % args.save_every == 0 and step + 1 < steps
        if run.stop or every:
            run.save_progress(step + 1, [loss_sum.item(), correct.item(), seen])
            if run.stop:
                raise Interrupted(f"epoch {run.epoch}, step {step + 1} of {steps}")
    stats = torch.stack([loss_sum, correct, torch.tensor(float(seen), device=device)])
    if run.world > 1:
        dist.all_reduce(stats)
        average_buffers(run.model)
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
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             preprocess: EvalPreset, autocast=contextlib.nullcontext, batch_size: int = 256):
    """(mean loss, accuracy, predictions) over a whole split."""
    model.eval()
    loss_sum = torch.zeros((), device=labels.device)
    preds = []
    for start in range(0, len(labels), batch_size):
        x = preprocess(images[start : start + batch_size])
        x = x.contiguous(memory_format=torch.channels_last)
        y = labels[start : start + batch_size]
        with autocast():
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        preds.append(logits.argmax(1))
    pred = torch.cat(preds)
    acc = (pred == labels).float().mean().item()
    return loss_sum.item() / len(labels), acc, pred.cpu().numpy()


def run_epoch(run: Run, epoch: int, train_x, train_y, val_x, val_y) -> None:
    """Train one epoch, validate, log, and keep the best and the last checkpoint."""
    run.epoch = epoch
    p, t0 = run.progress, time.time()
    first = p.step if epoch == p.epoch + 1 else 0
    train_loss, train_acc, trained = train_one_epoch(run, train_x, train_y, first, p.sums)
    train_seconds = time.time() - t0  # .item() in train_one_epoch has synchronised
    val_loss, val_acc, _ = evaluate(run.eval_model, val_x, val_y, run.eval_aug, run.autocast)
    if run.plateau is not None:
        run.plateau.step(val_loss)
    metrics = dict(val_acc=val_acc, val_loss=val_loss)
    images_per_s = trained * run.world / train_seconds
    run.history.append(dict(
        epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
        val_acc=val_acc, lr=run.opt.param_groups[0]["lr"], seconds=time.time() - t0,
        train_seconds=train_seconds, train_img_per_s=images_per_s, elapsed=run.elapsed(),
    ))
    if not run.master:
        return
    print(
        f"epoch {epoch:3d}/{run.args.epochs}  train loss {train_loss:.4f} acc "
        f"{train_acc:.2%}  val loss {val_loss:.4f} acc {val_acc:.2%}  "
        f"({time.time() - t0:.1f}s, train {images_per_s:.0f} img/s)",
        flush=True,
    )
    if val_acc > p.best_acc:
        p.best_acc, p.best_epoch = val_acc, epoch
        save_checkpoint(run.out / "best_model.pth", run.eval_model, run.config,
                        train_args=run.train_args(), epoch=epoch, history=run.history,
                        metrics=metrics)
    run.save_last(epoch, 0, [0.0, 0.0, 0], metrics)
    if run.stop:
        raise Interrupted(f"the end of epoch {epoch}")


def _progress(iterable, run: Run, desc: str):
    if not run.master or run.args.no_progress:
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


def prepare_args(args: argparse.Namespace) -> tuple[argparse.Namespace, Path | None, dict | None]:
    """The run's settings (a resumed run's own, with what may change), checked; and the
    checkpoint being resumed, if any."""
    path = resumed = None
    if args.resume:
        if args.overwrite:
            raise FerkitError("--resume continues a run and --overwrite starts a new one: "
                              "choose one")
        path, resumed = resume.load(args.resume)
        args = resume.merge_args(args, path, resumed)
    args = resolve_recipe(args)
    if not resumed and not args.overwrite:
        check_new_run(Path(args.output_dir))
    return args, path, resumed


def main(args: argparse.Namespace) -> nn.Module:
    """Train as `args` say; returns the trained (unwrapped) model."""
    args, resume_path, resumed = prepare_args(args)
    device, rank, world = setup_device(args.device)
    torch.manual_seed(args.seed)
    out = Path(args.output_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    train, val = load_data(args, out, master=rank == 0)
    if resumed:
        resume.check_data(resume_path, resumed, train.classes, len(train.labels))
    if args.teacher:  # after the checks: the teachers' pass is the slow part
        distill(args, train, master=rank == 0)
    run = build_run(args, train, out, device, rank, world, resumed)
    # The whole decoded dataset lives on the training device (FER2013 train: 66 MB).
    train_x, train_y, val_x, val_y = (
        torch.from_numpy(a).to(device, non_blocking=True)
        for a in (train.images, train.labels, val.images, val.labels)
    )
    if run.master:
        announce(run, val, resumed is not None)

    run.started = time.time()
    with _graceful_interrupt(run, enabled=world == 1):
        for epoch in range(run.progress.epoch + 1, args.epochs + 1):
            run_epoch(run, epoch, train_x, train_y, val_x, val_y)

    if run.master:
        final_report(run, val_x, val_y, dict(
            training_time_s=run.elapsed(), best_epoch=run.progress.best_epoch,
            epochs=args.epochs, world_size=world,
            device=torch.cuda.get_device_name(device) if run.cuda else "cpu",
            train_samples=len(train_y), val_samples=len(val_y), val_dir=str(val.root),
            skipped_files=len(train.skipped) + len(val.skipped), recipe=args.recipe,
        ))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return run.eval_model


def announce(run: Run, val: Split, resumed: bool) -> None:
    """The run's first line: what trains on what, where, and from which point."""
    p = run.progress
    where = f"{run.device}"
    if dist.is_initialized():
        where += f" x{run.world} ({dist.get_backend()})"
    if resumed:
        where += f"; resumed after epoch {p.epoch}" + (f" step {p.step}" if p.step else "")
    print(
        f"ferkit {__version__}: training {run.args.arch} on {run.train_samples} images "
        f"({len(run.classes)} classes: {', '.join(run.classes)}), validating on "
        f"{len(val.labels)} from {val.root}; {where}",
        flush=True,
    )


def _resume_command(run: Run) -> list[str]:
    return ["ferkit", "train", "--resume", str(run.out)]


class _graceful_interrupt:
    """Ctrl-C asks the loop to stop after the current step, save and say how to resume; a
    second Ctrl-C stops at once."""

    def __init__(self, run: Run, enabled: bool):
        self.run, self.enabled = run, enabled

    def __enter__(self):
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.run.stop = True
        signal.signal(signal.SIGINT, self.previous)
        print("\ninterrupt: saving after this step (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, kind, exc, tb):
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)
        if isinstance(exc, Interrupted):
            command = " ".join(shlex.quote(a) for a in _resume_command(self.run))
            print(f"interrupted at {exc}; saved. Resume with:\n  {command}", file=sys.stderr)
            raise KeyboardInterrupt from None
        return False


def final_report(run: Run, val_x, val_y, info: dict) -> None:
    """Reload the best weights, evaluate them and write the report, matrix and curves."""
    path = run.out / "best_model.pth"
    best = model_from_checkpoint(load_checkpoint(path), path)
    best = best.to(run.device, memory_format=torch.channels_last)
    _, _, pred = evaluate(best, val_x, val_y, run.eval_aug, run.autocast)
    metrics = compute_metrics(val_y.cpu().numpy(), pred, run.classes)
    metrics.update(info, history=run.history)
    report = write_reports(run.out, metrics,
                           f"{run.config['arch']} on {Path(info['val_dir']).name}")
    from ..evaluation.plots import plot_history  # matplotlib: imported when it draws

    plot_history(run.history, run.out / "training_history.png")
    print(
        f"\nbest epoch {info['best_epoch']}: accuracy {metrics['accuracy']:.2%}, "
        f"macro-F1 {metrics['macro_f1']:.4f}; trained in {info['training_time_s']:.1f}s\n"
    )
    print(report)
    print(f"wrote {', '.join(str(run.out / f) for f in OUTPUTS)}")
