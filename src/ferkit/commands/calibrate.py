"""`ferkit calibrate`: fit a temperature on held-out faces so that a model's confidence is a
measured probability, and write a copy of the model that carries it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FerkitError
from ..evaluation.metrics import classify_all, labelled_faces
from ..extras import require
from ..io.atomic import check_figure_name
from ..io.fer2013_csv import is_csv
from ..recognition.calibration import (
    FITS,
    apply_temperature,
    calibration_error_floor,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability,
)
from ..recognition.onnx_config import read_model, write_model
from ..recognition.recognizer import check_not_bundled, load, model_file
from .common import check_batch_size

MIN_FACES = 100


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Fit a temperature on held-out faces (never the test set, never faces the "
        "model trained on) and write a calibrated copy of an ONNX model.", add_help=add_help)
    p.add_argument("--model", required=True,
                   help="an .onnx model written by ferkit export, or a bundled one (fp32, int8)")
    p.add_argument("--data", required=True,
                   help="held-out faces: a split folder (e.g. data/val), or the train folder "
                   "with --files")
    p.add_argument("--files", metavar="LIST",
                   help="only these files of --data: a run's val_split.txt (train --val-split)")
    p.add_argument("--output", required=True, help="the calibrated .onnx model to write")
    p.add_argument("--fit", choices=FITS, default="ece",
                   help="what the temperature minimises on the held-out faces: ece, the gap "
                   "between the confidence shown and how often it is right (default), or nll, "
                   "the negative log-likelihood of all the probabilities")
    p.add_argument("--plot", metavar="OUT.png", help="reliability diagram, before and after")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="fit for predictions with flip TTA (default: the model's own setting)")
    return p


def main(args: argparse.Namespace) -> None:
    if Path(args.output).suffix.lower() != ".onnx":
        raise FerkitError(f"--output {args.output}: the file name must end in .onnx")
    check_not_bundled(args.output)
    check_batch_size(args.batch_size)
    check_figure_name("--plot", args.plot)
    require("`ferkit calibrate`", "onnx", *(("matplotlib", "seaborn") if args.plot else ()))
    if is_csv(args.data):
        raise FerkitError("calibrate reads image folders: a held-out val/ folder, or train/ "
                          "with --files val_split.txt from `ferkit train --val-split`")
    args.model = str(model_file(args.model))  # a bundled model by its name too
    proto, config = read_model(args.model)
    recognizer = load(args.model, tta=args.tta)
    recognizer.temperature = 1.0  # fit on the model's own probabilities
    faces, total, skipped = labelled_faces(args.data, recognizer.classes, files=args.files)
    if total < MIN_FACES:
        raise FerkitError(f"only {total} faces in {args.data}: fitting a temperature needs "
                          f"{MIN_FACES} held-out faces at least (a few thousand are better)")
    done = classify_all(recognizer, faces, total, args.batch_size)
    probs, labels = done.probs, done.labels
    temperature = fit_temperature(probs, labels, args.fit)
    after = apply_temperature(probs, temperature)
    report = {"temperature": round(temperature, 4), "fit": args.fit, "faces": int(len(labels)),
              "data": str(args.data), "tta": recognizer.tta,
              "ece_before": round(expected_calibration_error(probs, labels), 4),
              "ece_after": round(expected_calibration_error(after, labels), 4),
              "ece_floor": round(calibration_error_floor(after), 4),
              "nll_before": round(negative_log_likelihood(probs, labels), 4),
              "nll_after": round(negative_log_likelihood(after, labels), 4)}
    digest = write_model(proto, {**config, "temperature": temperature, "calibration": report},
                         args.output)
    if args.plot:
        from ..evaluation.plots import plot_reliability

        plot_reliability({"before": reliability(probs, labels),
                          f"after (T = {temperature:.2f})": reliability(after, labels)},
                         args.plot, f"{Path(args.model).name} on {len(labels)} held-out faces")
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) (first: {skipped[0]})")
    print(f"temperature {temperature:.3f} fitted ({args.fit}) on {len(labels)} faces: "
          "calibration error "
          f"{report['ece_before']:.2%} -> {report['ece_after']:.2%} (noise floor "
          f"~{report['ece_floor']:.1%}), NLL "
          f"{report['nll_before']:.3f} -> {report['nll_after']:.3f}")
    print(f"wrote {args.output} (sha256 {digest[:16]}…)" + (f" and {args.plot}" if args.plot
                                                            else ""))
