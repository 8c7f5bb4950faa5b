"""`python predict.py IMAGE [--show-all]` / `ferkit predict`: expressions in images."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import FerkitError
from .recognizer import Face, load

RULE = "=" * 50
BAR_WIDTH = 50


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Recognise the expression in images.",
                                add_help=add_help)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s)")
    p.add_argument("--model", help="a .onnx or .pth model (default: the bundled model)")
    p.add_argument("--show-all", action="store_true", help="a bar for every expression")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    return p


def format_face(face: Face, show_all: bool) -> str:
    """The brief's banner, plus one bar per expression with show_all."""
    lines = [
        RULE,
        f"Predicted Emotion: {face.label.upper()}",
        f"Confidence: {face.confidence * 100:.2f}%",
        RULE,
    ]
    if show_all:
        lines.append("")
        lines.append("All emotions:")
        for name, p in face.probs.items():
            lines.append(f"{name:<10}: {p * 100:5.2f}% {'█' * round(p * BAR_WIDTH)}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    recognizer = load(args.model, tta=args.tta)
    results, failed = [], 0
    for path in args.images:
        try:
            faces = recognizer.predict(path)
        except FerkitError as e:
            if len(args.images) == 1:
                raise
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            results.append({"image": path, "error": str(e)})
            continue
        results.append({"image": path, "faces": [f.to_dict() for f in faces]})
        if not args.json:
            if len(args.images) > 1:
                print(f"\n{path}")
            print("\n\n".join(format_face(f, args.show_all) for f in faces), flush=True)
    if args.json:
        print(json.dumps({"model": str(recognizer.backend.path), "results": results}, indent=2))
    return 2 if failed else 0
