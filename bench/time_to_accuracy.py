"""Wall time for the fast preset to reach a PublicTest accuracy (default 67%).

    python bench/time_to_accuracy.py                    # on a GPU: --recipe fast, all defaults
    python bench/time_to_accuracy.py --epochs 12 --target 0.67 --img-size 112

Prints one JSON line per epoch and a final one with the time at which the target was first
reached (training time only, and wall time including per-epoch validation and start-up).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import FER, WEIGHTS, device_name, emit, require


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", type=float, default=0.67)
    p.add_argument("--recipe", default="fast")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="more `ferkit train` flags")
    args = p.parse_args()
    require(FER)
    from ferkit.commands.train import get_args_parser
    from ferkit.training.loop import main as train

    with tempfile.TemporaryDirectory() as out:
        argv = ["--data", str(FER), "--recipe", args.recipe, "--output-dir", out,
                "--pretrained", str(WEIGHTS), "--no-progress", *args.extra]
        t0 = time.time()
        train(get_args_parser().parse_args(argv))
        wall = time.time() - t0
        history = json.loads((Path(out) / "metrics.json").read_text())["history"]
    trained = 0.0
    reached = None
    for h in history:
        trained += h["train_seconds"]
        emit(kind="epoch", epoch=h["epoch"], val_acc=round(h["val_acc"], 4),
             train_s=round(trained, 1), elapsed_s=round(h["elapsed"], 1))
        if reached is None and h["val_acc"] >= args.target:
            reached = dict(epoch=h["epoch"], train_s=round(trained, 1),
                           elapsed_s=round(h["elapsed"], 1))
    emit(kind="time_to_accuracy", target=args.target, recipe=args.recipe, reached=reached,
         best_val_acc=round(max(h["val_acc"] for h in history), 4), total_wall_s=round(wall, 1),
         device=device_name(), flags=args.extra)


if __name__ == "__main__":
    main()
