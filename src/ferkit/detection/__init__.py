"""Face detection: the detectors ferkit ships, by name.

BlazeFace (blazeface.py) is fast. CenterFace (centerface.py) is the slower, sharper
alternative, with the face check (face_check.py) as its second opinion. The cascade
(cascade.py), the default for pictures, is BlazeFace, and CenterFace where it finds no face;
`ferkit video` uses BlazeFace alone unless told otherwise (a frame without a face costs it
~8 ms at 640x480 on two cores, the cascade ~38 ms). Any object with `detect(rgb: np.ndarray)
-> list[Detection]` can replace them (boxes.py); framing.py crops a detected face as FER2013
crops its faces.
"""

from __future__ import annotations

from ..errors import FerkitError
from .blazeface import BlazeFace
from .boxes import DEFAULT_MIN_FACE, Detection, Detector, check_min_face
from .face_check import FaceCheck

DETECTORS = ("cascade", "blazeface", "centerface")
DEFAULT_DETECTOR = "cascade"  # for pictures
VIDEO_DETECTOR = "blazeface"  # for video frames


def open_detector(name: str = DEFAULT_DETECTOR, reframe: bool = True, **options) -> Detector:
    """A shipped detector by name: "cascade" (BlazeFace, and CenterFace on a picture where it
    finds no face; the default), "blazeface" (fast) or "centerface" (finds more small and
    unclear faces, ~3.5x slower); options go to its constructor (threads, min_face, and for
    the last two score_threshold, ...). reframe: BlazeFace's faces re-framed by the face
    check onto FER2013's framing (False: its boxes as it gives them); CenterFace's always are,
    by the face check that also sorts its candidates."""
    check_detector(name)
    if name == "centerface":
        from .centerface import CenterFace  # loaded only when asked for

        return CenterFace(**options)
    if name == "cascade":
        from .cascade import Cascade

        return Cascade(reframe=reframe, **options)
    if reframe and "face_check" not in options:
        options["face_check"] = FaceCheck(threads=options.get("threads"))
    return BlazeFace(**options)


def check_detector(name: str) -> None:
    if name not in DETECTORS:
        raise FerkitError(f"unknown face detector {name!r}: choose {', '.join(DETECTORS)}")


__all__ = ["DEFAULT_DETECTOR", "DEFAULT_MIN_FACE", "DETECTORS", "VIDEO_DETECTOR", "BlazeFace",
           "Detection", "Detector", "check_detector", "check_min_face", "open_detector"]
