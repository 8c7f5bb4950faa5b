"""Running a detector's ONNX model on the CPU: sessions, passes side by side on the cores, and
the image pyramid's resizing (a big photo thinned, then box-reduced)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ..parallel import available_cores, cgroup_cpu_quota, side_by_side


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
    # each pixel copied as one 3-byte item rather than as three bytes: fewer, larger copies
    kept = np.ascontiguousarray(rgb.view("V3")[::step, ::step])
    return kept.view(np.uint8).reshape(*kept.shape[:2], 3)


def resized(image: Image.Image, scale: float) -> Image.Image:
    if scale >= 1.0:
        return image
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    # reducing_gap: a fast box reduction by the whole factor first, then bilinear proper
    # (a gap of 1.5 is slower for the same recall on the scene benchmark)
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)
