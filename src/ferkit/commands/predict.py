"""`python predict.py IMAGE [--show-all]` / `ferkit predict`: expressions of every face in
images, folders, globs and URLs."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from ..errors import FerkitError
from ..io.annotate import Album, annotate_file
from ..io.inputs import expand_inputs, is_single
from ..io.records import get_writer, to_json
from ..io.results import Face, Result
from ..recognition.recognizer import load
from ..video.frames import VIDEO_SUFFIXES
from .common import MODEL_HELP, add_detector_args, check_batch_size, small_faces_note

RULE = "=" * 50
BAR_WIDTH = 50


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Recognise the expression of every face in images, folders, globs or URLs.",
        add_help=add_help,
    )
    # fmt: off
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files, folders, globs or http(s) URLs; - reads one image piped in")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--show-all", action="store_true", help="a bar for every expression")
    p.add_argument("--no-detect", action="store_true",
                   help="treat each whole image as one face crop (pre-cropped data)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per image on stdout (JSON Lines)")
    p.add_argument("--output", metavar="FILE",
                   help="also write results to FILE: .jsonl (an object per image), .csv or "
                        ".parquet (a row per face; Parquet needs pyarrow)")
    p.add_argument("--annotate", metavar="OUT",
                   help="draw boxes and labels: an image file for one input, else a folder")
    p.add_argument("--batch-size", type=int, default=64, help="faces per model call")
    add_detector_args(p)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    p.add_argument("--quiet", action="store_true", help="no per-image text (with --output)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray Data (pip install 'ferkit[ray]'): a local Ray, or the "
                        "cluster at ADDRESS ('auto': the running one); needs --output "
                        "(.parquet, .csv, .jsonl); inputs may be object-storage URIs")
    p.add_argument("--actors", type=int, default=2, help="with --ray: model actors")
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


class Piped(bytes):
    """`-`: an image read from standard input, called "-" wherever results name their image
    (bytes, not a stream: --annotate reads the image again)."""

    name = "-"

    def __str__(self) -> str:
        return self.name


def inputs(specs: list[str], empty: list[str]) -> Iterator[Path | Piped]:
    """What `ferkit predict` reads: the files, folders and globs given, or one image piped in."""
    if "-" not in specs:
        return expand_inputs(specs, empty=empty)
    if len(specs) > 1:
        raise FerkitError("- (an image piped in) goes alone, without other inputs")
    if sys.stdin is None or sys.stdin.isatty():
        raise FerkitError("- reads an image piped in, and nothing is: "
                          "e.g. curl -s URL | ferkit predict -")
    return iter([Piped(sys.stdin.buffer.read())])


def read_error(result: Result) -> str:
    """Why an input could not be read; a video file is pointed to `ferkit video`."""

    path = Path(str(result.source))
    if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
        return f"{result.error} (a video: `ferkit video {path}` analyses videos)"
    return result.error


def main(args: argparse.Namespace) -> int:
    check_batch_size(args.batch_size)
    if args.ray is not None:
        return main_ray(args)
    recognizer = load(args.model, tta=args.tta, detector=args.detector,
                      min_face=args.min_face)
    single = is_single(args.images)

    failed = seen = faceless = 0
    labels: Counter[str] = Counter()
    album = Album(args.annotate) if args.annotate and not single else None
    empty: list[str] = []
    start = time.perf_counter()
    with ExitStack() as stack:
        writer = stack.enter_context(get_writer(args.output, recognizer.classes))
        results = recognizer.predict_many(inputs(args.images, empty),
                                          detect=not args.no_detect, batch_size=args.batch_size)
        if not single and sys.stderr.isatty():
            from tqdm import tqdm

            total = sum(1 for _ in expand_inputs(args.images))  # a cheap listing, no decoding
            results = stack.enter_context(tqdm(results, total=total, unit="img",
                                               desc="predicting"))
        for result in results:
            seen += 1
            if result.error:
                if single:
                    raise FerkitError(read_error(result))
                print(f"error: {read_error(result)}", file=sys.stderr)
                failed += 1
            else:
                faceless += not result.faces
                labels.update(face.label for face in result.faces)
                if album:
                    album.add(result, recognizer.classes)
                elif args.annotate:
                    annotate_file(result, recognizer.classes, args.annotate)
            writer.write(result.to_dict())
            if args.json:
                print(to_json(result.to_dict()), flush=True)
            elif not args.quiet and not result.error:
                print(format_result(result, args.show_all, header=not single), flush=True)
    if faceless and args.min_face is None and not args.no_detect:
        print(small_faces_note(faceless), file=sys.stderr)
    for message in empty:
        print(f"error: {message}", file=sys.stderr)
    if not single and seen:
        line = summary(seen, labels, faceless, failed, time.perf_counter() - start, args.output)
        print(line, file=sys.stderr)
        if album and album.pictures:
            album.write_index(line)
    return 2 if failed or empty else 0


def summary(images: int, labels: Counter, faceless: int, failed: int, seconds: float,
            output: str | None) -> str:
    """The last line of a run over several images: what was found, at a glance."""
    faces = sum(labels.values())
    found = ", ".join(f"{name} {n}" for name, n in labels.most_common())
    return (f"{images} image(s): {faces} face(s)" + (f" ({found})" if found else "")
            + (f", no face in {faceless}" if faceless else "")
            + (f", {failed} unreadable" if failed else "")
            + f", in {seconds:.1f}s" + (f" -> {output}" if output else ""))


def main_ray(args: argparse.Namespace) -> int:
    """`--ray`: the same records, computed by Ray Data, written to --output."""
    if not args.output:
        raise FerkitError("--ray writes its rows to --output FILE (.parquet, .csv or .jsonl)")
    if args.annotate or args.json:
        raise FerkitError("--ray writes --output only; --annotate and --json are local")
    if "-" in args.images:
        raise FerkitError("--ray reads files; an image piped in (-) is read without --ray")
    if args.actors < 1:
        raise FerkitError("--actors must be 1 or more")
    try:
        from .. import ray as ferkit_ray
    except ImportError as e:
        raise FerkitError(f"--ray needs Ray Data ({e.name}): pip install 'ferkit[ray]'") from e
    images = faces = errors = 0
    start = time.perf_counter()
    with ferkit_ray.native_logs_to():
        for record in ferkit_ray.predict_images(
                args.images, args.output, model=args.model, detect=not args.no_detect,
                tta=args.tta, detector=args.detector, min_face=args.min_face,
                actors=args.actors, batch_size=args.batch_size,
                address=args.ray or None, progress=sys.stderr.isatty()):
            images += 1
            faces += len(record["faces"])
            if record["error"]:
                errors += 1
                print(f"error: {record['error']}", file=sys.stderr)
    print(f"{images} image(s), {faces} face(s), {errors} unreadable, in "
          f"{time.perf_counter() - start:.1f}s -> {args.output}")
    return 2 if errors else 0
