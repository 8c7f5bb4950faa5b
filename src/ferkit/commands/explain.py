"""`ferkit explain IMAGE`: which parts of each face its expression was read from (the picture
ferkit.recognition.explanation draws)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FerkitError
from ..io.annotate import save_image
from ..io.urls import Url, is_url, url_name
from ..recognition.explanation import Explanation, explain, explanation_figure
from ..recognition.recognizer import load
from .common import MODEL_HELP, add_detector_args, small_faces_note

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # what `ferkit explain -o` writes


def describe(item: Explanation, index: int, count: int) -> str:
    """One line per face: what it was read as, and from which half of the face."""
    where = f"Face {index} of {count} at {item.face.box}: " if count > 1 else ""
    lower = 1 - item.upper_share()
    half = "lower face (nose, mouth)" if lower >= 0.5 else "upper face (eyes, brows)"
    return (f"{where}{item.face.label.upper()} {item.face.confidence:.2%}, read mostly from "
            f"the {half}: {max(lower, 1 - lower):.0%} of the evidence")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Show which parts of each face an expression was read from: every part "
        "hidden in turn, the face classified again (occlusion sensitivity).",
        add_help=add_help)
    p.add_argument("image", metavar="IMAGE", help="an image file or http(s) URL")
    p.add_argument("--output", "-o", metavar="PNG",
                   help="the picture to write (default: IMAGE's name + _explained.png, here)")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--no-detect", action="store_true",
                   help="treat the whole image as one face crop (pre-cropped data)")
    p.add_argument("--top", type=int, default=2,
                   help="explain each face's N most likely expressions (default 2)")
    p.add_argument("--max-faces", type=int, metavar="N",
                   help="explain only the N largest faces (default: every face)")
    add_detector_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    source = Url(args.image) if is_url(args.image) else Path(args.image)
    output = Path(args.output or f"{stem(args.image)}_explained.png")
    if output.suffix.lower() not in PICTURE_SUFFIXES:
        raise FerkitError(f"--output {output}: use a file name ending in "
                          + ", ".join(PICTURE_SUFFIXES))
    if args.max_faces is not None and args.max_faces < 1:
        raise FerkitError(f"--max-faces {args.max_faces}: explain 1 face or more")
    rec = load(args.model, detector=args.detector, min_face=args.min_face)
    if not 1 <= args.top <= len(rec.classes):
        raise FerkitError(f"--top {args.top}: choose 1 to {len(rec.classes)} expressions")
    found = explain(rec, source, detect=not args.no_detect, max_faces=args.max_faces)
    if not found:
        print(f"No face found in {args.image}.")
        if args.min_face is None:
            print(small_faces_note(1), file=sys.stderr)
        return 0
    for i, item in enumerate(found, 1):
        print(describe(item, i, len(found)))
    save_image(explanation_figure(found, args.top), output)
    print(f"-> {output}")
    return 0


def stem(image: str) -> str:
    return Path(url_name(image) if is_url(image) else image).stem
