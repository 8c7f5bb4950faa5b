"""`python predict.py IMAGE [--show-all]` / `ferkit predict`: expressions of every face in
images, folders and globs."""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from .annotate import annotate_path
from .errors import FerkitError
from .recognizer import Face, Result, load

RULE = "=" * 50
BAR_WIDTH = 50
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".pgm",
                  ".ppm", ".jfif"}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Recognise the expression of every face in images, folders or globs.",
        add_help=add_help,
    )
    # fmt: off
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders or globs")
    p.add_argument("--model", help="a .onnx or .pth model (default: the bundled model)")
    p.add_argument("--show-all", action="store_true", help="a bar for every expression")
    p.add_argument("--no-detect", action="store_true",
                   help="treat each whole image as one face crop (pre-cropped data)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per image on stdout (JSON Lines)")
    p.add_argument("--output", metavar="FILE", help="also write results to FILE (.csv or .jsonl)")
    p.add_argument("--annotate", metavar="OUT",
                   help="draw boxes and labels: an image file for one input, else a folder")
    p.add_argument("--batch-size", type=int, default=64, help="faces per model call")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    p.add_argument("--quiet", action="store_true", help="no per-image text (with --output)")
    # fmt: on
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


def format_result(result: Result, show_all: bool, header: bool) -> str:
    parts = [f"\n{result.source}"] if header else []
    if not result.faces:
        parts.append(f"No face found in {result.source}.")
    for i, face in enumerate(result.faces, 1):
        if len(result.faces) > 1:
            parts.append(f"Face {i} of {len(result.faces)} at {face.box}:")
        parts.append(format_face(face, show_all))
    return "\n".join(parts)


def expand_inputs(specs: list[str]) -> Iterator[Path]:
    """Files as given; folders as their image files (recursively, sorted); globs expanded.
    Yields lazily so a huge folder streams."""
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    yield p
        elif not path.exists() and glob.has_magic(spec):
            matches = sorted(glob.iglob(spec, recursive=True))
            if not matches:
                yield path  # reported as missing, like any other path
            yield from (Path(m) for m in matches)
        else:
            yield path


def is_single(specs: list[str]) -> bool:
    """One path that is not a folder or a glob: answered in the brief's plain form."""
    if len(specs) != 1:
        return False
    path = Path(specs[0])
    return not path.is_dir() and (path.exists() or not glob.has_magic(specs[0]))


class Writer:
    """--output: rows to a CSV file or objects to a JSON Lines file, as results stream."""

    def __init__(self, path: str, classes: list[str], stack: ExitStack):
        self.kind = Path(path).suffix.lower()
        if self.kind not in (".csv", ".jsonl"):
            raise FerkitError(f"--output {path}: use a .csv or .jsonl file name")
        # closed by the caller's ExitStack, which also closes the progress bar
        self.file = stack.enter_context(open(path, "w", newline="", encoding="utf-8"))  # noqa: SIM115
        self.classes = classes
        if self.kind == ".csv":
            self.csv = csv.writer(self.file)
            self.csv.writerow(["image", "face", "x0", "y0", "x1", "y1", "label", "confidence",
                               *classes, "error"])

    def write(self, result: Result) -> None:
        if self.kind == ".jsonl":
            self.file.write(json.dumps(result_dict(result)) + "\n")
            return
        if result.error or not result.faces:
            self.csv.writerow([result.source, "", "", "", "", "", "", "",
                               *[""] * len(self.classes), result.error or "no face"])
        for i, f in enumerate(result.faces, 1):
            self.csv.writerow([result.source, i, *f.box, f.label, f"{f.confidence:.6f}",
                               *(f"{f.probs[c]:.6f}" for c in self.classes), ""])


def result_dict(result: Result) -> dict:
    if result.error:
        return {"image": str(result.source), "error": result.error}
    return {"image": str(result.source), "size": list(result.size),
            "faces": [f.to_dict() for f in result.faces]}


def main(args: argparse.Namespace) -> int:
    recognizer = load(args.model, tta=args.tta)
    single = is_single(args.images)

    failed = seen = 0
    with ExitStack() as stack:
        writer = Writer(args.output, recognizer.classes, stack) if args.output else None
        results = recognizer.predict_many(expand_inputs(args.images), detect=not args.no_detect,
                                          batch_size=args.batch_size)
        if not single and sys.stderr.isatty():
            from tqdm import tqdm

            total = sum(1 for _ in expand_inputs(args.images))  # a cheap listing, no decoding
            results = stack.enter_context(tqdm(results, total=total, unit="img",
                                               desc="predicting"))
        for result in results:
            seen += 1
            if result.error:
                if single:
                    raise FerkitError(result.error)
                print(f"error: {result.error}", file=sys.stderr)
                failed += 1
            elif args.annotate:
                annotate_path(result, recognizer.classes, args.annotate, single)
            if writer:
                writer.write(result)
            if args.json:
                print(json.dumps(result_dict(result)), flush=True)
            elif not args.quiet and not result.error:
                print(format_result(result, args.show_all, header=not single), flush=True)
    if failed:
        print(f"{failed} of {seen} image(s) could not be read", file=sys.stderr)
    return 2 if failed else 0
