"""`ferkit evaluate`: a model's accuracy, F1, calibration and confusion matrix on a labelled
split (image folders or FER2013's CSV), its most confident mistakes drawn."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..detection import DEFAULT_DETECTOR
from ..errors import FerkitError
from ..evaluation.metrics import (
    classify_all,
    compute_metrics,
    end_to_end,
    labelled_faces,
    write_json,
    write_predictions,
    write_reports,
)
from ..extras import require
from ..io.fer2013_csv import USAGES, is_csv
from ..recognition.calibration import (
    calibration_error_floor,
    expected_calibration_error,
    negative_log_likelihood,
    reliability,
)
from ..recognition.recognizer import DEFAULT_MODEL, load
from .common import MODEL_HELP, add_detector_args, check_batch_size, small_faces_note

# what the reports need (scikit-learn, matplotlib, seaborn: the evaluate extra)

REPORT_MODULES = ("sklearn", "matplotlib", "seaborn")
MISTAKES = 24  # the most confident mistakes drawn in mistakes.png


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
    from ..evaluation.plots import plot_mistakes, plot_reliability

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
    if not args.detect and (args.min_face is not None or args.detector != DEFAULT_DETECTOR):
        raise FerkitError("--detector and --min-face choose how faces are found: add --detect")
    if args.detect and is_csv(args.data):
        raise FerkitError("--detect finds faces in photos; the rows of FER2013's CSV are face "
                          "crops already")
