"""`ferkit average`: one checkpoint from several runs of the same network and start, their
weights averaged and the BatchNorm statistics measured again on the training faces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..errors import FerkitError
from ..recognition.checkpoint import model_from_checkpoint, save_checkpoint
from ..training.augment import EvalPreset, TrainPreset
from ..training.average import average_weights, measure_batchnorm, training_settings
from ..training.loop import evaluate, load_data
from .common import check_batch_size


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Average the weights of two or more runs of the same network from the same "
        "start (a 'model soup': one network, no extra time per face), measure its BatchNorm "
        "statistics again on the runs' training faces, and compare it with each run on their "
        "held-out faces.", add_help=add_help)
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="best_model.pth of each run (`ferkit train`)")
    p.add_argument("--output", required=True, help="the averaged checkpoint (.pth) to write")
    p.add_argument("--data", help="the dataset the runs trained on, where it has moved (default: "
                   "the first run's --data)")
    p.add_argument("--batchnorm", choices=["measure", "average"], default="measure",
                   help="measure: the statistics of the averaged network on the training faces, "
                   "augmented as in training (default); average: the runs' statistics "
                   "averaged (fast, and on FER2013 2 points less accurate)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(args: argparse.Namespace) -> None:
    output = Path(args.output)
    if output.suffix.lower() != ".pth":
        raise FerkitError(f"--output {output}: the file name must end in .pth")
    if any(Path(c).resolve() == output.resolve() for c in args.checkpoints):
        raise FerkitError(f"--output {output} is one of the checkpoints being averaged")
    check_batch_size(args.batch_size)
    model, ckpts = average_weights(args.checkpoints)
    first = ckpts[0]
    settings = training_settings(first["train_args"], args.data)
    train, val = load_data(settings, output.parent, master=False)
    print(f"averaged {len(args.checkpoints)} runs of {first['config']['arch']} at "
          f"{first['config']['img_size']} px", flush=True)
    if args.batchnorm == "measure":
        print(f"measuring BatchNorm statistics on {len(train.labels)} training faces of "
              f"{train.root}", flush=True)
        measure_batchnorm(model, torch.from_numpy(train.images),
                          TrainPreset.from_settings(vars(settings)), args.batch_size,
                          progress=None if args.no_progress else _progress)
    parents = {c: model_from_checkpoint(ckpt, c) for c, ckpt in zip(args.checkpoints, ckpts,
                                                                    strict=True)}
    held_out = held_out_accuracy(model, parents, val, first["config"]["img_size"])
    save_checkpoint(output, model, first["config"], train_args=first["train_args"],
                    averaged_from=[str(c) for c in args.checkpoints],
                    batchnorm=args.batchnorm, metrics={"val_acc": held_out["average"]})
    print(f"wrote {output}")


def held_out_accuracy(model, parents: dict, val, img_size: int) -> dict[str, float]:
    """The average's and each run's accuracy on the runs' held-out faces, printed."""
    images, labels = torch.from_numpy(val.images), torch.from_numpy(val.labels)
    preset = EvalPreset(img_size=img_size)
    accuracy = {str(name): evaluate(parent, images, labels, preset)[1]
                for name, parent in parents.items()}
    accuracy["average"] = evaluate(model, images, labels, preset)[1]
    print(f"held-out faces ({len(labels)} of {val.root}):")
    for name, acc in accuracy.items():
        print(f"  {acc:7.2%}  {name}")
    return accuracy


def _progress(batches):
    from tqdm import tqdm

    return tqdm(batches, desc="BatchNorm", unit="batch", leave=False, dynamic_ncols=True,
                disable=not sys.stderr.isatty())
