"""Face detection and FER2013-style cropping.

The default detector is MediaPipe's BlazeFace short-range model (Apache-2.0), converted from
the .tflite in the mediapipe 0.10.21 wheel to ONNX and shipped in assets/, so it runs on ONNX
Runtime like the classifier: no extra dependency, ~2 ms per pass on a laptop CPU. See
docs/face_detection.md for the comparison with other detectors and how the file was made.

Any object with `detect(rgb: np.ndarray) -> list[Detection]` can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from PIL import Image

ASSETS = Path(__file__).parent / "assets"
BLAZEFACE = ASSETS / "blazeface_short_range.onnx"


@dataclass
class Detection:
    """A face box (x0, y0, x1, y1) in image pixels, its score, and 6 keypoints (x, y):
    right eye, left eye, nose tip, mouth, right ear, left ear (the subject's sides)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray


class Detector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an HxWx3 uint8 RGB image."""
        ...


def _ssd_anchors() -> np.ndarray:
    """BlazeFace short-range anchor centres: strides 8 (2 per cell) and 16 (6 per cell)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = 128 // stride
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(centres, np.float32)


class BlazeFace:
    """BlazeFace on ONNX Runtime, on the whole image and on overlapping tiles, so that small
    faces in group photos are found too (the model sees 128x128)."""

    size = 128

    def __init__(self, model: str | Path = BLAZEFACE, score_threshold: float = 0.6,
                 iou_threshold: float = 0.3, tiles: bool = True, threads: int | None = None):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.anchors = _ssd_anchors()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.tiles = tiles

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        tiles = self._tiles(w, h) if self.tiles else []
        # Resize once, so that a tile is exactly the model's input size: tiles are then plain
        # slices and the whole-image pass a small resize.
        tile_side = tiles[0][2] - tiles[0][0] if tiles else max(w, h)
        factor = self.size / tile_side
        small = Image.fromarray(rgb).resize(
            (max(round(w * factor), 1), max(round(h * factor), 1)), Image.Resampling.BILINEAR
        )
        windows = [(0, 0, w, h), *tiles]
        batch = np.stack([self._square(small, win, factor) for win in windows])
        regressors, scores = self.session.run(None, {self.input_name: batch})
        found = []
        for i, (win, reg, logit) in enumerate(zip(windows, regressors, scores[..., 0],
                                                  strict=True)):
            found += self._decode(reg, logit, win, (w, h), whole=i == 0)
        return _weighted_nms(found, self.iou_threshold)

    @staticmethod
    def _tiles(w: int, h: int) -> list[tuple[int, int, int, int]]:
        """Square windows of 60% of the short side, overlapping by half, over the image."""
        side = int(0.6 * min(w, h))
        if side < 160:  # a small image is already seen at full detail
            return []
        step = side // 2
        xs = sorted({*range(0, w - side, step), w - side})
        ys = sorted({*range(0, h - side, step), h - side})
        return [(x, y, x + side, y + side) for y in ys for x in xs]

    def _square(self, small: Image.Image, win, factor: float) -> np.ndarray:
        """A window of the image, letterboxed to a centred square, as [3, 128, 128] in
        [-1, 1] (the model's training input)."""
        x0, y0, x1, y1 = (round(v * factor) for v in win)
        crop = small.crop((x0, y0, x1, y1))
        side = max(crop.size)
        canvas = Image.new("RGB", (side, side))
        canvas.paste(crop, ((side - crop.width) // 2, (side - crop.height) // 2))
        if side != self.size:
            canvas = canvas.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return (np.asarray(canvas, np.float32) / 127.5 - 1.0).transpose(2, 0, 1)

    def _decode(self, reg, logit, win, image_size, whole: bool) -> list[Detection]:
        score = 1.0 / (1.0 + np.exp(-np.clip(logit, -80, 80)))
        keep = np.flatnonzero(score > self.score_threshold)
        if not len(keep):
            return []
        x0, y0, x1, y1 = win
        side = max(x1 - x0, y1 - y0)
        # letterbox offsets, then window offsets: model units (0..1) -> image pixels
        ox = x0 - (side - (x1 - x0)) / 2
        oy = y0 - (side - (y1 - y0)) / 2
        r = reg[keep] / self.size
        a = self.anchors[keep]
        cx, cy = (r[:, 0] + a[:, 0]) * side + ox, (r[:, 1] + a[:, 1]) * side + oy
        bw, bh = r[:, 2] * side, r[:, 3] * side
        kps = (r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]) * side + np.array([ox, oy])
        dets = []
        for i in range(len(keep)):
            box = (cx[i] - bw[i] / 2, cy[i] - bh[i] / 2, cx[i] + bw[i] / 2, cy[i] + bh[i] / 2)
            if not whole and _touches_inner_edge(box, win, image_size):
                continue  # a face cut by the tile edge; the whole image or another tile has it
            dets.append(Detection(box, float(score[keep][i]), kps[i]))
        return dets


def _touches_inner_edge(box, win, image_size, margin: float = 2.0) -> bool:
    x0, y0, x1, y1 = win
    w, h = image_size
    return (
        (x0 > 0 and box[0] < x0 + margin)
        or (y0 > 0 and box[1] < y0 + margin)
        or (x1 < w and box[2] > x1 - margin)
        or (y1 < h and box[3] > y1 - margin)
    )


def _same_face(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Which boxes b [N, 4] show the same face as box a [4]: IoU above the threshold, or
    mostly inside one another (a loose box around a face and the face's own box)."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / (area_a + area_b - inter + 1e-9)
    inside = inter / (np.minimum(area_a, area_b) + 1e-9)
    return (iou > iou_threshold) | (inside > 0.65)


def _weighted_nms(dets: list[Detection], threshold: float) -> list[Detection]:
    """MediaPipe's blending NMS: detections of one face are averaged, weighted by score."""
    dets = sorted(dets, key=lambda d: -d.score)
    boxes = np.array([d.box for d in dets]).reshape(-1, 4)
    remaining = np.arange(len(dets))
    merged = []
    while len(remaining):
        same = _same_face(boxes[remaining[0]], boxes[remaining], threshold)
        group = remaining[same]
        weights = np.array([dets[i].score for i in group])[:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        kps = sum(dets[i].keypoints * dets[i].score for i in group) / weights.sum()
        merged.append(Detection(tuple(float(v) for v in box), dets[group[0]].score, kps))
        remaining = remaining[~same]
    return merged


# The crop around a BlazeFace box that classifies FER2013 faces placed in photos best
# (docs/face_detection.md): a square 1.05x the box's side, centred 0.09 box-heights above
# the box's centre (FER2013 keeps more forehead than chin). Geometrically FER2013's frame is
# 1.2x the box, but the detector's box varies from face to face and a tighter crop is safer.
CROP_SCALE = 1.05
CROP_SHIFT = -0.09


def fer_crop(gray: np.ndarray, box, scale: float = CROP_SCALE,
             shift: float = CROP_SHIFT) -> np.ndarray:
    """The square around a detected face that matches FER2013's framing; regions outside the
    image are filled by edge replication."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + shift * (y1 - y0)
    half = scale * max(x1 - x0, y1 - y0) / 2
    left, top = int(round(cx - half)), int(round(cy - half))
    side = max(int(round(2 * half)), 1)
    h, w = gray.shape
    ys = np.clip(np.arange(top, top + side), 0, h - 1)
    xs = np.clip(np.arange(left, left + side), 0, w - 1)
    return gray[np.ix_(ys, xs)]


def clip_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(int(round(x0)), 0), max(int(round(y0)), 0),
            min(int(round(x1)), width), min(int(round(y1)), height))
