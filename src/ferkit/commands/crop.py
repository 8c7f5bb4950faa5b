"""`ferkit crop`: a folder of photos -> the same tree of grey face crops, framed as FER2013's
faces are, to train or evaluate on (`ferkit crop my_photos my_faces`, then
`ferkit train --data my_faces`)."""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import FerkitError
from ..io.ahead import read_ahead
from ..io.atomic import atomic_write
from ..io.images import open_image
from ..io.inputs import expand_inputs
from ..recognition.recognizer import load
from .common import add_detector_args, small_faces_note

LOG = "crops.csv"  # in the output folder: where each crop came from, and the photos without one


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Find the largest face in every photo of a folder (a dataset laid out as "
        "DIR/<class>/*.jpg, or DIR/{train,test}/<class>/) and write it as a grey face crop "
        "at the same place in a new folder, framed as ferkit frames faces it recognises.",
        add_help=add_help)
    p.add_argument("input", help="a folder of photos (searched recursively)")
    p.add_argument("output", help="a new or empty folder for the crops (PNG), or one an earlier "
                   "ferkit crop wrote: photos it cropped are skipped, new ones added")
    p.add_argument("--size", type=int, default=96,
                   help="side of the square crops in pixels (96, the bundled model's input; "
                   "48 matches FER2013's)")
    add_detector_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    src, out = Path(args.input), Path(args.output)
    if not 8 <= args.size <= 1024:
        raise FerkitError(f"--size {args.size}: choose a side from 8 to 1024 pixels")
    photos = photo_files(src)
    done = previous_run(src, out, args.size)
    todo = [p for p in photos if p.relative_to(src).as_posix() not in done]
    recognizer = load(detector=args.detector, min_face=args.min_face)
    rows, skipped = list(done.values()), []
    names = crop_names([photo.relative_to(src) for photo in photos])
    try:
        # the next photo is decoded (at full size: crops may be larger than the classifier's
        # input) while the face of this one is found
        photos_read = read_ahead(open_image, todo, errors=FerkitError)
        for photo, image in tqdm(photos_read, total=len(todo), desc="cropping", unit="photo",
                                 file=sys.stderr, disable=not sys.stderr.isatty()):
            rel = photo.relative_to(src)
            try:
                if isinstance(image, FerkitError):
                    raise image
                found = recognizer.main_face(image, reduce=False)
            except FerkitError as e:
                skipped.append(str(e))
                continue
            if found is None:
                rows.append([rel.as_posix(), "", "", "", "", ""])
                continue
            box, face = found
            save_crop(face, args.size, out / names[rel])
            rows.append([rel.as_posix(), names[rel].as_posix(), *box])
    finally:
        # interrupted too: the next run into this folder goes on from here
        if any(row[1] for row in rows):
            write_log(out / LOG, sorted(rows))
    new = rows[len(done):]
    faces = sum(1 for row in new if row[1])
    if skipped and not rows:
        raise FerkitError(f"all {len(skipped)} photos in {src} were skipped: {skipped[0]}")
    if not any(row[1] for row in rows):
        raise FerkitError(f"no face found in any of the {len(rows)} readable photos in {src}"
                          + (f" ({len(skipped)} unreadable)" if skipped else ""))
    print(f"wrote {faces} face crops ({args.size}x{args.size}) from {len(todo)} photos to "
          f"{out}" + (f" ({len(done)} photos cropped before were left as they were)"
                      if done else "") + f"; where each came from: {out / LOG}")
    missing = len(new) - faces
    if missing:
        print(f"no face found in {missing} photo(s) (their rows in {LOG} have no crop)")
        if args.min_face is None:
            print(small_faces_note(missing, "photo(s)"), file=sys.stderr)
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) (first: {skipped[0]})",
              file=sys.stderr)
    return 0


def photo_files(src: Path) -> list[Path]:
    """Every image file under src, as `ferkit predict` finds them in a folder, less hidden
    files and folders."""
    if not src.exists():
        raise FerkitError(f"no such folder: {src}")
    if not src.is_dir():
        raise FerkitError(f"{src} is not a folder (ferkit crop reads a folder of photos)")
    empty: list[str] = []
    photos = [p for p in expand_inputs([str(src)], empty=empty)
              if not any(part.startswith(".") for part in p.relative_to(src).parts)]
    if not photos:
        raise FerkitError(empty[0] if empty else f"no image files in {src} but hidden ones")
    return photos


def previous_run(src: Path, out: Path, size: int) -> dict[str, list[str]]:
    """The rows of an earlier `ferkit crop` into `out` (interrupted, or before more photos
    came), by photo: those photos are not cropped again. {} for a new or empty folder; any
    other folder is refused, so nothing in it is overwritten."""
    if out.resolve().is_relative_to(src.resolve()):
        raise FerkitError(f"{out} is inside {src}: write the crops outside the photos' folder")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return {}
    if not out.is_dir() or not (out / LOG).is_file():
        raise FerkitError(f"{out} already exists and is not an empty folder or one that "
                          f"`ferkit crop` wrote: choose a new one")
    with open(out / LOG, newline="") as f:
        rows = list(csv.reader(f))[1:]
    first_crop = next((out / row[1] for row in rows
                       if len(row) > 1 and row[1] and (out / row[1]).is_file()), None)
    if first_crop:
        with Image.open(first_crop) as first:
            if first.size != (size, size):
                raise FerkitError(f"{out} holds {first.width}x{first.height} crops: --size "
                                  f"{first.width} adds to them, a new folder takes --size {size}")
    return {row[0]: row for row in rows if row}


def crop_names(photos: list[Path]) -> dict[Path, Path]:
    """Each photo's crop: its name as a PNG, or its full name + .png where photos of one folder
    share a stem (a.jpg and a.png -> a.jpg.png and a.png.png)."""
    stems = Counter(p.with_suffix("") for p in photos)
    return {p: p.with_suffix(".png") if stems[p.with_suffix("")] == 1
            else p.with_name(p.name + ".png") for p in photos}


def save_crop(face: np.ndarray, size: int, path: Path) -> None:
    crop = Image.fromarray(face).resize((size, size), Image.Resampling.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: crop.save(tmp, format="PNG"))


def write_log(path: Path, rows: list[list]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["photo", "crop", "x0", "y0", "x1", "y1"])
            out.writerows(rows)

    atomic_write(path, write)
