"""Metrics and reports shared by training and `ferkit evaluate`."""

from __future__ import annotations

import argparse
import csv
import heapq
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
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
from .predict import MODEL_HELP, add_detector_args, check_batch_size, small_faces_note
from .recognizer import DEFAULT_MODEL, load

# what the reports need (scikit-learn, matplotlib, seaborn: the evaluate extra)
REPORT_MODULES = ("sklearn", "matplotlib", "seaborn")
MISTAKES = 24  # the most confident mistakes drawn in mistakes.png
# finds the face in a labelled image file: (its box, its grey crop), or None
Finder = Callable[[Path], "tuple[tuple[int, int, int, int], np.ndarray] | None"]


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
    cm, predicted = np.asarray(metrics["confusion_matrix"]), metrics["classes"]
    if "no_face_per_class" in metrics:  # --detect: where the faces not found were
        cm = np.column_stack([cm, metrics["no_face_per_class"]])
        predicted = [*predicted, "no face"]
        report += (f"\nno face found in {metrics['no_face']} of {metrics['images']} images; "
                   f"end-to-end accuracy {metrics['end_to_end_accuracy']:.4f}\n")
    plot_confusion_matrix(
        cm,
        metrics["classes"],
        out_dir / "confusion_matrix.png",
        title=f"{title} (accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f})",
        predicted=predicted,
    )
    atomic_write(out_dir / "classification_report.txt", lambda tmp: Path(tmp).write_text(report))
    write_json(out_dir / "metrics.json", metrics)
    return report


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Evaluate a model on an image-folder split (DIR/<class>/*.jpg).",
        add_help=add_help,
    )
    p.add_argument("--model", help=MODEL_HELP)
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
    p.add_argument("--detect", action="store_true",
                   help="labelled photos, not face crops: find the faces in each image as "
                   "`ferkit predict` does and score the largest; an image with no face found "
                   "counts as wrong end to end")
    add_detector_args(p, "with --detect: ")
    p.add_argument("--output-dir", default="evaluation",
                   help="where classification_report.txt, metrics.json, confusion_matrix.png, "
                   "predictions.csv and mistakes.png go")
    p.add_argument("--json", metavar="OUT", help="also write the metrics JSON here")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    p.add_argument("--device", default="auto",
                   help="where a .pth checkpoint runs: auto (CUDA when present), cpu, cuda, "
                   "cuda:1 (.onnx models run on the CPU)")
    return p


def main(args: argparse.Namespace) -> None:
    """Classify every image of a split exactly as `ferkit predict --no-detect` would (or, with
    --detect, its largest face as `ferkit predict` would), then report."""
    require("`ferkit evaluate`", *REPORT_MODULES)
    check_batch_size(args.batch_size)
    check_detect_args(args)
    recognizer = load(args.model, tta=args.tta, device=args.device,
                      detector=args.detector, min_face=args.min_face)
    model_name = Path(args.model).name if args.model else f"the bundled {DEFAULT_MODEL} model"
    root = Path(args.data)
    samples, total, skipped = labelled_faces(
        args.data, recognizer.classes, files=args.files, split=args.split, labels=args.labels,
        ferplus_classes=args.ferplus_classes,
        finder=recognizer.main_face if args.detect else None)
    start = time.time()
    done = classify_all(recognizer, samples, total, args.batch_size, mistakes=MISTAKES)
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) (first: {skipped[0]})",
              file=sys.stderr)
    if not len(done.labels):
        raise FerkitError(f"no face found in any of the {len(done.names)} readable images of "
                          f"{root}" if done.names else f"no readable image in {root}")
    probs, y_true = done.probs, done.labels
    metrics = compute_metrics(y_true, probs.argmax(1), recognizer.classes)
    metrics.update(model=str(recognizer.backend.path), data=str(root), tta=recognizer.tta,
                   device=str(recognizer.backend.device),
                   temperature=recognizer.temperature,
                   ece=expected_calibration_error(probs, y_true),
                   ece_floor=calibration_error_floor(probs),
                   nll=negative_log_likelihood(probs, y_true),
                   reliability=reliability(probs, y_true),
                   skipped_files=len(skipped), seconds=time.time() - start)
    if args.detect:
        metrics.update(detect=True, detector=args.detector, min_face=args.min_face,
                       **end_to_end(done, len(recognizer.classes)))
    name = f"{root.name} {args.split}" if is_csv(root) else root.name
    title = f"{model_name} on {name}"
    report = write_reports(args.output_dir, metrics, title)
    out = Path(args.output_dir)
    write_predictions(out / "predictions.csv", done, recognizer.classes)
    from .plots import plot_mistakes, plot_reliability

    plot_reliability({"": metrics["reliability"]}, out / "reliability.png", title)
    wrong = int(np.sum(probs.argmax(1) != y_true))
    plot_mistakes(done.mistakes, recognizer.classes, out / "mistakes.png",
                  mistakes_title(title, len(done.mistakes), wrong))
    if args.json:
        write_json(args.json, metrics)
    faces = (f"{len(y_true)} faces found in {len(done.names)} images"
             if args.detect else f"{len(y_true)} images")
    print(f"{args.model or model_name} on {name}: accuracy {metrics['accuracy']:.2%}, "
          f"macro-F1 {metrics['macro_f1']:.4f}, calibration error {metrics['ece']:.2%}, "
          f"noise floor ~{metrics['ece_floor']:.1%} ({faces})")
    print()
    print(report)
    if args.detect and metrics["no_face"] and args.min_face is None:
        print(small_faces_note(metrics["no_face"]), file=sys.stderr)
    print(f"wrote {args.output_dir}/classification_report.txt, metrics.json, confusion_matrix.png,"
          " reliability.png, predictions.csv, mistakes.png"
          + (f" and {args.json}" if args.json else ""))


def mistakes_title(title: str, shown: int, wrong: int) -> str:
    if not wrong:
        return f"{title}: no mistakes"
    which = f"its {wrong} mistake{'s' * (wrong > 1)}" if shown == wrong else (
        f"the {shown} most confident of its {wrong} mistakes")
    return f"{title}: {which} (label → prediction)"


def check_detect_args(args: argparse.Namespace) -> None:
    if not args.detect and (args.min_face is not None or args.detector != "blazeface"):
        raise FerkitError("--detector and --min-face choose how faces are found: add --detect")
    if args.detect and is_csv(args.data):
        raise FerkitError("--detect finds faces in photos; the rows of FER2013's CSV are face "
                          "crops already")


@dataclass
class Labelled:
    """One labelled image: its name, its class index, and its grey face crop (None: no face
    found) with the face's box in the image (None: the whole image is the face)."""

    name: str
    label: int
    face: np.ndarray | None
    box: tuple[int, int, int, int] | None = None


def labelled_faces(data: str | Path, model_classes: list[str], files: str | None = None,
                   split: str = "PrivateTest", labels: str | None = None,
                   ferplus_classes: int = 7, finder: Finder | None = None):
    """(iterator of Labelled, how many, reasons for skipped ones) for a CSV split, a file list
    or a split folder; folders are matched to classes by name. finder(path) -> (box, grey
    crop) or None finds the face in each image file; without it the image is the face."""
    root = Path(data)
    if is_csv(root):
        rows = load_csv_split(root, split, labels=labels, ferplus_classes=ferplus_classes)
        if files:
            raise FerkitError("--files lists image files; a CSV split is chosen with --split")
        mapping = _class_mapping(rows.classes, model_classes, f"{root} ({split})", "classes")
        samples = (Labelled(f"{root.name} row {row}", int(mapping[label]), image)
                   for row, label, image in zip(rows.rows, rows.labels, rows.images, strict=True))
        return samples, len(rows), rows.skipped
    if labels:
        raise FerkitError("--labels (FER+ votes) goes with --data fer2013.csv")
    folders = list_classes(root)
    mapping = _class_mapping(folders, model_classes, str(root), "class folders")
    samples = read_file_list(files, root, folders) if files else list_files(root, folders)
    skipped: list[str] = []

    def decoded():
        for path, label in samples:
            name = path.relative_to(root).as_posix()
            try:
                if finder is None:
                    yield Labelled(name, int(mapping[label]), to_gray(open_image(path)))
                else:
                    box, face = finder(path) or (None, None)
                    yield Labelled(name, int(mapping[label]), face, box)
            except FerkitError as e:
                skipped.append(str(e))
        if samples and len(skipped) == len(samples):
            raise FerkitError(f"all {len(samples)} files of {root} were skipped: {skipped[0]}")

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


@dataclass
class Classified:
    """What classify_all returns. probs [faces, classes] and labels [faces] for the faces
    classified; per image, in order: its name, label, face box and row of probs (-1: no face
    found); the most confident mistakes, most confident first, as (confidence, name, label,
    predicted, a 96 px grey thumbnail of the face)."""

    probs: np.ndarray
    labels: np.ndarray
    names: list[str] = field(default_factory=list)
    image_labels: list[int] = field(default_factory=list)
    boxes: list = field(default_factory=list)
    prob_rows: list[int] = field(default_factory=list)
    mistakes: list[tuple] = field(default_factory=list)


def classify_all(recognizer, samples, total: int, batch_size: int,
                 mistakes: int = 0) -> Classified:
    """Classify labelled images (Labelled) with a progress bar, keeping the `mistakes` most
    confident wrong answers."""
    probs = [np.zeros((0, len(recognizer.classes)), np.float32)]
    labels: list[int] = []
    done = Classified(probs=probs[0], labels=np.zeros(0, np.int64))
    worst: list[tuple] = []  # a min-heap of (confidence, order, name, label, predicted, face)
    order = itertools.count()
    for batch in tqdm(_batched(samples, batch_size), total=-(-total // batch_size),
                      desc="classifying", unit="batch", file=sys.stderr,
                      disable=not sys.stderr.isatty()):
        found = [s for s in batch if s.face is not None]
        batch_probs = recognizer.classify([s.face for s in found]) if found else probs[0]
        for s in batch:
            done.names.append(s.name)
            done.image_labels.append(s.label)
            done.boxes.append(s.box)
            done.prob_rows.append(-1 if s.face is None else len(labels))
            if s.face is not None:
                labels.append(s.label)
        for s, p in zip(found, batch_probs, strict=True):
            predicted = int(p.argmax())
            if mistakes and predicted != s.label:
                _keep(worst, mistakes, (float(p[predicted]), next(order), s.name, s.label,
                                        predicted), s.face)
        probs.append(batch_probs)
    done.probs = np.concatenate(probs)
    done.labels = np.array(labels, dtype=np.int64)
    done.mistakes = [(c, *rest) for c, _, *rest in sorted(worst, reverse=True)]
    return done


def _keep(heap: list[tuple], size: int, item: tuple, face: np.ndarray) -> None:
    """Keep the `size` items of highest item[0] in a min-heap, with a thumbnail of each face
    (made only for the ones kept)."""
    if len(heap) < size or item[0] > heap[0][0]:
        thumb = np.asarray(Image.fromarray(face).resize((96, 96), Image.Resampling.BILINEAR))
        (heapq.heappush if len(heap) < size else heapq.heapreplace)(heap, (*item, thumb))


def _batched(samples, size: int):
    batch: list[Labelled] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def end_to_end(done: Classified, n_classes: int) -> dict:
    """With faces to find: images with none (per true class too) and the accuracy over every
    image, an image with no face counting as wrong."""
    missing = np.bincount([label for label, row in zip(done.image_labels, done.prob_rows,
                                                       strict=True) if row < 0],
                          minlength=n_classes)
    correct = int(np.sum(done.probs.argmax(1) == done.labels))
    return {"images": len(done.names), "no_face": int(missing.sum()),
            "no_face_per_class": missing.tolist(),
            "end_to_end_accuracy": correct / len(done.names)}


def write_predictions(path: Path, done: Classified, classes: list[str]) -> None:
    """predictions.csv: per image, in order, its file, label, the prediction ("no face" when
    none was found), its confidence, whether it is right, the face's box and every class's
    probability."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["file", "label", "predicted", "confidence", "correct", "x0", "y0",
                          "x1", "y1", *classes])
            for name, label, box, row in zip(done.names, done.image_labels, done.boxes,
                                             done.prob_rows, strict=True):
                box_cells = list(box) if box is not None else [""] * 4
                if row < 0:
                    out.writerow([name, classes[label], "no face", "", False, *box_cells,
                                  *[""] * len(classes)])
                    continue
                p = done.probs[row]
                predicted = int(p.argmax())
                out.writerow([name, classes[label], classes[predicted], f"{p[predicted]:.4f}",
                              predicted == label, *box_cells, *(f"{v:.4f}" for v in p)])

    atomic_write(path, write)
