"""Face detection and FER2013-style cropping.

The default detector is MediaPipe's BlazeFace short-range model (Apache-2.0), converted from
the .tflite in the mediapipe 0.10.21 wheel to ONNX and shipped in assets/, so it runs on ONNX
Runtime like the classifier: no extra dependency, ~2 ms per pass on a laptop CPU. CenterFace
(centerface.py) is the slower, sharper alternative. See docs/face_detection.md for the
comparison with other detectors and how the files were made.

Any object with `detect(rgb: np.ndarray) -> list[Detection]` can replace it.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from PIL import Image

from .errors import FerkitError
from .images import rgb_to_gray
from .parallel import available_cores, cgroup_cpu_quota, side_by_side

ASSETS = Path(__file__).parent / "assets"
BLAZEFACE = ASSETS / "blazeface_short_range.onnx"
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
    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an HxWx3 uint8 RGB image."""
        ...


DETECTORS = ("blazeface", "centerface")


def open_detector(name: str = "blazeface", **options) -> Detector:
    """A shipped detector by name: "blazeface" (fast; the default) or "centerface" (finds
    more small and unclear faces, ~3.5x slower); options go to its constructor (threads,
    min_face, score_threshold, ...)."""
    check_detector(name)
    if name == "centerface":
        from .centerface import CenterFace  # it builds on this module

        return CenterFace(**options)
    return BlazeFace(**options)


def check_detector(name: str) -> None:
    if name not in DETECTORS:
        raise FerkitError(f"unknown face detector {name!r}: choose {' or '.join(DETECTORS)}")


def check_min_face(min_face: float | None) -> None:
    if min_face is not None and not min_face > 0:
        raise FerkitError(f"the smallest face must be a positive size in pixels, not {min_face}")


