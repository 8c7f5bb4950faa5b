"""Box geometry: merging the boxes of several pyramid levels."""

import numpy as np

from ferkit.detection.boxes import Detection, weighted_nms


def test_nms_averages_one_levels_boxes_and_drops_another_levels_looser_ones():
    kps = np.zeros((6, 2))
    fine = [Detection((208, 72, 313, 177), 0.86, kps), Detection((210, 74, 311, 175), 0.64, kps)]
    # the whole-image level's boxes around the same face: 1.6-1.9x larger, less sure
    coarse = [Detection((171, 44, 357, 229), 0.63, kps), Detection((166, 53, 357, 244), 0.61,
                                                                   kps)]
    (face,) = weighted_nms(fine + coarse, 0.3)
    expected = (np.array(fine[0].box) * 0.86 + np.array(fine[1].box) * 0.64) / 1.5
    assert np.abs(np.array(face.box) - expected).max() < 1e-6 and face.score == 0.86
    flat = Detection((10, 10, 10, 20), 0.9, kps)  # no width: it overlaps nothing, even itself
    assert [d.box for d in weighted_nms([flat, *fine], 0.3)] == [flat.box, face.box]
