"""What several commands share: the model flag's help, the detector flags, the note after
pictures with no face, the batch size's check."""

from __future__ import annotations

import argparse

from ..detection import DEFAULT_DETECTOR, DETECTORS
from ..detection.boxes import DEFAULT_MIN_FACE
from ..errors import FerkitError

MODEL_HELP = ("a .onnx or .pth model, or a bundled one: int8 (the default) or fp32 (the same "
              "model unquantised: slower on CPUs, as accurate within chance)")


def add_detector_args(p: argparse.ArgumentParser, when: str = "",
                      default: str = DEFAULT_DETECTOR) -> None:
    """--detector and --min-face, shared by predict, video, serve and evaluate."""
    # not choices=: a wrong name gets ferkit's one-line error (from load), not argparse's usage
    p.add_argument("--detector", default=default, metavar="{" + ",".join(DETECTORS) + "}",
                   help=f"{when}face detector: cascade (BlazeFace, and CenterFace on a picture "
                   "where it finds no face), blazeface (fast; ~30 ms less on a picture with no "
                   "face) or centerface (finds more small and unclear faces, ~3.5x slower); "
                   f"default {default}")
    p.add_argument("--min-face", type=float, metavar="PX",
                   help=f"{when}smallest face to look for, box side in pixels (default: 18%% "
                   "of the image's shorter side; smaller is slower)")


def small_faces_note(count: int, what: str = "image(s)") -> str:
    """After pictures with no face, found looking for faces of the default size: how to look
    for smaller ones (a group photographed from a few metres has faces of 3-6% of it)."""
    return (f"note: no face found in {count} {what}; faces smaller than "
            f"{DEFAULT_MIN_FACE:.0%} of a picture's shorter side are only looked for when asked: "
            "--min-face 40 finds faces down to 40 px, more slowly")



def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise FerkitError(f"--batch-size {batch_size}: use 1 or more faces per call")

