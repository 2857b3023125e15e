"""Weak-label synthesis protocols and the weak-label loader."""
import os.path as osp

import numpy as np
import pytest
from scipy import ndimage

from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
from mmseg_sam_wsss.core.rng import image_rng
from mmseg_sam_wsss.core.weak_labels import (load_weak_label, points_to_label, read_points_json,
                                             write_points_json)
from mmseg_sam_wsss.simulation.weak_label_synthesis import (make_weak_label, synthesize_coarse,
                                                            synthesize_points,
                                                            synthesize_scribbles)
from mmseg_sam_wsss.errors import SamWsssError


def _scene() -> np.ndarray:
    gt_label = np.zeros((60, 80), np.uint8)
    gt_label[10:30, 10:40] = 1
    gt_label[35:55, 45:75] = 1
    gt_label[5:25, 50:70] = 3
    gt_label[29:31, :] = 255  # an ignore band
    return gt_label


def _assert_subset_of_gt(weak_label: np.ndarray, gt_label: np.ndarray) -> None:
    labelled = weak_label != 255
    assert labelled.any()
    np.testing.assert_array_equal(weak_label[labelled], gt_label[labelled])


def test_points_one_per_component_at_the_centre():
    gt_label = _scene()
    weak_label, points = synthesize_points(gt_label, image_rng(0, 'a'), radius=0)
    # Components (background included): bg above and below the ignore band, two class-1
    # blobs, class 3.
    assert sorted(c for _, _, c in points) == [0, 0, 1, 1, 3]
    for x, y, class_id in points:
        assert gt_label[y, x] == class_id and weak_label[y, x] == class_id
    assert (weak_label != 255).sum() == 5
    x, y = next((x, y) for x, y, c in points if c == 3)
    assert abs(x - 59.5) <= 1 and abs(y - 14.5) <= 1  # distance-transform maximum


def test_points_random_disks_subset_and_deterministic():
    gt_label = _scene()
    weak_label, points = synthesize_points(gt_label, image_rng(3, 'b'), points_per_component=3,
                                           placement='random', radius=2)
    _assert_subset_of_gt(weak_label, gt_label)
    assert len(points) == 15
    again, points_again = synthesize_points(gt_label, image_rng(3, 'b'), points_per_component=3,
                                            placement='random', radius=2)
    np.testing.assert_array_equal(weak_label, again)
    assert points == points_again
    _, other = synthesize_points(gt_label, image_rng(3, 'c'), points_per_component=3,
                                 placement='random', radius=2)
    assert other != points


def test_scribbles_are_contiguous_pieces_inside_gt():
    gt_label = _scene()
    weak_label = synthesize_scribbles(gt_label, image_rng(0, 'a'), thickness=3, fraction=0.5)
    _assert_subset_of_gt(weak_label, gt_label)
    for class_id in (1, 3):
        _, count = ndimage.label(weak_label == class_id, structure=np.ones((3, 3)))
        assert count == (2 if class_id == 1 else 1)
    full = synthesize_scribbles(gt_label, image_rng(0, 'a'), thickness=3, fraction=1.0)
    assert (full == 3).sum() > (weak_label == 3).sum()
    np.testing.assert_array_equal(
        weak_label, synthesize_scribbles(gt_label, image_rng(0, 'a'), thickness=3, fraction=0.5))
    with pytest.raises(SamWsssError):
        synthesize_scribbles(gt_label, image_rng(0, 'a'), fraction=0.0)


def test_coarse_labels_leave_boundaries_unlabelled():
    gt_label = _scene()
    weak_label = synthesize_coarse(gt_label, erosion=3, tolerance=2.0)
    _assert_subset_of_gt(weak_label, gt_label)
    rows, cols = np.nonzero(weak_label != 255)
    padded = np.pad(gt_label, 1, constant_values=254)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):  # every labelled pixel's 3x3 GT neighbourhood is one class
            np.testing.assert_array_equal(padded[rows + 1 + d_row, cols + 1 + d_col],
                                          gt_label[rows, cols])
    # Erosion keeps labels at least ~erosion pixels from class boundaries.
    assert (weak_label[10:13, 10:40] == 255).all()
    assert (weak_label[18:22, 20:30] == 1).all()
    tiny = np.zeros((20, 20), np.uint8)
    tiny[5:8, 5:8] = 2
    assert 2 not in synthesize_coarse(tiny, erosion=3)  # eroded away: left unlabelled


def test_points_json_roundtrip_and_loader(tmp_path):
    gt_label = _scene()
    weak_label, points = synthesize_points(gt_label, image_rng(0, 'a'), radius=0)
    json_path = str(tmp_path / 'a.json')
    write_points_json(json_path, points, gt_label.shape)
    assert read_points_json(json_path) == points
    np.testing.assert_array_equal(load_weak_label(json_path, gt_label.shape, num_classes=21),
                                  weak_label)
    png_path = str(tmp_path / 'a.png')
    write_label_png(png_path, weak_label)
    np.testing.assert_array_equal(load_weak_label(png_path, gt_label.shape), weak_label)
    with pytest.raises(SamWsssError, match='60x80'):
        load_weak_label(png_path, (10, 10))
    with pytest.raises(SamWsssError, match='not found'):
        load_weak_label(str(tmp_path / 'missing.json'), gt_label.shape)
    with pytest.raises(SamWsssError, match='outside'):
        points_to_label([(100, 1, 1)], (10, 10))
    (tmp_path / 'bad.json').write_text('{"pts": []}')
    with pytest.raises(SamWsssError, match='points JSON'):
        read_points_json(str(tmp_path / 'bad.json'))
    with pytest.raises(SamWsssError):
        make_weak_label(gt_label, 'box', image_rng(0, 'a'))


def test_protocols_on_real_voc_labels(voc_mini):
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'))[:3]
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'),
                                  num_classes=21)
        present = set(np.unique(gt_label).tolist()) - {255}
        for weak_type in ('point', 'scribble', 'coarse'):
            weak_label, _ = make_weak_label(gt_label, weak_type, image_rng(0, image_id))
            _assert_subset_of_gt(weak_label, gt_label)
            assert 0 in weak_label  # background is labelled too
            assert set(np.unique(weak_label).tolist()) - {255} <= present
