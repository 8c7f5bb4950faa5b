"""Resuming a training run exactly where its last checkpoint left it.

`last_model.pth` carries, next to the (EMA) weights every checkpoint has, a `resume` entry:
the raw weights when EMA is on, optimizer and scheduler states, the position (epoch, step and
the epoch's running sums), the best accuracy so far and every random generator's state. The
data order needs no saving: each epoch's permutation is drawn from (seed, epoch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..errors import FerkitError
from ..recognition.checkpoint import load_checkpoint

# Settings a resumed run may change: where and how it runs, not what it trains.
CHANGEABLE = {"resume", "output_dir", "device", "no_progress", "cache_dir", "save_every",
              "compile", "command", "overwrite"}


def find_checkpoint(path: str | Path) -> Path:
    """A run folder's last_model.pth, or the checkpoint file given."""
    path = Path(path)
    if path.is_dir():
        path = path / "last_model.pth"
    if not path.exists():
        raise FerkitError(f"--resume: no such checkpoint: {path}")
    return path


def load(path: str | Path) -> tuple[Path, dict]:
    """(checkpoint path, checkpoint) for --resume; refuses one without a resume state."""
    path = find_checkpoint(path)
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.get("resume"), dict) or not isinstance(ckpt.get("train_args"), dict):
        raise FerkitError(
            f"--resume {path}: this checkpoint has no resume state (best_model.pth holds "
            "weights only); pass the run's folder or its last_model.pth"
        )
    return path, ckpt


def split_seed(train_args: dict) -> int:
    """The seed a run drew its --val-split with: runs from before --split-seed used --seed."""
    return train_args.get("split_seed", train_args.get("seed", 42))


def merge_args(args: argparse.Namespace, path: Path, ckpt: dict) -> argparse.Namespace:
    """The checkpoint's settings, with the user's where they may differ; one clear error for
    a setting that contradicts the checkpoint."""
    saved = ckpt["train_args"]
    for key, value in saved.items():
        given = getattr(args, key, None)
        if key in CHANGEABLE or key == "data":
            continue
        if key == "epochs" and saved.get("scheduler") == "plateau" and given is not None:
            continue  # a plateau schedule does not depend on the length: extending is fine
        if given is not None and given != value:
            flag = "--" + key.replace("_", "-")
            raise FerkitError(
                f"{flag} {given} contradicts the run being resumed ({path} has {value}); "
                f"leave {flag} out to resume, or start a new run"
            )
        setattr(args, key, value)
    args.split_seed = split_seed(saved)
    data = ckpt["resume"]["data"]
    if args.data is not None and Path(args.data).resolve() != Path(data):
        raise FerkitError(
            f"--data {args.data} contradicts the run being resumed ({path} trained on {data})"
        )
    args.data = data
    if args.output_dir is None:
        args.output_dir = str(path.parent)
    return args


def check_data(path: Path, ckpt: dict, classes: list[str], samples: int) -> None:
    """The dataset must be the one the run started on: same classes, same number of images."""
    saved = ckpt["resume"]["data"]
    if list(ckpt["config"]["classes"]) != list(classes):
        raise FerkitError(
            f"--resume {path}: the classes changed ({', '.join(ckpt['config']['classes'])} "
            f"then, {', '.join(classes)} now)"
        )
    if ckpt["resume"]["train_samples"] != samples:
        raise FerkitError(
            f"--resume {path}: {saved} changed since the run started "
            f"({ckpt['resume']['train_samples']} training images then, {samples} now)"
        )


def state(*, epoch: int, step: int, sums: list[float], best_acc: float, best_epoch: int,
          elapsed: float, data: str, train_samples: int, raw_model, ema, opt, schedulers,
          gen: torch.Generator) -> dict:
    """The resume entry of a checkpoint: `epoch` epochs done, plus `step` steps of the next."""
    return dict(
        epoch=epoch, step=step, sums=list(sums), best_acc=best_acc, best_epoch=best_epoch,
        elapsed=elapsed, data=data, train_samples=train_samples,
        raw_model=({k: v.detach().cpu() for k, v in raw_model.state_dict().items()}
                   if ema is not None else None),
        ema_n_averaged=int(ema.n_averaged) if ema is not None else 0,
        optimizer=opt.state_dict(),
        schedulers=[s.state_dict() if s is not None else None for s in schedulers],
        rng=dict(cpu=torch.get_rng_state(), gen=gen.get_state(),
                 cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []),
    )


def restore(ckpt: dict, *, raw_model, ema, opt, schedulers, gen: torch.Generator) -> dict:
    """Load weights, optimizer, schedulers and generators; returns the resume entry."""
    r = ckpt["resume"]
    if ema is not None:
        ema.module.load_state_dict(ckpt["model"])
        ema.n_averaged.fill_(r["ema_n_averaged"])
        raw_model.load_state_dict(r["raw_model"])
    else:
        raw_model.load_state_dict(ckpt["model"])
    opt.load_state_dict(r["optimizer"])
    for sched, saved in zip(schedulers, r["schedulers"], strict=True):
        if sched is not None and saved is not None:
            sched.load_state_dict(saved)
    torch.set_rng_state(r["rng"]["cpu"])
    gen.set_state(r["rng"]["gen"])
    if r["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(r["rng"]["cuda"])
    return r
