"""Face boxes: what a detector returns (Detection), what any detector must do (Detector), and
the box geometry every detector shares: overlaps, MediaPipe's blending NMS, crops past an
image's edges, clipping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import FerkitError

# The smallest face a detector looks for unless told (min_face): this share of the image's
# shorter side.
DEFAULT_MIN_FACE = 0.18


@dataclass
class Detection:
    """A face box (x0, y0, x1, y1) in image pixels, its score, and keypoints (x, y). BlazeFace:
    right eye, left eye, nose tip, mouth, right ear, left ear (the subject's sides); CenterFace:
    the eyes, the nose tip and the mouth's corners (left to right in the image)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    def __setattr__(self, name: str, value) -> None:
        # plain floats however a detector computes them (a numpy float32 is not JSON)
        if name == "box":
            value = tuple(float(v) for v in value)
        elif name == "score":
            value = float(value)
        object.__setattr__(self, name, value)


class Detector(Protocol):
    """What a face detector must have. One that loads a part on first need may also have
    `warm()`, which loads it at once (the cascade's CenterFace); Recognizer.warm() calls it."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an HxWx3 uint8 RGB image."""
        ...


def check_min_face(min_face: float | None) -> None:
    if min_face is not None and not min_face > 0:
        raise FerkitError(f"the smallest face must be a positive size in pixels, not {min_face}")



def padded_crop(rgb: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A region of the image, black where it reaches past the edges."""
    x0, y0 = round(x0), round(y0)
    x1, y1 = max(round(x1), x0 + 1), max(round(y1), y0 + 1)
    h, w = rgb.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out



def iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 for boxes without area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU of box a [4] with each of boxes b [N, 4], and how much of the smaller of the two
    lies inside the other."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a + area_b - inter + 1e-9), inter / (np.minimum(area_a, area_b) + 1e-9)


SAME_SIZE = 1.25  # boxes of one face from one pyramid level; larger or smaller: another level


def weighted_nms(dets: list[Detection], threshold: float) -> list[Detection]:
    """MediaPipe's blending NMS: detections of one face from one pyramid level (IoU above the
    threshold, sides within SAME_SIZE) are averaged, weighted by score. A box of another
    size that overlaps as much, or lies mostly inside a better one or around it (a part of
    the face, or the face with its surroundings, seen at another level), is dropped, not
    blended: averaging the two would give a box that fits neither."""
    dets = sorted(dets, key=lambda d: -d.score)
    boxes = np.array([d.box for d in dets]).reshape(-1, 4)
    remaining = np.arange(len(dets))
    merged = []
    sides = np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
                               1e-9))
    while len(remaining):
        iou, inside = overlaps(boxes[remaining[0]], boxes[remaining])
        same = iou > threshold
        same[0] = True  # the best box is its own group, even a degenerate one
        alike = np.abs(np.log(sides[remaining] / sides[remaining[0]])) < np.log(SAME_SIZE)
        group = remaining[same & alike]
        weights = np.array([dets[i].score for i in group])[:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        kps = sum(dets[i].keypoints * dets[i].score for i in group) / weights.sum()
        merged.append(Detection(tuple(float(v) for v in box), dets[group[0]].score, kps))
        remaining = remaining[~(same | (inside > 0.65))]
    return merged


def clip_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(int(round(x0)), 0), max(int(round(y0)), 0),
            min(int(round(x1)), width), min(int(round(y1)), height))
