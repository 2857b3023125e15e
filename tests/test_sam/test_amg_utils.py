"""Batched AMG helpers equal segment_anything's per-mask ones on hand-made and random masks."""
import numpy as np
import torch
from segment_anything.utils.amg import (batched_mask_to_box, calculate_stability_score,
                                        is_box_near_crop_edge, mask_to_rle_pytorch,
                                        remove_small_regions)
from torchvision.ops.boxes import batched_nms

from mmseg_sam_wsss.core.rle import masks_to_runs
from mmseg_sam_wsss.sam.amg_utils import (box_nms, boxes_near_crop_edge, clean_small_regions,
                                          concat_runs,
                                          mask_iou_matrix, masks_to_boxes_xyxy,
                                          masks_to_runs_torch, select_runs,
                                          stability_and_boxes)


def edge_case_masks(height=7, width=5, seed=0):
    masks = torch.as_tensor(np.random.default_rng(seed).random((8, height, width)) > 0.5)
    masks[0] = False  # empty
    masks[1] = True  # full
    masks[2] = False
    masks[2, 0, 0] = True  # starts with ones, one pixel
    masks[3] = False
    masks[3, -1, -1] = True  # ends with ones, one pixel
    masks[4] = False
    masks[4, 2:5, 1:3] = True  # a box
    return masks


def test_masks_to_runs_torch_equals_sam_rle_and_numpy_runs():
    masks = edge_case_masks()
    runs, offsets = masks_to_runs_torch(masks)
    expected = mask_to_rle_pytorch(masks)
    assert len(offsets) == len(masks) + 1
    for index, rle in enumerate(expected):
        assert runs[offsets[index]:offsets[index + 1]].tolist() == rle['counts']
    numpy_runs, numpy_offsets = masks_to_runs(masks.numpy())
    np.testing.assert_array_equal(runs, numpy_runs)
    np.testing.assert_array_equal(offsets, numpy_offsets)
    assert runs.dtype == np.uint32 and offsets.dtype == np.int64
    empty_runs, empty_offsets = masks_to_runs_torch(torch.zeros(0, 3, 4, dtype=torch.bool))
    assert len(empty_runs) == 0 and empty_offsets.tolist() == [0]


def test_select_and_concat_runs():
    masks = edge_case_masks()
    runs, offsets = masks_to_runs_torch(masks)
    picked_runs, picked_offsets = select_runs(runs, offsets, [4, 0, 2])
    expected_runs, expected_offsets = masks_to_runs(masks.numpy()[[4, 0, 2]])
    np.testing.assert_array_equal(picked_runs, expected_runs)
    np.testing.assert_array_equal(picked_offsets, expected_offsets)
    joined_runs, joined_offsets = concat_runs([masks_to_runs_torch(masks[:3]),
                                               masks_to_runs_torch(masks[3:])])
    np.testing.assert_array_equal(joined_runs, runs)
    np.testing.assert_array_equal(joined_offsets, offsets)
    assert concat_runs([])[1].tolist() == [0]


def smooth_logits(num_masks=12, height=23, width=31, seed=0):
    """Disk-shaped logits with noise: rows far from the disk are below every threshold."""
    generator = torch.Generator().manual_seed(seed)
    centre = torch.rand(num_masks, 2, generator=generator) * torch.tensor([width, height])
    radius = torch.rand(num_masks, generator=generator) * 8 + 1
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing='ij')
    dist2 = (xx - centre[:, 0, None, None]) ** 2 + (yy - centre[:, 1, None, None]) ** 2
    logits = 6 * (1 - dist2 / radius[:, None, None] ** 2)
    return logits + torch.randn(logits.shape, generator=generator)


def test_stability_and_boxes_equal_sam():
    logits = smooth_logits()
    logits[0] = -5  # empty at the low threshold: NaN stability and a 0 box, as SAM
    logits[1] = 5  # full
    logits[2] = -5
    logits[2, 4, 7] = 0.5  # one pixel: in the mask and the union, not the intersection
    for threshold, offset in ((0.0, 1.0), (0.0, 2.5), (0.5, 1.0), (0.0, -1.0)):
        stability, boxes = stability_and_boxes(logits, threshold, offset)
        torch.testing.assert_close(
            stability, calculate_stability_score(logits, threshold, offset), equal_nan=True,
            rtol=0, atol=0)
        np.testing.assert_array_equal(boxes.numpy(),
                                      batched_mask_to_box(logits > threshold).numpy())
    stability, boxes = stability_and_boxes(logits, 0.0, 1.0)
    assert torch.isnan(stability[0]) and boxes[0].tolist() == [0, 0, 0, 0]
    assert stability[1] == 1 and boxes[1].tolist() == [0, 0, 30, 22]
    assert stability[2] == 0 and boxes[2].tolist() == [7, 4, 7, 4]
    assert 0 < float(stability[5]) < 1
    empty_stability, empty_boxes = stability_and_boxes(torch.zeros(0, 5, 6), 0.0, 1.0)
    assert empty_stability.shape == (0, ) and empty_boxes.shape == (0, 4)


