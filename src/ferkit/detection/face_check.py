"""A second opinion on face candidates: a small network that looks at the square a candidate
would be cropped to (FER2013's framing, 48x48 grey, as FER2013 itself is) and says whether it
holds a face, and where FER2013's frame around that face lies.

CenterFace uses it on the candidates too weak to be faces on their own (docs/face_detection.md):
it tells the faces among them from textures far better than another look by a detector
does, and re-framing every face moves loose boxes onto the face. The network (211 k
parameters, ~27 M multiply-adds a look) was trained by tools/make_face_check.py on the
candidates both detectors propose in scenes made of FER2013's *training* faces pasted on
photos and textures the scene benchmark does not use, beside non-face squares pasted the same
way, so that a pasted square's edges alone do not make a face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from .assets import FACE_CHECK
from .boxes import Detection, padded_crop
from .framing import CROP_SHIFT, FRAME_SCALE, crop_square
from .passes import session_options

SIZE = 48  # FER2013's own size


class FaceCheck:
    """Whether each candidate box holds a face, and the box it should have."""

    def __init__(self, model: str | Path = FACE_CHECK, threads: int | None = None):
        self.session = ort.InferenceSession(str(model), session_options(threads),
                                            providers=["CPUExecutionProvider"])

    def look(self, rgb: np.ndarray, dets: list[Detection]) -> tuple[np.ndarray, list[Detection]]:
        """For each candidate (its box in BlazeFace's convention), the probability that it
        is a face, and the candidate with its box moved to where the network frames the face
        (same score and keypoints)."""
        if not dets:
            return np.zeros(0, np.float32), []
        frames = [crop_square(d.box, FRAME_SCALE) for d in dets]
        x = np.stack([frame_pixels(rgb, f) for f in frames])[:, None].astype(np.float32)
        out = self.session.run(None, {"crops": x})[0]
        probability = 1.0 / (1.0 + np.exp(-np.clip(out[:, 0], -80, 80)))
        moved = [Detection(box_of(moved_frame(f, o[1:])), d.score, d.keypoints)
                 for d, f, o in zip(dets, frames, out, strict=True)]
        return probability, moved


def frame_pixels(rgb: np.ndarray, frame: tuple[int, int, int, int]) -> np.ndarray:
    """The network's input: the frame's pixels, grey, 48x48 (black past the image's edges)."""
    crop = Image.fromarray(padded_crop(rgb, *frame)).convert("L")
    return np.asarray(crop.resize((SIZE, SIZE), Image.Resampling.BILINEAR))


def moved_frame(frame, shift: np.ndarray) -> tuple[float, float, float, float]:
    """The frame moved by (dx, dy) frame sides and scaled by exp(ds)."""
    side = frame[2] - frame[0]
    cx = (frame[0] + frame[2]) / 2 + float(shift[0]) * side
    cy = (frame[1] + frame[3]) / 2 + float(shift[1]) * side
    half = side * float(np.exp(np.clip(shift[2], -1.0, 1.0))) / 2
    return cx - half, cy - half, cx + half, cy + half


def box_of(frame) -> tuple[float, float, float, float]:
    """The BlazeFace-convention box whose FER2013 frame (crop_square(box, FRAME_SCALE)) is
    `frame`."""
    side = (frame[2] - frame[0]) / FRAME_SCALE
    cx, cy = (frame[0] + frame[2]) / 2, (frame[1] + frame[3]) / 2 - CROP_SHIFT * side
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
