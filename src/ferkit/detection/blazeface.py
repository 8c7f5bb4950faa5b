"""BlazeFace, the fast detector (the first look of the default cascade, and video's own):
MediaPipe's short-range model (Apache-2.0), converted from the .tflite in the mediapipe
0.10.21 wheel to ONNX and shipped in assets/, so it runs on ONNX Runtime like the classifier,
with no extra dependency. docs/face_detection.md has its speed, the comparison with other
detectors and how the file was made."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from .assets import BLAZEFACE
from .boxes import DEFAULT_MIN_FACE, Detection, check_min_face, padded_crop, weighted_nms
from .face_check import FaceCheck
from .passes import Passes, downscaled, resized


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
                 threads: int | None = None, pyramid: bool = True, close_ups: bool = True,
                 face_check: FaceCheck | None = None):
        """min_face: the smallest face box to look for, in pixels; default 18% of the image's
        shorter side. pyramid=False looks at the whole image at 128x128 only (big faces).
        score_threshold: what a face must score, after a second look when it needed one.
        close_ups: a picture where no face is found is looked at once more, inside a border,
        for a face that fills it (a tight crop: too large for the model as it is).
        face_check: re-frames each face found onto where FER2013 frames a face (its boxes vary
        from face to face; real photos are read better re-framed: docs/realworld.md).
        `open_detector("blazeface")` gives it one; None: the boxes as the model gives them."""
        check_min_face(min_face)
        self.face_check = face_check
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
        faces = faces or (self.close_up(rgb) if self.close_ups else [])
        if self.face_check is None or not faces:
            return faces
        return self.face_check.look(rgb, faces)[1]

    def close_up(self, rgb: np.ndarray) -> list[Detection]:
        """The face that fills a picture, if there is one: the picture shrunk to 1/2.5 of the
        model's input, in the middle of a border of its median colour, seen in one pass.
        Tight face crops (a face of ~90% of the picture, its chin or forehead cut: film
        stills, cropped portraits) are too large for BlazeFace as they are (docs/
        face_detection.md). Boxes are clipped to the picture."""
        h, w = rgb.shape[:2]
        scale = self.size / (self.close_up_border * max(h, w))
        # a big photo thinned and box-reduced as the pyramid's levels are; a small one enlarged
        small = np.asarray(downscaled(rgb, scale, self.passes.pool) if scale < 1 else
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
