"""The detection passes: the pyramid's levels, running them side by side, thinning big photos."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from ferkit.detection.blazeface import BlazeFace
from ferkit.detection.passes import _thinned, downscaled


def test_the_pyramid_goes_from_the_whole_image_to_the_smallest_face():
    d = BlazeFace()
    scales = d.scales(1000, 667)
    assert scales[0] == 128 / 1000  # the whole image, letterboxed to the model's input
    assert scales[-1] == pytest.approx(d.smallest / (0.18 * 667))
    assert all(b / a <= d.largest for a, b in zip(scales, scales[1:], strict=False))
    assert BlazeFace(min_face=10).scales(1000, 667)[-1] == 1.0  # never upsampled
    assert BlazeFace(pyramid=False).scales(1000, 667) == [128 / 1000]


def test_small_passes_run_two_at_a_time_and_big_ones_alone_finding_the_same_faces():
    """On two or more cores small passes (the default pyramid's levels, second looks) run
    two at a time, a big one (a small --min-face's finest level) alone on all the threads:
    the same faces, scores and order as one pass after another on one thread."""
    face = Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
    canvas = Image.new("RGB", (1600, 1000), (120, 140, 160))
    for x, size in ((0, 600), (700, 300), (1100, 160)):  # for each level, and the finest
        canvas.paste(face.resize((size, size)), (x, 100))
    rgb = np.asarray(canvas)
    runs = {}
    for min_face in (None, 40):
        one, two = BlazeFace(threads=1, min_face=min_face), BlazeFace(threads=2, min_face=min_face)
        assert one.passes.paired is None and two.passes.paired is not None
        one.sure = two.sure = 1.0  # every face gets a second look
        seen = runs[min_face] = set()  # (which session, in the pool's thread?)
        for kind in ("alone", "paired"):
            run = getattr(two.passes, kind).run
            getattr(two.passes, kind).run = lambda *a, kind=kind, run=run, seen=seen: seen.add(
                (kind, threading.current_thread().name.startswith("ferkit-detect"))) or run(*a)
        expected, got = one.detect(rgb), two.detect(rgb)
        assert len(expected) >= 2
        assert [(d.box, d.score) for d in got] == [(d.box, d.score) for d in expected]
    assert runs[None] == {("paired", False), ("paired", True)}
    assert ("alone", False) in runs[40] and ("alone", True) not in runs[40]


def test_a_big_photo_is_thinned_to_every_kth_pixel_whatever_its_memory_layout():
    rgb = np.random.default_rng(0).integers(0, 256, (1003, 1501, 3), dtype=np.uint8)
    for view in (rgb, rgb[5:900, 17:1400], rgb[:, ::-1], rgb[::2]):
        for step in (2, 3, 5):
            assert np.array_equal(_thinned(view, step), view[::step, ::step])


class CountingPool(ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_a_photo_is_reduced_in_two_halves_side_by_side_to_the_pixels_of_one_resize():
    """downscaled() with a pool thins and box-reduces the top and bottom halves at once: the
    same pixels as Pillow's resize(reducing_gap=1.0) of the thinned photo."""
    rgb = np.random.default_rng(1).integers(0, 256, (1003, 1501, 3), dtype=np.uint8)
    with CountingPool(1) as pool:
        for view in (rgb, rgb[:, ::-1], rgb[5:900, 17:1400]):
            for scale in (0.03, 0.1, 0.2665, 0.31):
                step = max(int(1 / (3 * scale)), 1)
                thinned = Image.fromarray(np.ascontiguousarray(view[::step, ::step]))
                rest = scale * step  # what Pillow resizes by
                size = (round(thinned.width * rest), round(thinned.height * rest))
                expected = thinned.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)
                got = downscaled(view, scale, pool)
                assert np.array_equal(np.asarray(got), np.asarray(expected)), (view.shape, scale)
        assert pool.submitted == 12  # one half of each in the pool's thread
