"""The refinement guards on hand-made maps: classes of the weak label only, a minimum fragment
area, and optionally fragments near a weak pixel of their class."""
import numpy as np
import pytest

from mmseg_sam_wsss.core.sesam_refine import FragmentCounts, guard_prediction
from mmseg_sam_wsss.errors import SamWsssError

IGN = 255


def scene():
    """A 20x30 weak label naming classes 0 and 1, and a confident prediction with a class-1
    object on the weak click (30 px), a far class-1 object (20 px), a 3-pixel class-1 speck
    and a class-2 object (24 px) that no weak pixel names."""
    weak = np.full((20, 30), IGN, np.uint8)
    weak[3, 3] = 1
    weak[18, 28] = 0
    prediction = np.full(weak.shape, IGN, np.uint8)
    prediction[1:6, 1:7] = 1       # 30 px, holds the click
    prediction[12:16, 20:25] = 1   # 20 px, far from the click
    prediction[10, 10:13] = 1      # 3 px speck
    prediction[12:16, 2:8] = 2     # 24 px of a class the weak label does not name
    return weak, prediction


def test_guards_drop_other_classes_small_and_far_fragments():
    weak, prediction = scene()
    kept, counts = guard_prediction(prediction, weak, min_area=1, weak_classes_only=False)
    np.testing.assert_array_equal(kept, prediction)  # no guard: everything
    assert (counts.fragments, counts.pixels) == (4, 77)
    kept, counts = guard_prediction(prediction, weak)  # classes of the weak label only
    assert not (kept == 2).any() and (kept == 1).sum() == 53
    assert counts.other_class_fragments == 1
    kept, counts = guard_prediction(prediction, weak, min_area=5)
    assert (kept == 1).sum() == 50 and counts.small_fragments == 1
    assert (counts.confident_pixels, counts.confident_fragments) == (77, 4)
    kept, counts = guard_prediction(prediction, weak, min_area=5, near_weak_px=2.0)
    np.testing.assert_array_equal(kept == 1, np.pad(np.ones((5, 6), bool), ((1, 14), (1, 23))))
    assert (counts.fragments, counts.pixels, counts.far_fragments) == (1, 30, 1)
    total = FragmentCounts()
    total.add(counts)
    total.add(counts)
    assert total.pixels == 60 and total.far_fragments == 2
    with pytest.raises(SamWsssError, match='differ in size'):
        guard_prediction(prediction[:5], weak)