def test_boxes_and_crop_edges_equal_sam():
    masks = edge_case_masks(9, 11)
    np.testing.assert_array_equal(masks_to_boxes_xyxy(masks).numpy(),
                                  batched_mask_to_box(masks).numpy())
    assert masks_to_boxes_xyxy(masks)[4].tolist() == [1, 2, 2, 4]
    boxes = torch.tensor([[0, 0, 10, 10], [25, 30, 60, 70], [5, 40, 39, 79], [40, 40, 60, 60]])
    for crop_box in ([0, 0, 100, 80], [20, 0, 60, 80], [0, 40, 40, 80]):
        np.testing.assert_array_equal(
            boxes_near_crop_edge(boxes, crop_box, [0, 0, 100, 80]).numpy(),
            is_box_near_crop_edge(boxes, crop_box, [0, 0, 100, 80]).numpy())
    assert boxes_near_crop_edge(boxes, [20, 0, 60, 80], [0, 0, 100, 80]).any()


def test_box_nms_equals_torchvision_with_ties():
    generator = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 50, (300, 2), generator=generator)
    boxes = torch.cat([corners, corners + torch.randint(1, 30, (300, 2), generator=generator)],
                      1)
    scores = torch.randint(0, 3, (300, ), generator=generator).float()  # many ties
    expected = batched_nms(boxes.float(), scores, torch.zeros(300), iou_threshold=0.5)
    np.testing.assert_array_equal(box_nms(boxes, scores, 0.5).numpy(), expected.numpy())


def test_mask_iou_matrix():
    masks = edge_case_masks().numpy()
    iou = mask_iou_matrix(masks, masks[[1, 0, 4]])
    assert iou.shape == (8, 3)
    np.testing.assert_allclose(iou[1, 0], 1.0)
    np.testing.assert_allclose(iou[0, 1], 1.0)  # two empty masks
    np.testing.assert_allclose(iou[4, 0], 6 / 35)  # a 3x2 box inside the full 7x5 mask
    np.testing.assert_allclose(iou[4, 2], 1.0)
    assert iou[0, 0] == 0.0


def sam_clean(mask, min_area):
    cleaned, holes_changed = remove_small_regions(mask, min_area, mode='holes')
    cleaned, islands_changed = remove_small_regions(cleaned, min_area, mode='islands')
    return cleaned, not (holes_changed or islands_changed)


def test_clean_small_regions_equals_sam_on_the_whole_image():
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(60):  # blobs with holes and islands, some at the image edges
        height, width = rng.integers(12, 40, 2)
        noise = torch.as_tensor(rng.random((1, 1, height // 3 + 1, width // 3 + 1)))
        smooth = torch.nn.functional.interpolate(noise, (height, width), mode='bilinear')[0, 0]
        cases.append((smooth.numpy() > rng.uniform(0.4, 0.8), int(rng.integers(2, 40))))
    band = np.zeros((20, 30), bool)
    band[2:, :] = True  # full width: the 60-pixel strip above is a hole, outside the box
    band[10, 5] = False  # and a 1-pixel hole inside
    corner = np.zeros((20, 30), bool)
    corner[5:15, 0:10] = True
    corner[0, 29] = True  # a 1-pixel island far from the big one
    cases += [(band, 100), (corner, 5), (np.zeros((8, 9), bool), 5), (np.zeros((4, 4), bool), 50),
              (np.ones((8, 9), bool), 5), (np.ones((4, 4), bool), 50), (corner, 1)]
    changed = 0
    for mask, min_area in cases:
        expected, expected_same = sam_clean(mask.copy(), min_area)
        actual, same = clean_small_regions(mask.copy(), min_area)
        np.testing.assert_array_equal(actual, expected)
        assert same == expected_same
        changed += not same
    assert changed > 20  # the cases exercise the clean-up, not only the no-op
    cleaned, same = clean_small_regions(band, 100)
    assert not same and cleaned.all()  # the strip above (outside the box) and the hole filled
