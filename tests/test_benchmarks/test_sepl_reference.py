"""Our SEPL merge against the paper's public merge code (re-implemented in
``tests/reference/sepl_reference.py``, the merge benchmark's baseline), pixel for pixel.

The masks are measuring instruments, NOT SAM output: GT components, the imperfect GT oracle's
simulated SAM errors (parts, merges, shifted borders) and SLIC superpixels at two scales, so
they overlap and come at several granularities, as SAM's do.
"""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, read_amg_folder, write_amg_folder
from mmseg_sam_wsss.core.merge import enhance_pseudo_label
from mmseg_sam_wsss.simulation.mask_oracles import ImperfectOracleMasks, gt_components
from mmseg_sam_wsss.simulation.superpixels import SuperpixelMasks
from reference.sepl_reference import sepl_reference_file, sepl_reference_merge

MASK_SOURCE = 'GT components + imperfect oracle + SLIC superpixels, not SAM'
IDS = ['2007_000063', '2007_000121', '2007_000648', '2007_001149']  # train ids, 2-5 classes


def overlapping_masks(gt: np.ndarray, rgb: np.ndarray, image_id: str) -> np.ndarray:
    """``(N, H, W) bool`` masks of one image from several instruments (not SAM)."""
    masks = [gt_components(gt)[0], ImperfectOracleMasks(seed=0).generate(gt, image_id).decode()]
    for segments in (12, 40):
        masks.append(SuperpixelMasks('slic', n_segments=segments).generate(rgb).decode())
    return np.concatenate(masks)


def write_masks(folder, image_id, masks):
    write_amg_folder(str(folder), image_id, MaskSet.from_masks(masks, MASK_SOURCE))
    return osp.join(str(folder), image_id)


def test_reference_on_hand_made_masks(tmp_path):
    label = np.zeros((6, 10), np.uint8)
    label[0:4, 0:3] = 1
    label[5, 0] = label[5, 3] = 1  # class 1: 14 px
    label[4:6, 6:10] = 2  # class 2: 8 px
    label[0, 9] = 255
    masks = np.zeros((4, 6, 10), bool)
    masks[0, 0:5, 0:3] = True  # 15 px, 12 on class 1 -> majority, taken by class 1
    masks[1, 0:6, 1:5] = True  # 24 px, 9 on class 1 -> neither test; untaken: hides (5, 3)
    masks[2, 2:6, 5:10] = True  # 20 px, 8 on class 2 -> not majority, 8/8 coverage -> class 2
    masks[3, 0:2, 8:10] = True  # background mask over the ignore pixel
    folder = write_masks(tmp_path, 'toy', masks)
    merged = sepl_reference_merge(label, folder)
    expected = np.zeros_like(label)
    expected[masks[0]] = 1
    expected[5, 0] = 1  # no mask there: the CAM is kept
    expected[masks[2]] = 2
    np.testing.assert_array_equal(merged, expected)  # 255 became background
    np.testing.assert_array_equal(enhance_pseudo_label(label, masks), expected)


@pytest.mark.parametrize('image_id', IDS)
def test_reference_and_ours_are_pixel_identical_on_voc_mini(voc_mini, tmp_path, image_id):
    gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
    with Image.open(osp.join(voc_mini, 'JPEGImages', image_id + '.jpg')) as image:
        rgb = np.asarray(image.convert('RGB'))
    masks = overlapping_masks(gt, rgb, image_id)
    assert len(masks) >= 40
    assert (masks.sum(0) >= 3).mean() > 0.5  # several granularities overlap
    write_masks(tmp_path / 'amg', image_id, masks)
    pseudo_dir = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    sepl_reference_file(image_id, pseudo_dir, str(tmp_path / 'amg'), str(out_dir))
    with Image.open(out_dir / (image_id + '.png')) as image:
        reference = np.asarray(image)
    label = read_label_png(osp.join(pseudo_dir, image_id + '.png'))
    ours = enhance_pseudo_label(label, read_amg_folder(str(tmp_path / 'amg'), image_id))
    np.testing.assert_array_equal(ours, reference)
    assert (ours != label).mean() > 0.01  # the masks changed the label: a real comparison
