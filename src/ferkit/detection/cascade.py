"""The cascade: BlazeFace, and CenterFace on a picture where BlazeFace finds no face
(`--detector cascade`, `ferkit.load(detector="cascade")`).

BlazeFace is fast and finds the faces of most photos; what it misses whole are faces it
cannot see at all: close-ups cut at the chin or the forehead that even its close-up look
rejects, dark or blurred film stills. CenterFace, ~3.5x slower, finds most of those, so the
cascade costs BlazeFace's time on a picture with a face and both detectors' on one without
(docs/face_detection.md, docs/realworld.md).
"""

from __future__ import annotations

import numpy as np

from .blazeface import BlazeFace
from .boxes import Detection, check_min_face
from .face_check import FaceCheck


class Cascade:
    """BlazeFace's faces, re-framed by the face check; where it finds none, CenterFace's."""

    def __init__(self, min_face: float | None = None, threads: int | None = None,
                 reframe: bool = True):
        """min_face: the smallest face box to look for, in pixels (default 18% of the image's
        shorter side), for both detectors. reframe=False: BlazeFace's boxes as it gives them
        (CenterFace's are always re-framed by its own face check)."""
        check_min_face(min_face)
        self.min_face = min_face
        self.threads = threads
        face_check = FaceCheck(threads=threads) if reframe else None
        self.first = BlazeFace(min_face=min_face, threads=threads, face_check=face_check)
        self._second = None

    @property
    def face_check(self) -> FaceCheck | None:
        """The face check that re-frames BlazeFace's faces (None: reframe=False)."""
        return self.first.face_check

    @property
    def second(self):
        """CenterFace, loaded the first time a picture needs it (or by warm())."""
        self.warm()
        return self._second

    def warm(self) -> None:
        """Load CenterFace now, not on the first picture without a face (~0.2 s). It shares
        this cascade's BlazeFace and face check rather than loading its own."""
        if self._second is None:
            from .centerface import CenterFace

            self._second = CenterFace(min_face=self.min_face, threads=self.threads,
                                      verifier=self.first, face_check=self.first.face_check)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.first.detect(rgb) or self.second.detect(rgb)
