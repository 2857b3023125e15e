"""Run lengths from masks: the batched and the one-mask-at-a-time paths equal pycocotools."""
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from mmseg_sam_wsss.core.rle import mask_sequence_to_runs, masks_to_runs

SHAPES = [(3, 1, 1), (3, 1, 7), (4, 6, 1), (0, 4, 5), (3, 0, 4), (6, 5, 6), (5, 13, 11)]


def coco_counts(masks: np.ndarray) -> list:
    """Uncompressed COCO counts of each mask (Fortran order, zeros first)."""
    counts = []
    for mask in masks:
        flat = mask.T.reshape(-1).astype(np.int8)
        changes = np.flatnonzero(np.diff(np.concatenate([[0], flat])))
        counts.append(np.diff(np.concatenate([[0], changes, [flat.size]])))
    return counts


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('density', [0.0, 0.3, 0.8, 1.0])
def test_both_paths_give_coco_counts(shape, density):
    masks = np.random.default_rng(len(shape) * 7 + int(density * 10)).random(shape) < density
    masks[:, :1, :1] = density > 0.5  # first pixel set in the dense cases
    expected = coco_counts(masks)
    for runs, offsets in (masks_to_runs(masks), masks_to_runs(masks.astype(np.uint8) * 255),
                          mask_sequence_to_runs(iter(masks), *shape),
                          mask_sequence_to_runs((m.astype(np.uint8) * 255 for m in masks),
                                                *shape)):
        assert runs.dtype == np.uint32 and offsets.dtype == np.int64
        assert len(offsets) == shape[0] + 1
        for index, counts in enumerate(expected):
            np.testing.assert_array_equal(runs[offsets[index]:offsets[index + 1]], counts)


def test_runs_match_pycocotools_encode():
    masks = np.random.default_rng(3).random((4, 9, 7)) < 0.4
    encoded = coco_mask.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for runs, offsets in (masks_to_runs(masks), mask_sequence_to_runs(iter(masks), 4, 9, 7)):
        ours = coco_mask.frPyObjects(
            [{'size': [9, 7], 'counts': runs[offsets[i]:offsets[i + 1]].tolist()}
             for i in range(4)], 9, 7)
        assert [rle['counts'] for rle in ours] == [rle['counts'] for rle in encoded]


def test_sequence_checks_count_and_shape():
    with pytest.raises(ValueError, match='2 masks given, expected 3'):
        mask_sequence_to_runs(iter(np.zeros((2, 3, 4), bool)), 3, 3, 4)
    with pytest.raises(ValueError, match=r'mask 1 is \(3, 5\)'):
        mask_sequence_to_runs(iter([np.zeros((3, 4), bool), np.zeros((3, 5), bool)]), 2, 3, 4)
