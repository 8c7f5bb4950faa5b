"""`ferkit export`: a checkpoint to ONNX (fp32, fp16 weights, or int8 calibrated on faces)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerkitError
from ..export.onnx_model import export_onnx
from ..extras import require
from ..recognition.recognizer import check_not_bundled, model_file

if TYPE_CHECKING:
    pass


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Export a checkpoint to ONNX.", add_help=add_help)
    p.add_argument("--model", default="best_model.pth", help="checkpoint written by ferkit train")
    p.add_argument("--output", default="model.onnx", help="the ONNX file to write")
    p.add_argument("--fp16-weights", action="store_true",
                   help="store weights in fp16 (half the size; computes in fp32)")
    p.add_argument("--int8", metavar="TRAIN_DIR",
                   help="write an int8 model, calibrated on faces from TRAIN_DIR (e.g. "
                   "data/train); --model may then also be a .onnx model, or fp32 (the bundled "
                   "one)")
    p.add_argument("--calibration-faces", type=int, default=1024, metavar="N",
                   help="with --int8: how many faces to calibrate on")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="make flip test-time augmentation the model's default for predict and "
                   "evaluate (recorded in the metadata)")
    return p


def main(args: argparse.Namespace) -> None:
    args.model = str(model_file(args.model))  # a bundled model by its name too
    if Path(args.output).suffix.lower() != ".onnx":
        raise FerkitError(f"--output {args.output}: the file name must end in .onnx")
    check_not_bundled(args.output)
    if Path(args.output).resolve() == Path(args.model).resolve():
        raise FerkitError(f"--output {args.output} is the model being read: choose another name")
    if args.int8:
        return export_int8(args)
    if Path(args.model).suffix.lower() == ".onnx":
        raise FerkitError(f"{args.model} is already ONNX: export converts a .pth checkpoint "
                          "(--int8 TRAIN_DIR quantises an ONNX model)")
    require("`ferkit export`", "torch", "onnx")
    from ..recognition.checkpoint import load_model

    model, config = load_model(args.model)
    if args.tta is not None:
        config = {**config, "tta": args.tta}
    digest = export_onnx(model, config, args.output, fp16_weights=args.fp16_weights)
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB, "
          f"sha256 {digest[:16]}…): {config['arch']}, {config['img_size']}px, "
          f"classes {', '.join(config['classes'])}"
          + (", fp16 weights" if args.fp16_weights else "") + (", flip TTA" if config.get("tta")
                                                                else ""))


def export_int8(args: argparse.Namespace) -> None:
    """--int8: quantise a .onnx model, or a checkpoint exported to ONNX on the way."""
    import tempfile

    from ..export.int8 import calibration_faces, quantize_int8

    if args.fp16_weights or args.tta is not None:
        raise FerkitError("--int8 takes the model as it is: leave out --fp16-weights and --tta")
    if args.calibration_faces < 1:
        raise FerkitError("--calibration-faces must be 1 or more")
    source = Path(args.model)
    from_checkpoint = source.suffix.lower() != ".onnx"
    require("`ferkit export --int8`", "onnx", "sympy", *(("torch",) if from_checkpoint else ()))
    faces = calibration_faces(args.int8, args.calibration_faces)
    with tempfile.TemporaryDirectory() as tmp:
        if from_checkpoint:
            from ..recognition.checkpoint import load_model

            model, config = load_model(args.model)
            source = Path(tmp) / "fp32.onnx"
            export_onnx(model, config, source)
        elif not source.is_file():
            raise FerkitError(f"no such model: {source}")
        digest = quantize_int8(source, args.output, faces)
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB, "
          f"sha256 {digest[:16]}…): int8, calibrated on {len(faces)} faces from {args.int8}")
