"""Run-length helpers over column-major (Fortran-order) flattened masks, as COCO RLE counts.

A mask set is kept as one concatenated ``uint32`` array of run lengths plus ``(N + 1,)``
offsets. Runs alternate zeros/ones and start with zeros (possibly a 0-length run), exactly like
the uncompressed ``counts`` of pycocotools, so conversion to and from COCO RLE is lossless.
Pure NumPy + pycocotools; no mmseg.
"""
from typing import Iterable, List, Sequence, Tuple

import numpy as np
from pycocotools import mask as coco_mask


def masks_to_runs(masks: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Run lengths of binary masks, all masks at once.

    Args:
        masks (np.ndarray): ``(N, H, W)`` bool (or 0/1) masks.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` ``(R,) uint32`` concatenated run lengths (zeros
        first, Fortran order) and ``offsets`` ``(N + 1,) int64``; mask ``i`` owns
        ``runs[offsets[i]:offsets[i + 1]]``.
    """
    num_masks, height, width = masks.shape
    masks = masks if masks.dtype == np.bool_ else masks != 0
    if height * width == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _runs_from_c_order_changes(empty, empty, empty, empty, empty, num_masks, height,
                                          width)
    owner_inside, inside = np.divmod(np.flatnonzero(masks[:, 1:, :] != masks[:, :-1, :]),
                                     max((height - 1) * width, 1))
    owner_across, across = np.divmod(np.flatnonzero(masks[:, -1, :-1] != masks[:, 0, 1:]),
                                     max(width - 1, 1))
    return _runs_from_c_order_changes(owner_inside, inside, owner_across, across,
                                      np.flatnonzero(masks[:, 0, 0]), num_masks, height, width)


def mask_sequence_to_runs(masks: Iterable[np.ndarray], num_masks: int, height: int,
                          width: int) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`masks_to_runs` for masks that arrive one at a time (e.g. decoded from files).

    Each mask's changes are found while it is still in cache, and no ``(N, H, W)`` stack is
    built.

    Args:
        masks (Iterable[np.ndarray]): ``num_masks`` masks, each ``(H, W)`` bool (or 0/nonzero).
        num_masks (int): N, how many masks ``masks`` yields.
        height (int), width (int): H and W.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` and ``offsets``, as :func:`masks_to_runs`.
    """
    inside, across, first = [], [], []
    for index, mask in enumerate(masks):
        if mask.shape != (height, width):
            raise ValueError(f'mask {index} is {mask.shape}, expected {(height, width)}')
        if height * width == 0:
            first.append(False)
            continue
        mask = mask if mask.dtype == np.bool_ else mask != 0
        inside.append(np.flatnonzero(mask[1:] != mask[:-1]))
        across.append(np.flatnonzero(mask[-1, :-1] != mask[0, 1:]))
        first.append(mask[0, 0])
    if len(first) != num_masks:
        raise ValueError(f'{len(first)} masks given, expected {num_masks}')
    masks_index = np.arange(num_masks)
    empty = np.zeros(0, dtype=np.int64)
    if not inside:  # no masks, or masks of no pixels
        return _runs_from_c_order_changes(empty, empty, empty, empty, empty, num_masks, height,
                                          width)
    return _runs_from_c_order_changes(
        np.repeat(masks_index, [len(part) for part in inside]), np.concatenate(inside),
        np.repeat(masks_index, [len(part) for part in across]), np.concatenate(across),
        np.flatnonzero(first), num_masks, height, width)


def _runs_from_c_order_changes(owner_inside: np.ndarray, inside: np.ndarray,
                               owner_across: np.ndarray, across: np.ndarray, first: np.ndarray,
                               num_masks: int, height: int,
                               width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Runs from the changes of C-order ``(H, W)`` masks (no transposed copy is needed).

    In Fortran order a mask changes inside column x between rows y-1 and y (flat position
    ``x*H + y``), from the bottom of column x-1 to the top of column x (position ``x*H``), and
    at 0 where its first pixel is set.

    Args:
        owner_inside, inside (np.ndarray): Mask index and flat index into the ``(H-1, W)``
            array ``mask[1:] != mask[:-1]`` of each change inside a column.
        owner_across, across (np.ndarray): Mask index and index into the ``(W-1,)`` array
            ``mask[-1, :-1] != mask[0, 1:]`` of each change from one column to the next.
        first (np.ndarray): Masks whose first pixel is set.
        num_masks (int), height (int), width (int): N, H and W.
    """
    length = height * width
    row, col = np.divmod(inside, max(width, 1))
    keys = np.concatenate([owner_inside * length + col * height + row + 1,
                           owner_across * length + (across + 1) * height,
                           np.asarray(first, dtype=np.int64) * length])
    keys.sort()
    rows, cols = np.divmod(keys, max(length, 1))
    return runs_from_changes(rows, cols, num_masks, length)


def runs_from_changes(rows: np.ndarray, cols: np.ndarray, num_masks: int,
                      length: int) -> Tuple[np.ndarray, np.ndarray]:
    """Run lengths from the positions where each flattened mask changes value.

    Args:
        rows (np.ndarray): ``(C,)`` mask index of each change, ascending (``nonzero`` order).
        cols (np.ndarray): ``(C,)`` Fortran-order flat position ``p`` of each change: the value
            at ``p`` differs from the value at ``p - 1`` (a mask is 0 before position 0, so a
            mask starting with ones changes at 0).
        num_masks (int): N, the number of masks (masks without changes are empty).
        length (int): ``H * W``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` ``(R,) uint32`` and ``offsets`` ``(N + 1,)
        int64``, as :func:`masks_to_runs`.
    """
    changes_per_mask = np.bincount(rows, minlength=num_masks)
    # Boundaries per mask: 0, change positions, L  ->  runs are their differences.
    offsets = np.zeros(num_masks + 1, dtype=np.int64)
    np.cumsum(changes_per_mask + 1, out=offsets[1:])
    boundaries = np.empty(len(cols) + num_masks, dtype=np.int64)
    is_change = np.ones(len(boundaries), dtype=bool)
    is_change[offsets[1:] - 1] = False  # the last slot of each mask holds L
    boundaries[is_change] = cols
    boundaries[~is_change] = length
    previous = np.empty_like(boundaries)
    previous[1:] = boundaries[:-1]
    previous[offsets[:-1]] = 0
    runs = (boundaries - previous).astype(np.uint32)
    return runs, offsets


def run_positions(runs: np.ndarray, offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """Start/end (exclusive) flat positions of every *ones* run.

    Args:
        runs (np.ndarray): ``(R,) uint32`` concatenated run lengths.
        offsets (np.ndarray): ``(N + 1,) int64`` per-mask offsets into ``runs``.

    Returns:
        tuple: ``starts``, ``ends`` ``(Q,) int64`` Fortran-order flat positions of the ones
        runs, and ``owner`` ``(Q,) int64`` the mask index of each run (sorted ascending).
    """
    num_masks = len(offsets) - 1
    lengths = np.diff(offsets)
    owner_all = np.repeat(np.arange(num_masks), lengths)
    ends_all = np.cumsum(runs, dtype=np.int64)
    mask_base = np.zeros(num_masks, dtype=np.int64)
    nonempty = lengths > 0
    first = offsets[:-1][nonempty]
    mask_base[nonempty] = ends_all[first] - runs[first]
    ends_all -= mask_base[owner_all]
    local_index = np.arange(len(runs)) - offsets[:-1][owner_all]
    is_ones = (local_index % 2 == 1) & (runs > 0)
    ends = ends_all[is_ones]
    starts = ends - runs[is_ones]
    return starts, ends, owner_all[is_ones]


def runs_areas_and_boxes(runs: np.ndarray, offsets: np.ndarray,
                         height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Areas and inclusive XYXY boxes of every mask, straight from the runs.

    Args:
        runs (np.ndarray): ``(R,) uint32`` concatenated run lengths.
        offsets (np.ndarray): ``(N + 1,) int64`` per-mask offsets into ``runs``.
        height (int): Mask height H (runs are Fortran order, so columns are H long).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``areas`` ``(N,) int64`` and ``boxes`` ``(N, 4) int64``
        ``(x0, y0, x1, y1)`` of the first/last occupied column and row (all 0 for an empty
        mask).
    """
    num_masks = len(offsets) - 1
    starts, ends, owner = run_positions(runs, offsets)
    areas = np.bincount(owner, weights=ends - starts, minlength=num_masks).astype(np.int64)
    boxes = np.zeros((num_masks, 4), dtype=np.int64)
    if len(owner):
        # Columns are contiguous in Fortran order: a run spans columns start//H .. (end-1)//H.
        col_first, col_last = starts // height, (ends - 1) // height
        spans_column = col_last > col_first
        row_first = np.where(spans_column, 0, starts % height)
        row_last = np.where(spans_column, height - 1, (ends - 1) % height)
        big = np.iinfo(np.int64).max
        x0, y0 = np.full(num_masks, big), np.full(num_masks, big)
        x1, y1 = np.full(num_masks, -1), np.full(num_masks, -1)
        np.minimum.at(x0, owner, col_first)
        np.maximum.at(x1, owner, col_last)
        np.minimum.at(y0, owner, row_first)
        np.maximum.at(y1, owner, row_last)
        present = areas > 0
        boxes[present] = np.stack([x0, y0, x1, y1], 1)[present]
    return areas, boxes


def runs_union(starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Coverage count of a set of runs, ``(length,) int32`` (> 0 where any run covers)."""
    delta = (np.bincount(starts, minlength=length + 1)
             - np.bincount(ends, minlength=length + 1))
    return np.cumsum(delta[:-1], dtype=np.int32)


def runs_to_masks(runs: np.ndarray, offsets: np.ndarray, height: int, width: int,
                  indices: Sequence[int] = None) -> np.ndarray:
    """Decode masks from runs.

    Returns:
        np.ndarray: ``(K, H, W) bool`` for the ``indices`` (default: all masks).
    """
    num_masks = len(offsets) - 1
    indices = np.arange(num_masks) if indices is None else np.asarray(indices, dtype=np.int64)
    starts, ends, owner = run_positions(runs, offsets)
    out = np.zeros((len(indices), width * height + 1), dtype=np.int8)
    slot = np.full(num_masks, -1, dtype=np.int64)
    slot[indices] = np.arange(len(indices))
    keep = slot[owner] >= 0
    np.add.at(out, (slot[owner[keep]], starts[keep]), 1)
    np.add.at(out, (slot[owner[keep]], ends[keep]), -1)
    flat = np.cumsum(out[:, :-1], axis=1, dtype=np.int8) > 0
    return flat.reshape(len(indices), width, height).transpose(0, 2, 1)


def runs_to_coco(runs: np.ndarray, offsets: np.ndarray, height: int, width: int) -> List[dict]:
    """COCO compressed RLEs (``{'size': [h, w], 'counts': bytes}``) of every mask."""
    objects = [{'size': [height, width],
                'counts': runs[offsets[i]:offsets[i + 1]].tolist()}
               for i in range(len(offsets) - 1)]
    return coco_mask.frPyObjects(objects, height, width) if objects else []


def coco_to_runs(rles: Sequence[dict], height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Runs and offsets of COCO RLEs (compressed or uncompressed) of size ``(height, width)``."""
    if not rles:
        return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
    compressed = [coco_mask.frPyObjects(rle, height, width) if isinstance(rle['counts'], list)
                  else rle for rle in rles]
    masks = coco_mask.decode(compressed)  # (H, W, N) uint8, Fortran
    return masks_to_runs(masks.transpose(2, 0, 1).astype(bool))


def coco_string_to_counts(counts: str) -> List[int]:
    """The run lengths of a COCO compressed RLE string, decoded in Python and checked.

    pycocotools trusts its input: a string whose runs add up to more than ``h * w`` makes
    ``decode`` write past its buffer. Decode it here first and compare the sum.

    Args:
        counts (str): pycocotools' LEB128-like string (characters 48..111).

    Returns:
        list[int]: The counts.

    Raises:
        ValueError: A character outside 48..111, a count cut off at the end, or a negative count.
    """
    result: List[int] = []
    value = shift = 0
    for char in counts:
        code = ord(char) - 48
        if not 0 <= code < 64:
            raise ValueError(f'character {char!r} is not of a COCO RLE string')
        value |= (code & 0x1f) << shift
        shift += 5
        if code & 0x20:
            continue
        if code & 0x10:
            value -= 1 << shift  # sign-extend
        if len(result) > 2:
            value += result[-2]
        if value < 0:
            raise ValueError(f'run {len(result)} is negative ({value})')
        result.append(value)
        value = shift = 0
    if shift:
        raise ValueError('the string ends inside a count')
    return result
