"""FER2013's framing: the square crop around a face and turning a leaning face upright."""

import numpy as np
import pytest
from PIL import Image

from ferkit.detection.boxes import Detection
from ferkit.detection.framing import MAX_ROLL, face_roll, fer_crop


def test_crop_is_square_centred_and_padded_at_edges():
    gray = np.arange(100 * 80, dtype=np.uint32).reshape(100, 80).astype(np.uint8)
    crop = fer_crop(gray, (10, 20, 30, 40), scale=1.5, shift=0.0)
    assert crop.shape == (30, 30)
    assert crop[15, 15] == gray[30, 20]
    up = fer_crop(gray, (10, 20, 30, 40), scale=1.5, shift=-0.1)
    assert up[15, 15] == gray[28, 20]  # FER framing sits a little above the box centre
    edge = fer_crop(gray, (-10, -10, 10, 10), scale=1.0, shift=0.0)
    assert edge.shape == (20, 20) and edge[0, 0] == gray[0, 0]


def test_a_face_leaning_past_max_roll_is_turned_back_by_the_excess():
    rng = np.random.default_rng(0)
    upright = np.asarray(Image.fromarray(rng.integers(0, 256, (32, 40), np.uint8))
                         .resize((400, 320), Image.Resampling.BICUBIC))  # smooth texture
    box = (150, 110, 250, 210)  # centre (200, 160)
    leaning = np.asarray(Image.fromarray(upright).rotate(-40, Image.Resampling.BILINEAR,
                                                         center=(200, 160)))  # clockwise
    want = fer_crop(upright, box).astype(float)
    for roll in (0, 10, -15):  # within MAX_ROLL: the crop is exactly the square, as before
        assert np.array_equal(fer_crop(leaning, box, roll=roll), fer_crop(leaning, box))
    turned = fer_crop(leaning, box, roll=40 + MAX_ROLL).astype(float)
    assert turned.shape == want.shape
    assert np.abs(turned - want).mean() < 2  # what interpolating twice costs
    assert np.abs(fer_crop(leaning, box) - want).mean() > 30
    colour = fer_crop(np.dstack([leaning] * 3), box, roll=40 + MAX_ROLL).astype(float)
    assert np.abs(colour - turned).max() <= 1
    edge = fer_crop(leaning, (-20, -20, 60, 60), roll=60)  # past the corner: edges repeated
    assert edge.shape == (84, 84)


def test_face_roll_is_the_eye_lines_angle():
    def roll(*eyes):
        return face_roll(Detection((0, 0, 1, 1), 1.0, np.array([*eyes, (0, 0)] * 2, float)))

    assert roll((10, 20), (30, 20)) == 0
    assert roll((10, 20), (30, 40)) == pytest.approx(45)  # the right one lower: clockwise
    assert roll((10, 20), (30, 0)) == pytest.approx(-45)
    assert roll((0, 0), (0, 0)) == 0  # a detector without keypoints
    assert face_roll(Detection((0, 0, 1, 1), 1.0, np.zeros((0, 2)))) == 0
