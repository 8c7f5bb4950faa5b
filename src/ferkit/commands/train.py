"""`ferkit train` / `python train.py`: the training run's flags (defaults: the brief's recipe)
and the run itself (ferkit.training.loop)."""

from __future__ import annotations

import argparse

from ..io.datasets import (
    default_cache_dir,
)
from ..recognition.networks import ARCHS
from ..training.loop import RECIPES
from ..training.loop import main as train

# Recipes fill every option the user did not set. "brief" is the original README's recipe.

def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train an expression classifier on data/{train,test}/<class>/*.jpg.",
        add_help=add_help,
    )
    brief = RECIPES["brief"]
    # fmt: off
    p.add_argument("--data", help="dataset folder with train/ and test/ (or val/), or FER2013's "
                   "CSV (trains on Training, validates on PublicTest) (data)")
    p.add_argument("--output-dir", help="where best_model.pth, plots and reports go (.)")
    p.add_argument("--resume", metavar="RUN",
                   help="continue a run exactly: its folder or its last_model.pth")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an --output-dir that holds one (its models are "
                   "replaced); without it such a folder is refused")
    p.add_argument("--save-every", type=int, default=0, metavar="STEPS",
                   help="also write the resume checkpoint every STEPS steps (0: each epoch)")
    p.add_argument("--recipe", choices=sorted(RECIPES),
                   help="defaults for every option below that you do not set (brief)")
    p.add_argument("--arch", choices=sorted(ARCHS), help="(mobilenet_v2)")
    p.add_argument("--pretrained",
                   help="imagenet (torchvision download), none, or PATH to a local state_dict "
                        "(imagenet)")
    p.add_argument("--freeze-backbone", action="store_true", default=None,
                   help="train the head only")
    p.add_argument("--unfreeze-last", type=int, default=0, metavar="N",
                   help="with the backbone frozen, still train its last N blocks")
    p.add_argument("--labels", metavar="FER2013NEW_CSV",
                   help="with --data fer2013.csv: FER+'s votes (fer2013new.csv) as the labels")
    p.add_argument("--soft-labels", action="store_true", default=None,
                   help="with --labels: train on the vote distribution, not the majority")
    p.add_argument("--ferplus-classes", type=int, choices=[7, 8],
                   help="with --labels: 8 keeps FER+'s contempt, 7 leaves its votes out (7)")
    p.add_argument("--teacher", action="append", metavar="MODEL",
                   help="distil: mix each target with this trained model's probabilities "
                        "(.onnx or .pth; give it again for several, averaged)")
    p.add_argument("--distill", type=float, metavar="WEIGHT",
                   help="with --teacher: the teachers' share of each target, the labels' "
                        "the rest (0.5)")
    p.add_argument("--val-split", type=float, metavar="FRACTION",
                   help="validate on a stratified, seeded FRACTION of train/ (its file list is "
                        "saved as val_split.txt) instead of val/ or test/")
    p.add_argument("--split-seed", type=int,
                   help="seed of --val-split's draw, apart from --seed so that runs with other "
                        "seeds validate on the same faces (42)")
    p.add_argument("--class-weights", choices=["none", "balanced"],
                   help="balanced: weigh the loss by inverse class frequency (none)")
    p.add_argument("--sampler", choices=["shuffle", "balanced"],
                   help="balanced: draw every class equally often (shuffle)")
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
    p.add_argument("--photo-aug", type=float,
                   help="probability of each photo degradation per image: gamma, noise, "
                        "a smaller original, JPEG (0 = off)")
    p.add_argument("--translate", type=float, help="max shift, fraction of the side (0)")
    p.add_argument("--min-scale", type=float, help="random zoom: smallest face scale (1 = off)")
    p.add_argument("--max-scale", type=float, help="random zoom: largest face scale (1 = off)")
    p.add_argument("--rotation", type=float, help="max rotation in degrees (10)")
    p.add_argument("--ema", type=float, help="weight EMA decay per step, e.g. 0.999; 0 = off (0)")
    p.add_argument("--seed", type=int, help="(42)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--cache-dir", default=str(default_cache_dir()),
                   help="decoded-dataset cache; 'none' to decode every run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    # fmt: on
    return p


def main(args: argparse.Namespace):
    """Run the training (ferkit.training.loop.main); returns the trained model."""
    return train(args)
