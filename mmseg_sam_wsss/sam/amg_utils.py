"""Pure, batched helpers of the automatic mask generator: RLE, stability, boxes, NMS.

The counterparts of segment_anything's ``utils/amg.py`` with the per-mask Python loops taken
out: run lengths of a whole batch come from one ``nonzero`` on the device and one transfer, and
are kept in the mask store's layout (concatenated COCO counts, zeros first, plus offsets).
torch + torchvision + numpy only; no mmseg, no mmcv.
"""
import warnings
from typing import Sequence, Tuple

import numpy as np
import torch
from torchvision.ops.boxes import batched_nms

from ..core.rle import runs_from_changes


def masks_to_runs_torch(masks: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """COCO run lengths (Fortran order, zeros first) of a batch of masks, changes found on device.

    Args:
        masks (torch.Tensor): ``(K, H, W) bool`` masks, on any device.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` ``(R,) uint32`` and ``offsets`` ``(K + 1,)
        int64``; mask ``i`` owns ``runs[offsets[i]:offsets[i + 1]]`` (the uncompressed COCO
        ``counts`` that segment_anything's ``mask_to_rle_pytorch`` gives).
    """
    num_masks, height, width = masks.shape
    length = height * width
    # Fortran order behind one leading 0 column, so a mask starting with ones changes at 0.
    padded = torch.zeros(num_masks, length + 1, dtype=torch.bool, device=masks.device)
    padded[:, 1:].unflatten(1, (width, height)).copy_(masks.transpose(1, 2))
    changes = (padded[:, 1:] != padded[:, :-1]).nonzero()
    rows, cols = changes.cpu().numpy().T  # the one transfer
    return runs_from_changes(rows, cols, num_masks, length)


def select_runs(runs: np.ndarray, offsets: np.ndarray,
                indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """The runs of masks ``indices`` (in that order), as new ``(runs, offsets)``."""
    indices = np.asarray(indices, dtype=np.int64)
    lengths = offsets[indices + 1] - offsets[indices]
    new_offsets = np.zeros(len(indices) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    positions = (np.repeat(offsets[indices] - new_offsets[:-1], lengths)
                 + np.arange(new_offsets[-1]))
    return runs[positions], new_offsets


def concat_runs(parts: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Tuple[np.ndarray, np.ndarray]:
    """Concatenate several ``(runs, offsets)`` pairs into one."""
    if not parts:
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    runs = np.concatenate([part_runs for part_runs, _ in parts])
    offsets, base = [np.zeros(1, np.int64)], 0
    for part_runs, part_offsets in parts:
        offsets.append(part_offsets[1:] + base)
        base += len(part_runs)
    return runs, np.concatenate(offsets)


def stability_and_boxes(mask_logits: torch.Tensor, mask_threshold: float,
                        threshold_offset: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """SAM's stability scores and the boxes of ``mask_logits > mask_threshold``, in one go.

    The same numbers as segment_anything's ``calculate_stability_score`` and
    ``batched_mask_to_box`` of the thresholded logits, with less work: one max over each row
    finds the rows that can hold a pixel above any of the three thresholds; the pixel counts
    and column maxima are taken over those rows only (the others count 0 everywhere), and no
    thresholded copy of the masks is made. Counts are int32 (SAM sums each row in int16: the
    same below 32768 columns).

    Args:
        mask_logits (torch.Tensor): ``(K, H, W)`` float logits.
        mask_threshold (float): SAM's mask threshold (0.0).
        threshold_offset (float): The stability offset (SAM default 1.0).

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(K,) float32`` stability (NaN when no pixel is
        above the low threshold, as segment_anything) and ``(K, 4) int64`` inclusive XYXY
        boxes (0s when empty, as ``batched_mask_to_box``).
    """
    num_masks, height, width = mask_logits.shape
    device = mask_logits.device
    row_max = mask_logits.amax(-1)  # (K, H)
    active = (row_max > mask_threshold - abs(threshold_offset)).flatten().nonzero()[:, 0]
    rows = mask_logits.reshape(-1, width).index_select(0, active)  # (R, W)
    owner = active // height
    counts = torch.zeros(2, num_masks, dtype=torch.int32, device=device)
    counts[0].index_add_(0, owner, (rows > mask_threshold + threshold_offset).sum(
        -1, dtype=torch.int32))
    counts[1].index_add_(0, owner, (rows > mask_threshold - threshold_offset).sum(
        -1, dtype=torch.int32))
    col_max = torch.full((num_masks, width), -float('inf'), dtype=rows.dtype, device=device)
    # index_reduce_ (a 'beta' API, hence the filter) is 10-100x faster than scatter_reduce_
    # on 2 CPU threads and as fast on one.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='index_reduce', category=UserWarning)
        col_max.index_reduce_(0, owner, rows, 'amax')
    boxes = _boxes_from_any(row_max > mask_threshold, col_max > mask_threshold)
    return counts[0] / counts[1], boxes


def masks_to_boxes_xyxy(masks: torch.Tensor) -> torch.Tensor:
    """Inclusive XYXY boxes of ``(K, H, W) bool`` masks, ``(K, 4)`` int64; 0s when empty."""
    return _boxes_from_any(masks.any(-1), masks.any(-2))


def _boxes_from_any(rows_any: torch.Tensor, cols_any: torch.Tensor) -> torch.Tensor:
    """Boxes from ``(K, H)`` and ``(K, W)`` bool occupancy, as segment_anything's
    ``batched_mask_to_box`` (``[0, 0, 0, 0]`` for an empty mask)."""
    num_masks, height = rows_any.shape
    width = cols_any.shape[1]
    if num_masks == 0:
        return torch.zeros(0, 4, dtype=torch.int64, device=rows_any.device)
    row_index = torch.arange(height, device=rows_any.device)
    col_index = torch.arange(width, device=rows_any.device)
    bottom = torch.where(rows_any, row_index, -1).amax(-1)
    top = torch.where(rows_any, row_index, height).amin(-1)
    right = torch.where(cols_any, col_index, -1).amax(-1)
    left = torch.where(cols_any, col_index, width).amin(-1)
    boxes = torch.stack([left, top, right, bottom], -1)
    return boxes * (right >= left)[:, None]


def boxes_near_crop_edge(boxes: torch.Tensor, crop_box: Sequence[int],
                         orig_box: Sequence[int], atol: float = 20.0) -> torch.Tensor:
    """``(K,) bool``: box (in crop frame) touches a crop edge that is not an image edge."""
    crop = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    boxes = boxes.float() + torch.as_tensor([crop_box[0], crop_box[1]] * 2, dtype=torch.float,
                                            device=boxes.device)
    near_crop = torch.isclose(boxes, crop[None], atol=atol, rtol=0)
    near_image = torch.isclose(boxes, orig[None], atol=atol, rtol=0)
    return (near_crop & ~near_image).any(1)


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices kept by class-agnostic box NMS, highest score first (torchvision's ``nms``)."""
    return batched_nms(boxes.float(), scores.float(),
                       torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device),
                       iou_threshold=iou_threshold)


def clean_small_regions(mask: np.ndarray, min_area: int) -> Tuple[np.ndarray, bool]:
    """segment_anything's mask clean-up, computed on the mask's box instead of the image.

    The same result as SAM's ``remove_small_regions(mask, min_area, 'holes')`` followed by
    ``'islands'``: mask components lie inside the box, and a background component inside the
    box grown by one pixel is the image's component unless it touches a side of that crop
    that is not an image edge; when such a component is small there, the whole image is used.

    Args:
        mask (np.ndarray): ``(H, W) bool`` mask.
        min_area (int): Holes and islands smaller than this are removed.

    Returns:
        tuple[np.ndarray, bool]: The cleaned ``(H, W) bool`` mask and whether it is unchanged.
    """
    import cv2
    from segment_anything.utils.amg import remove_small_regions

    def full_image() -> Tuple[np.ndarray, bool]:
        cleaned, holes_changed = remove_small_regions(mask, min_area, mode='holes')
        cleaned, islands_changed = remove_small_regions(cleaned, min_area, mode='islands')
        return cleaned, not (holes_changed or islands_changed)

    height, width = mask.shape
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if not len(rows):
        return full_image()
    y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, height)
    x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, width)
    crop = mask[y0:y1, x0:x1]
    changed = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~crop).astype(np.uint8), 8)
    small = np.nonzero(stats[1:, -1] < min_area)[0] + 1
    if len(small):
        open_sides = [labels[0] if y0 > 0 else (), labels[-1] if y1 < height else (),
                      labels[:, 0] if x0 > 0 else (), labels[:, -1] if x1 < width else ()]
        if np.isin(np.concatenate([np.asarray(side).ravel() for side in open_sides]),
                   small).any():
            return full_image()  # a small-looking component may go on outside the crop
        crop = crop | np.isin(labels, small)
        changed = True
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), 8)
    sizes = stats[1:, -1]
    small = np.nonzero(sizes < min_area)[0] + 1
    if len(small):
        keep = np.setdiff1d(np.arange(1, count), small)
        if not len(keep):  # every island is small: keep the largest, as SAM
            keep = [int(np.argmax(sizes)) + 1]
        crop = np.isin(labels, keep)
        changed = True
    if not changed:
        return mask, True
    cleaned = np.zeros_like(mask)
    cleaned[y0:y1, x0:x1] = crop
    return cleaned, False


def mask_iou_matrix(masks_a: np.ndarray, masks_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two mask sets, to match one generator's masks to another's.

    Args:
        masks_a (np.ndarray): ``(N, H, W) bool`` masks.
        masks_b (np.ndarray): ``(M, H, W) bool`` masks.

    Returns:
        np.ndarray: ``(N, M) float64`` IoU (1.0 for two empty masks).
    """
    flat_a = torch.as_tensor(masks_a.reshape(len(masks_a), -1), dtype=torch.float32)
    flat_b = torch.as_tensor(masks_b.reshape(len(masks_b), -1), dtype=torch.float32)
    intersection = (flat_a @ flat_b.T).double()
    union = flat_a.sum(1).double()[:, None] + flat_b.sum(1).double()[None] - intersection
    iou = torch.where(union > 0, intersection / union.clamp(min=1), 1.0)
    return iou.numpy()
