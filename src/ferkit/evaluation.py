"""Metrics and reports shared by training and `ferkit evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support
from tqdm import tqdm

from .atomic import atomic_write
from .data import list_classes, list_files
from .errors import FerkitError
from .images import open_image, to_gray
from .plots import plot_confusion_matrix
from .recognizer import load


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, the confusion matrix and
    scikit-learn's text report (key "report")."""

    labels = list(range(len(classes)))
    p, r, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "macro_f1": float(np.mean(f1)),
        "num_samples": int(len(y_true)),
        "classes": list(classes),
        "per_class": {
            name: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "report": classification_report(
            y_true, y_pred, labels=labels, target_names=classes, digits=4, zero_division=0
        ),
    }


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def write_reports(out_dir: str | Path, metrics: dict, title: str) -> str:
    """classification_report.txt, metrics.json and confusion_matrix.png in out_dir."""
    out_dir = Path(out_dir)
    report = metrics["report"]
    atomic_write(out_dir / "classification_report.txt", lambda tmp: Path(tmp).write_text(report))
    write_json(out_dir / "metrics.json", metrics)
    plot_confusion_matrix(
        np.asarray(metrics["confusion_matrix"]),
        metrics["classes"],
        out_dir / "confusion_matrix.png",
        title=f"{title} (accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f})",
    )
    return report


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Evaluate a model on an image-folder split (DIR/<class>/*.jpg).",
        add_help=add_help,
    )
    p.add_argument("--model", required=True, help="a .pth checkpoint or .onnx model")
    p.add_argument("--data", required=True, help="a split folder, e.g. data/test")
    p.add_argument("--output-dir", default="evaluation",
                   help="where classification_report.txt, metrics.json, confusion_matrix.png go")
    p.add_argument("--json", metavar="OUT", help="also write the metrics JSON here")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    return p


def main(args: argparse.Namespace) -> None:
    """Classify every image of a split exactly as `predict --no-detect` would, then report."""
    recognizer = load(args.model, tta=args.tta)
    root = Path(args.data)
    folders = list_classes(root)
    unknown = sorted(set(folders) - set(recognizer.classes))
    if unknown:
        raise FerkitError(
            f"class folders {unknown} in {root} are not classes of {args.model} "
            f"({', '.join(recognizer.classes)})"
        )
    # Folders are matched to the model's classes by name; a split may lack some classes.
    samples = [
        (path, recognizer.classes.index(folders[label]))
        for path, label in list_files(root, folders)
    ]
    y_true, y_pred, skipped = [], [], []
    start = time.time()
    for i in tqdm(range(0, len(samples), args.batch_size), desc="evaluating", unit="batch",
                  file=sys.stderr):
        crops, labels = [], []
        for path, label in samples[i : i + args.batch_size]:
            try:
                crops.append(to_gray(open_image(path)))
                labels.append(label)
            except FerkitError as e:
                skipped.append(str(e))
        if crops:
            y_pred += recognizer.classify(crops).argmax(1).tolist()
            y_true += labels
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) (first: {skipped[0]})",
              file=sys.stderr)
    metrics = compute_metrics(np.array(y_true), np.array(y_pred), recognizer.classes)
    metrics.update(model=str(args.model), data=str(root), tta=recognizer.tta,
                   skipped_files=len(skipped), seconds=time.time() - start)
    report = write_reports(args.output_dir, metrics, f"{Path(args.model).name} on {root.name}")
    if args.json:
        write_json(args.json, metrics)
    print(f"{args.model} on {root}: accuracy {metrics['accuracy']:.2%}, "
          f"macro-F1 {metrics['macro_f1']:.4f} ({len(y_true)} images)\n")
    print(report)
    print(f"wrote {args.output_dir}/classification_report.txt, metrics.json, confusion_matrix.png"
          + (f" and {args.json}" if args.json else ""))
