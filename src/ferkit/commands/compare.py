"""`ferkit compare`: two or more models on the same faces; is the difference real?"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import FerkitError
from ..evaluation.compare import Scored, compare, report
from ..extras import require
from ..io.fer2013_csv import USAGES, is_csv
from .common import check_batch_size


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Compare two or more models on the same faces: accuracy with its 95%% "
        "interval, macro-F1, calibration, recall per class, and whether each differs from "
        "the first by more than chance (exact McNemar test, paired bootstrap).",
        add_help=add_help)
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="two or more: .onnx or .pth files, or the bundled 'int8' (the default) and "
                   "'fp32'; the first is the one the others are compared with")
    p.add_argument("--data", required=True,
                   help="a split folder (data/test), or FER2013's CSV with --split")
    p.add_argument("--split", default="PrivateTest", choices=USAGES,
                   help="with a CSV: which rows (PrivateTest)")
    p.add_argument("--files", metavar="LIST", help="only these files of --data")
    p.add_argument("--json", metavar="OUT", help="also write the comparison here")
    p.add_argument("--plot", metavar="PNG", help="a figure of each model's recall per class")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average each face with its mirror image, for every model (default: "
                   "each model's own setting)")
    p.add_argument("--device", default="auto",
                   help="where .pth checkpoints run: auto (CUDA when present), cpu, cuda")
    return p


def main(args: argparse.Namespace) -> int:
    from ..evaluation.metrics import classify_all, labelled_faces, write_json
    from ..io.atomic import check_figure_name
    from ..recognition.recognizer import load

    require("`ferkit compare`", "scipy", "matplotlib", "seaborn")
    check_batch_size(args.batch_size)
    check_figure_name("--plot", args.plot)
    if len(args.models) < 2:
        raise FerkitError("give two or more models to compare (e.g. fp32 int8)")
    recognizers = [load(m, tta=args.tta, device=args.device) for m in args.models]
    classes = recognizers[0].classes
    for spec, rec in zip(args.models[1:], recognizers[1:], strict=True):
        if rec.classes != classes:
            raise FerkitError(f"{spec} has the classes {', '.join(rec.classes)}; "
                              f"{args.models[0]} has {', '.join(classes)}: nothing to compare")
    samples, total, skipped = labelled_faces(args.data, classes, files=args.files,
                                             split=args.split)
    faces = list(samples)  # decoded once, classified by every model
    if not faces:
        raise FerkitError(f"no readable image in {args.data}")
    scored = []
    for spec, rec in zip(args.models, recognizers, strict=True):
        done = classify_all(rec, iter(faces), len(faces), args.batch_size)
        scored.append(Scored(spec, done.probs.argmax(1), done.probs))
    y_true = np.array([f.label for f in faces], dtype=np.int64)
    result = compare(scored, y_true, classes)
    where = f"{Path(args.data).name} {args.split}" if is_csv(args.data) else args.data
    result.update(data=str(args.data), skipped_files=len(skipped))
    print(f"{len(faces)} faces of {where}" +
          (f" ({len(skipped)} unreadable files skipped)" if skipped else ""))
    print(report(result))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    if args.plot:
        from ..evaluation.plots import plot_recall

        plot_recall(result, args.plot, f"{len(faces)} faces of {where}")
        print(f"wrote {args.plot}")
    return 0
