"""Face detection: the detectors ferkit ships, by name.

BlazeFace (blazeface.py) is the default: fast. CenterFace (centerface.py) is the slower,
sharper alternative, with the face check (face_check.py) as its second opinion. Any object
with `detect(rgb: np.ndarray) -> list[Detection]` can replace them (boxes.py); framing.py
crops a detected face as FER2013 crops its faces.
"""

from __future__ import annotations

from ..errors import FerkitError
from .blazeface import BlazeFace
from .boxes import DEFAULT_MIN_FACE, Detection, Detector, check_min_face

DETECTORS = ("blazeface", "centerface")


def open_detector(name: str = "blazeface", **options) -> Detector:
    """A shipped detector by name: "blazeface" (fast; the default) or "centerface" (finds
    more small and unclear faces, ~3.5x slower); options go to its constructor (threads,
    min_face, score_threshold, ...)."""
    check_detector(name)
    if name == "centerface":
        from .centerface import CenterFace  # loaded only when asked for

        return CenterFace(**options)
    return BlazeFace(**options)


def check_detector(name: str) -> None:
    if name not in DETECTORS:
        raise FerkitError(f"unknown face detector {name!r}: choose {' or '.join(DETECTORS)}")


__all__ = ["DEFAULT_MIN_FACE", "DETECTORS", "BlazeFace", "Detection", "Detector",
           "check_detector", "check_min_face", "open_detector"]
