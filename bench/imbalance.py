"""Class imbalance on FER2013 (disgust is 1.5% of train): macro-F1 and disgust's recall of the
same short run with no correction, --class-weights balanced and --sampler balanced.

    python bench/imbalance.py [--epochs 3 --img-size 48]   # ~10 min per run on 2 cores
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import FER, ROOT, WEIGHTS, device_name, emit, require

VARIANTS = {"none": [], "class-weights": ["--class-weights", "balanced"],
            "sampler": ["--sampler", "balanced"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--img-size", type=int, default=48)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args()
    require(FER)
    require(WEIGHTS)
    for name in args.variants:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, str(ROOT / "train.py"), "--data", str(FER), "--output-dir",
                   out, "--recipe", "fast", "--img-size", str(args.img_size), "--batch-size",
                   "64", "--lr", "1e-3", "--epochs", str(args.epochs), "--pretrained",
                   str(WEIGHTS), "--no-progress", *VARIANTS[name]]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            m = json.loads((Path(out) / "metrics.json").read_text())
        emit(variant=name, accuracy=round(m["accuracy"], 4), macro_f1=round(m["macro_f1"], 4),
             disgust_recall=round(m["per_class"]["disgust"]["recall"], 4),
             disgust_f1=round(m["per_class"]["disgust"]["f1"], 4),
             train_s=round(m["training_time_s"]), epochs=args.epochs, img_size=args.img_size,
             device=device_name())


if __name__ == "__main__":
    main()