def session_options(threads: int | None) -> ort.SessionOptions:
    """ONNX Runtime options for a detector's session."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # Spinning threads would steal the cores from the other session (detector, classifier)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not threads and cgroup_cpu_quota():
        threads = available_cores()  # ONNX Runtime's own count ignores a container's quota
    if threads:
        opts.intra_op_num_threads = threads
    return opts


class Passes:
    """Runs a detector's model on the CPU, pass by pass (a pyramid level, a batch of windows):
    small passes two at a time, each on half of the threads, because ONNX Runtime gains
    little from a second thread inside a small pass; a big one alone on all of them, where
    it gains most (2 cores, a second thread: 0.85x the time at 128x128, 0.95x at 272x192,
    0.8x at 320x224, 0.66x at 800x544). threads=1: one pass at a time."""

    paired_below = 90_000  # pixels in the biggest pass: above it, each runs alone

    def __init__(self, model: str | Path, threads: int | None):
        cores = threads or available_cores()
        self.alone = _session(model, threads)
        self.paired = _session(model, cores // 2) if cores >= 2 else None
        # The caller's thread runs one pass, the pool the others; it grows up to the cores
        # when several threads detect at once, so that they do not queue for it.
        self.pool = (ThreadPoolExecutor(max(cores - 1, 1), thread_name_prefix="ferkit-detect")
                     if self.paired is not None else None)
        self.input_name = self.alone.get_inputs()[0].name

    def run(self, inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
        """The model's outputs for each [N, C, H, W] input, in order."""
        feeds = [{self.input_name: x} for x in inputs]
        biggest = max((x.size // x.shape[1] for x in inputs), default=0)
        if self.pool is None or len(inputs) < 2 or biggest >= self.paired_below:
            return [self.alone.run(None, feed) for feed in feeds]
        return side_by_side(self.pool, [partial(self.paired.run, None, feed) for feed in feeds])


def _session(model: str | Path, threads: int | None) -> ort.InferenceSession:
    return ort.InferenceSession(str(model), session_options(threads),
                                providers=["CPUExecutionProvider"])


@lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> np.ndarray:
    """Anchor centres in input pixels for a height x width input, in the model's output order:
    stride 8 (2 per cell), then stride 16 (6 per cell), each row by row."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
        centres.append(np.repeat((grid + 0.5) * stride, per_cell, axis=0))
    return np.concatenate(centres)


class BlazeFace:
    """BlazeFace on ONNX Runtime over an image pyramid, so that small faces in group photos
    are found too.

    The model was trained on 128x128 inputs and finds faces whose box is ~1/4 to ~9/10 of
    that. It is fully convolutional, so ferkit runs it on the whole image resized to 128 (big
    faces) and on the image resized so that the smallest face to look for is ~32 px (every
    other face), each in one pass: the cost of sliding 128x128 windows without their overlap.
    """

    size = 128
    candidate = 0.45  # first-look score that earns a second look
    sure = 0.8  # first-look score accepted without one
    smallest = 32.0  # px: boxes the model finds reliably (FER2013 faces: ~90%)
    largest = 3.0  # one pyramid level covers faces from `smallest` to ~3x that

    close_up_border = 2.5  # a picture with no face is seen again this much larger, bordered
    close_up_candidate = 0.5  # first-look score that earns a close-up face a second look
    close_up_threshold = 0.55  # what it must score after the second look
    close_up_smallest = 0.4  # ... and how much of the picture's shorter side it must span

    def __init__(self, model: str | Path = BLAZEFACE, score_threshold: float = 0.675,
                 iou_threshold: float = 0.3, min_face: float | None = None,
                 threads: int | None = None, pyramid: bool = True, close_ups: bool = True):
        """min_face: the smallest face box to look for, in pixels; default 18% of the image's
        shorter side. pyramid=False looks at the whole image at 128x128 only (big faces).
        score_threshold: what a face must score, after a second look when it needed one.
        close_ups: a picture where no face is found is looked at once more, inside a border,
        for a face that fills it (a tight crop: too large for the model as it is)."""
        check_min_face(min_face)
        self.close_ups = close_ups
        self.passes = Passes(model, threads)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.min_face = min_face
        self.pyramid = pyramid

    def scales(self, width: int, height: int, min_face: float | None = None) -> list[float]:
        """Resize factors of the pyramid, coarse to fine: whole image at 128, then steps of
        `largest` down to the one where `min_face` is `smallest` pixels (never upsampled)."""
        coarse = self.size / max(width, height)
        if not self.pyramid:
            return [coarse]
        min_face = min_face or self.min_face or DEFAULT_MIN_FACE * min(width, height)
        finest = min(self.smallest / min_face, 1.0)
        if finest <= coarse * 1.25:
            return [coarse]
        # evenly spaced (geometrically), each step at most `largest` (5% of slack: a step of
        # 3.1x is not worth a whole extra pass at nearly the finest scale)
        steps = math.ceil(math.log(finest / coarse) / math.log(self.largest) - 0.05)
        return [coarse * (finest / coarse) ** (k / steps) for k in range(steps + 1)]

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        found = self.propose(rgb)
        unsure = [d for d in found if d.score < self.sure]
        if unsure:
            for d, second in zip(unsure, self.second_look(rgb, unsure), strict=True):
                d.score = float(d.score + second.sum()) / 3
        faces = [d for d in found if d.score >= self.score_threshold]
        return faces or (self.close_up(rgb) if self.close_ups else [])

    def close_up(self, rgb: np.ndarray) -> list[Detection]:
        """The face that fills a picture, if there is one: the picture shrunk to 1/2.5 of the
        model's input, in the middle of a border of its median colour, seen in one pass.
        Tight face crops (a face of ~90% of the picture, its chin or forehead cut: film
        stills, cropped portraits) are too large for BlazeFace as they are (docs/
        face_detection.md). Boxes are clipped to the picture."""
        h, w = rgb.shape[:2]
        scale = self.size / (self.close_up_border * max(h, w))
        small = np.asarray(resized(Image.fromarray(rgb), scale) if scale < 1 else
                           Image.fromarray(rgb).resize((max(round(w * scale), 1),
                                                        max(round(h * scale), 1)),
                                                       Image.Resampling.BILINEAR))
        canvas = np.empty((self.size, self.size, 3), np.uint8)
        canvas[:] = np.median(small.reshape(-1, 3), 0).astype(np.uint8)
        top, left = (self.size - small.shape[0]) // 2, (self.size - small.shape[1]) // 2
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
        x = (canvas.transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)
        [(regressors, scores)] = self.passes.run([x])
        found = self._decoded(regressors[0], scores[0], (self.size, self.size), (left, top),
                              small.shape[1] / w, self.close_up_candidate)
        faces = []
        for d in weighted_nms(found, self.iou_threshold):
            x0, y0, x1, y1 = d.box
            box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))
            if min(box[2] - box[0], box[3] - box[1]) >= self.close_up_smallest * min(h, w):
                faces.append(Detection(box, d.score, d.keypoints))
        if faces:  # seen again, centred and mirrored, as an unsure face is
            for d, second in zip(faces, self.second_look(rgb, faces), strict=True):
                d.score = float(d.score + second.sum()) / 3
        return [d for d in faces if d.score >= self.close_up_threshold]

    def propose(self, rgb: np.ndarray, min_face: float | None = None,
                candidate: float | None = None) -> list[Detection]:
        """The first look's candidates over the whole pyramid, merged: every box scoring at
        least `candidate` (default: the class's), faces down to `min_face` pixels."""
        h, w = rgb.shape[:2]
        scales = self.scales(w, h, min_face)
        # One resize of the full image (the costly one), the coarser levels from its result.
        image = downscaled(rgb, scales[-1], self.passes.pool)
        inputs = [self._padded(np.asarray(image if i == len(scales) - 1 else
                                          resized(image, scale / scales[-1])), square=i == 0)
                  for i, scale in enumerate(scales)]
        outputs = self.passes.run([x for x, _ in inputs])
        threshold = candidate or self.candidate
        found = [d for (x, offset), (regressors, scores), scale in zip(inputs, outputs, scales,
                                                                      strict=True)
                 for d in self._decoded(regressors[0], scores[0], x.shape[2:], offset, scale,
                                        threshold)]
        return weighted_nms(found, self.iou_threshold)

    def second_look(self, rgb: np.ndarray, dets: list[Detection]) -> np.ndarray:
        """[N, 2] scores of each face seen again, centred, its box ~60% of the model's input,
        and mirrored: textures that fooled the first look seldom survive this; faces do."""
        windows = []
        for d in dets:
            x0, y0, x1, y1 = d.box
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.8 * max(x1 - x0, y1 - y0)
            window = Image.fromarray(padded_crop(rgb, cx - half, cy - half, cx + half,
                                                  cy + half))
            windows.append(np.asarray(window.resize((self.size, self.size),
                                                    Image.Resampling.BILINEAR)))
        x = np.stack(windows)
        x = (x.transpose(0, 3, 1, 2) / 127.5 - 1.0).astype(np.float32)
        seen, mirrored = self.passes.run([x, np.ascontiguousarray(x[..., ::-1])])
        regressors, scores = (np.concatenate(pair) for pair in zip(seen, mirrored, strict=True))
        centres = regressors[..., :2] + _anchors(self.size, self.size) - self.size / 2
        near = np.hypot(centres[..., 0], centres[..., 1]) < self.size / 8
        logit = np.where(near, scores[..., 0], -80.0).max(1)
        return (1.0 / (1.0 + np.exp(-np.clip(logit, -80, 80)))).reshape(2, -1).T

    def _padded(self, small: np.ndarray, square: bool) -> tuple[np.ndarray, tuple[int, int]]:
        """A pyramid level as the model's input, padded with black to a multiple of 16 (to
        128x128 for the whole-image pass: the letterbox the model was trained on); with the
        (left, top) of the picture in it."""
        h, w = small.shape[:2]
        ph, pw = (self.size, self.size) if square else (-(-h // 16) * 16, -(-w // 16) * 16)
        top, left = (ph - h) // 2, (pw - w) // 2
        x = np.full((1, 3, ph, pw), -1.0, np.float32)
        x[0, :, top : top + h, left : left + w] = small.transpose(2, 0, 1) / 127.5 - 1.0
        return x, (left, top)

    def _decoded(self, regressors: np.ndarray, scores: np.ndarray, shape: tuple[int, int],
                 offset: tuple[int, int], scale: float, candidate: float) -> list[Detection]:
        """The candidates of one pass scoring at least `candidate`, in the picture's pixels."""
        logit = scores[:, 0]
        keep = np.flatnonzero(logit > np.log(candidate / (1 - candidate)))
        if not len(keep):
            return []
        score = 1.0 / (1.0 + np.exp(-logit[keep]))
        r, a = regressors[keep], _anchors(*shape)[keep]
        offset = np.array(offset, np.float32)
        centre = (r[:, 0:2] + a - offset) / scale
        size = r[:, 2:4] / scale
        kps = (r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :] - offset) / scale
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1)
        return [Detection(tuple(map(float, b)), float(s), k)
                for b, s, k in zip(boxes, score, kps, strict=True)]


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


def downscaled(rgb: np.ndarray, scale: float,
               pool: ThreadPoolExecutor | None = None) -> Image.Image:
    """The image resized by `scale`. A big photo is thinned first, every k-th pixel, leaving
    3x of the reduction to Pillow: making a 12 Mpx photo a Pillow image costs more than
    finding its faces. Pillow then does what resize(reducing_gap=1.0) does, a box reduction
    by a whole factor and a bilinear resize for the rest; given a pool, the halves above and
    below a row of whole boxes are thinned and reduced side by side (the same pixels)."""
    step = max(int(1 / (3 * scale)), 1)
    scale *= step
    rows, cols = -(-rgb.shape[0] // step), -(-rgb.shape[1] // step)  # once thinned
    size = (max(round(cols * scale), 1), max(round(rows * scale), 1))
    factor = (int(cols / size[0]) or 1, int(rows / size[1]) or 1)
    if scale >= 1.0 or factor == (1, 1):
        return resized(Image.fromarray(_thinned(rgb, step)), scale)
    cut = rows // 2 // factor[1] * factor[1] * step
    parts = [rgb[:cut], rgb[cut:]] if cut else [rgb]
    reduced = side_by_side(pool, [partial(_reduced, part, step, factor) for part in parts])
    return Image.fromarray(np.concatenate(reduced)).resize(
        size, Image.Resampling.BILINEAR, box=(0, 0, cols / factor[0], rows / factor[1]))


def _reduced(rgb: np.ndarray, step: int, factor: tuple[int, int]) -> np.ndarray:
    """Every step-th pixel of every step-th row, then factor[0] x factor[1] boxes averaged."""
    return np.asarray(Image.fromarray(_thinned(rgb, step)).reduce(factor))


def _thinned(rgb: np.ndarray, step: int) -> np.ndarray:
    """Every step-th pixel of every step-th row, C-contiguous."""
    if step == 1 or rgb.strides[1:] != (3, 1):
        return np.ascontiguousarray(rgb[::step, ::step])
    # each pixel copied as one 3-byte item rather than as three bytes: ~2x faster
    kept = np.ascontiguousarray(rgb.view("V3")[::step, ::step])
    return kept.view(np.uint8).reshape(*kept.shape[:2], 3)


def resized(image: Image.Image, scale: float) -> Image.Image:
    if scale >= 1.0:
        return image
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    # reducing_gap: a fast box reduction by the whole factor first, then bilinear proper
    # (within 1.5x instead: ~1.5x slower for the same recall on the scene benchmark)
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


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


# The crop around a BlazeFace box that classifies FER2013 faces placed in photos best
# (docs/face_detection.md): a square 1.05x the box's side, centred 0.09 box-heights above
# the box's centre (FER2013 keeps more forehead than chin). Geometrically FER2013's frame is
# 1.2x the box, but the detector's box varies from face to face and a tighter crop is safer.
CROP_SCALE = 1.05
CROP_SHIFT = -0.09
# FER2013's faces lean up to ~15 degrees (three quarters within 11) and the classifier trained
# with rotations of up to 15 more: a face leaning further is turned back by the excess only,
# so that upright and slightly tilted faces are cropped exactly as before (docs/face_detection.md).
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


def clip_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (max(int(round(x0)), 0), max(int(round(y0)), 0),
            min(int(round(x1)), width), min(int(round(y1)), height))
