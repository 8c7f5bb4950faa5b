"""Metrics and reports shared by training, `ferkit evaluate`, `compare` and `calibrate`: the
labelled faces of a split, classified in batches; accuracy, F1, calibration; the reports."""

from __future__ import annotations

import csv
import heapq
import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import FerkitError
from ..io.atomic import atomic_write
from ..io.datasets import list_classes, list_files, read_file_list
from ..io.fer2013_csv import is_csv, load_csv_split
from ..io.images import open_image, to_gray

# what the reports need (scikit-learn, matplotlib, seaborn: the evaluate extra)
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
