"""FER2013's framing: the square around a detected face the classifier is given (as FER2013
crops its faces), cut from the picture and turned upright when the face leans."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..io.images import rgb_to_gray
from .boxes import Detection

# The crop around a BlazeFace box that classifies FER2013 faces placed in photos best: a square
# 1.05x the box's side, centred 0.09 box-heights above the box's centre (FER2013 keeps more
# forehead than chin). FER2013's own frame is 1.2x the box, but the detector's box varies from
# face to face and a tighter crop is safer (docs/face_detection.md).
CROP_SCALE = 1.05
CROP_SHIFT = -0.09
# FER2013's faces lean up to ~15 degrees and the classifier trained with rotations of up to 15
# more: a face leaning further is turned back by the excess only, so that upright and slightly
# tilted faces are cropped untouched (docs/face_detection.md).
MAX_ROLL = 15.0
# FER2013's own frame around a BlazeFace box (median over PublicTest): where the face square is.
FRAME_SCALE = 1.2


def crop_square(box, scale: float = CROP_SCALE,
                shift: float = CROP_SHIFT) -> tuple[int, int, int, int]:
    """The square around a detected face that matches FER2013's framing, in image pixels
    (it may reach past the image's edges)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + shift * (y1 - y0)
    half = scale * max(x1 - x0, y1 - y0) / 2
    left, top = int(round(cx - half)), int(round(cy - half))
    side = max(int(round(2 * half)), 1)
    return left, top, left + side, top + side


def fer_crop(image: np.ndarray, box, scale: float = CROP_SCALE,
             shift: float = CROP_SHIFT, roll: float = 0.0) -> np.ndarray:
    """The crop_square of a detected face from a grey (HxW) or RGB (HxWx3) image, as grey;
    regions outside the image are filled by edge replication. A face rolled by more than
    MAX_ROLL degrees (`roll`: face_roll of its detection) is first turned back by the excess,
    about its box's centre."""
    left, top, right, bottom = crop_square(box, scale, shift)
    excess = math.copysign(max(abs(roll) - MAX_ROLL, 0.0), roll)
    if not excess:
        crop = _replicated(image, left, top, right, bottom)
        return rgb_to_gray(crop) if image.ndim == 3 else crop
    # a region about the box's centre that still covers the square once turned
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    r = math.ceil(max(math.hypot(x - cx, y - cy) for x in (left, right) for y in (top, bottom)))
    rl, rt = math.floor(cx) - r - 1, math.floor(cy) - r - 1
    region = _replicated(image, rl, rt, rl + 2 * r + 3, rt + 2 * r + 3)
    gray = Image.fromarray(rgb_to_gray(region) if image.ndim == 3 else region)
    upright = gray.rotate(excess, resample=Image.Resampling.BILINEAR, center=(cx - rl, cy - rt))
    return np.asarray(upright.crop((left - rl, top - rt, right - rl, bottom - rt)))


def _replicated(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """image[top:bottom, left:right], edge pixels repeated where it reaches past the image."""
    h, w = image.shape[:2]
    if left >= 0 and top >= 0 and right <= w and bottom <= h:
        return image[top:bottom, left:right]
    ys = np.clip(np.arange(top, bottom), 0, h - 1)
    xs = np.clip(np.arange(left, right), 0, w - 1)
    return image[np.ix_(ys, xs)]


def face_roll(det: Detection) -> float:
    """How far the face leans, in degrees (clockwise in the image, 0: eyes level), from its
    first two keypoints (the eyes, left to right in the image, for BlazeFace and CenterFace);
    0 where there are no such keypoints."""
    points = np.asarray(det.keypoints, dtype=float).reshape(-1, 2)
    if len(points) < 2 or points[1, 0] <= points[0, 0]:
        return 0.0
    (x0, y0), (x1, y1) = points[:2]
    return math.degrees(math.atan2(y1 - y0, x1 - x0))
