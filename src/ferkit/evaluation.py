"""Metrics and reports shared by training and `ferkit evaluate`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .atomic import atomic_write
from .calibration import (
    calibration_error_floor,
    expected_calibration_error,
    negative_log_likelihood,
    reliability,
)
from .csvdata import USAGES, is_csv, load_csv_split
from .data import list_classes, list_files, read_file_list
from .errors import FerkitError
from .extras import require
from .images import open_image, to_gray
from .predict import check_batch_size
from .recognizer import BUNDLED_MODEL, load

# what the reports need (scikit-learn, matplotlib, seaborn: the evaluate extra)
REPORT_MODULES = ("sklearn", "matplotlib", "seaborn")


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, the confusion matrix and
    scikit-learn's text report (key "report")."""
    # imported here: scikit-learn takes seconds to import, and `ferkit train` with a wrong
    # --data should say so at once
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
    )

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
    from .plots import plot_confusion_matrix  # matplotlib: imported when it draws

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
    p.add_argument("--model", help="a .pth checkpoint or .onnx model (default: the bundled model)")
    p.add_argument("--data", required=True,
                   help="a split folder (data/test), or FER2013's CSV with --split")
    p.add_argument("--split", default="PrivateTest", choices=USAGES,
                   help="with a CSV: which rows to evaluate on (PrivateTest)")
    p.add_argument("--labels", metavar="FER2013NEW_CSV",
                   help="with a CSV: FER+'s votes as the labels (majority)")
    p.add_argument("--ferplus-classes", type=int, choices=[7, 8], default=7,
                   help="with --labels: 8 keeps contempt, 7 leaves its votes out")
    p.add_argument("--files", metavar="LIST",
                   help="only these files of --data (e.g. a run's val_split.txt)")
    p.add_argument("--output-dir", default="evaluation",
                   help="where classification_report.txt, metrics.json, confusion_matrix.png go")
    p.add_argument("--json", metavar="OUT", help="also write the metrics JSON here")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    p.add_argument("--device", default="auto",
                   help="where a .pth checkpoint runs: auto (CUDA when present), cpu, cuda, "
                   "cuda:1 (.onnx models run on the CPU)")
    return p


def main(args: argparse.Namespace) -> None:
    """Classify every image of a split exactly as `predict --no-detect` would, then report."""
    require("`ferkit evaluate`", *REPORT_MODULES)
    check_batch_size(args.batch_size)
    recognizer = load(args.model, tta=args.tta, device=args.device)
    model_name = Path(args.model).name if args.model else "the bundled model"
    root = Path(args.data)
    faces, total, skipped = labelled_faces(args.data, recognizer.classes, files=args.files,
                                            split=args.split, labels=args.labels,
                                            ferplus_classes=args.ferplus_classes)
    start = time.time()
    probs, y_true = classify_all(recognizer, faces, total, args.batch_size)
    y_pred = probs.argmax(1)
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) (first: {skipped[0]})",
              file=sys.stderr)
    metrics = compute_metrics(y_true, y_pred, recognizer.classes)
    metrics.update(model=str(args.model or BUNDLED_MODEL), data=str(root), tta=recognizer.tta,
                   device=str(recognizer.backend.device),
                   temperature=recognizer.temperature,
                   ece=expected_calibration_error(probs, y_true),
                   ece_floor=calibration_error_floor(probs),
                   nll=negative_log_likelihood(probs, y_true),
                   reliability=reliability(probs, y_true),
                   skipped_files=len(skipped), seconds=time.time() - start)
    name = f"{root.name} {args.split}" if is_csv(root) else root.name
    report = write_reports(args.output_dir, metrics, f"{model_name} on {name}")
    from .plots import plot_reliability

    plot_reliability({"": metrics["reliability"]}, Path(args.output_dir) / "reliability.png",
                     f"{model_name} on {name}")
    if args.json:
        write_json(args.json, metrics)
    print(f"{args.model or model_name} on {name}: accuracy {metrics['accuracy']:.2%}, "
          f"macro-F1 {metrics['macro_f1']:.4f}, calibration error {metrics['ece']:.2%}, "
          f"noise floor ~{metrics['ece_floor']:.1%} ({len(y_true)} images)\n")
    print(report)
    print(f"wrote {args.output_dir}/classification_report.txt, metrics.json, confusion_matrix.png,"
          " reliability.png"
          + (f" and {args.json}" if args.json else ""))


def labelled_faces(data: str | Path, model_classes: list[str], files: str | None = None,
                   split: str = "PrivateTest", labels: str | None = None,
                   ferplus_classes: int = 7):
    """(iterator of (grey face, model class index), how many, reasons for skipped ones) for
    a CSV split, a file list or a split folder; folders are matched to classes by name."""
    root = Path(data)
    if is_csv(root):
        rows = load_csv_split(root, split, labels=labels, ferplus_classes=ferplus_classes)
        if files:
            raise FerkitError("--files lists image files; a CSV split is chosen with --split")
        mapping = _class_mapping(rows.classes, model_classes, f"{root} ({split})", "classes")
        return (zip(rows.images, mapping[rows.labels].tolist(), strict=True), len(rows),
                rows.skipped)
    if labels:
        raise FerkitError("--labels (FER+ votes) goes with --data fer2013.csv")
    folders = list_classes(root)
    mapping = _class_mapping(folders, model_classes, str(root), "class folders")
    samples = read_file_list(files, root, folders) if files else list_files(root, folders)
    skipped: list[str] = []

    def decoded():
        for path, label in samples:
            try:
                yield to_gray(open_image(path)), int(mapping[label])
            except FerkitError as e:
                skipped.append(str(e))

    return decoded(), len(samples), skipped


def _class_mapping(found: list[str], model_classes: list[str], where: str,
                   kind: str) -> np.ndarray:
    unknown = sorted(set(found) - set(model_classes))
    if unknown:
        raise FerkitError(
            f"{kind} {unknown} in {where} are not classes of the model "
            f"({', '.join(model_classes)})"
        )
    return np.array([model_classes.index(c) for c in found])


def classify_all(recognizer, faces, total: int, batch_size: int):
    """(probabilities [N, classes], labels [N]) of labelled grey faces, with a progress bar."""
    probs, labels = [np.zeros((0, len(recognizer.classes)), np.float32)], []
    for crops, batch_labels in tqdm(_batched(faces, batch_size), total=-(-total // batch_size),
                                    desc="classifying", unit="batch", file=sys.stderr):
        probs.append(recognizer.classify(crops))
        labels += batch_labels
    return np.concatenate(probs), np.array(labels, dtype=np.int64)


def _batched(faces, size: int):
    crops, labels = [], []
    for crop, label in faces:
        crops.append(crop)
        labels.append(label)
        if len(crops) == size:
            yield crops, labels
            crops, labels = [], []
    if crops:
        yield crops, labels
