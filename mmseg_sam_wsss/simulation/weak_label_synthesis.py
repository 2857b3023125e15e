"""Weak labels (points, scribbles, coarse masks) synthesised from full GT: a measuring instrument.

Real annotations come in through ``tools/convert_weak_labels.py``; these protocols make weak labels
where only full GT exists, for experiments and the demo.

Protocols (all per 8-connected component of every class, background included, components of at
least ``min_area`` pixels; 255 in the GT stays unlabelled; everything is deterministic given
``rng``, use :func:`~mmseg_sam_wsss.core.rng.image_rng` for a per-image generator):

* ``point``: ``points_per_component`` points, at the distance-transform maximum and then the
  next maxima away from earlier points (``placement='center'``), or at random interior pixels
  (``placement='random'``); each drawn as a disk of ``radius`` clipped to its component.
* ``scribble``: a contiguous piece (``fraction`` of its length, random start) of the longest
  path of the component's skeleton, thickened to ``thickness`` pixels, clipped to the component.
* ``coarse``: the component eroded by ``erosion`` pixels, outlined with polygons simplified by
  ``tolerance`` (``skimage.measure.approximate_polygon``), filled, and clipped to the component
  minus its one-pixel rim, so boundaries stay unlabelled (Cityscapes-coarse style).

Output: ``(H, W) uint8`` class ids on labelled pixels, 255 elsewhere. Points can also be kept as
JSON ``{"points": [[x, y, class_id], ...]}``. Pure NumPy/scipy/scikit-image; no mmseg.
"""
from typing import List, Optional, Tuple

import numpy as np
from scipy import ndimage

from ..core.io import IGNORE_INDEX
from ..core.sesam import class_components, longest_skeleton_path, skeleton_of
from ..core.weak_labels import WEAK_TYPES, Point, disk, stamp_disk
from ..errors import SamWsssError


def _point_positions(component_mask: np.ndarray, count: int, placement: str,
                     rng: np.random.Generator) -> List[Tuple[int, int]]:
    distance = ndimage.distance_transform_edt(component_mask)
    if placement == 'center':
        positions = []
        remaining = distance.copy()
        for _ in range(count):
            if remaining.max() <= 0:
                break
            row, col = np.unravel_index(int(np.argmax(remaining)), remaining.shape)
            positions.append((int(row), int(col)))
            suppress = np.zeros_like(component_mask)
            stamp_disk(suppress, row, col, max(int(distance[row, col]), 1),
                   np.ones_like(component_mask))
            remaining[suppress] = 0
        return positions
    if placement == 'random':
        interior = np.argwhere(distance > 1)
        if len(interior) == 0:  # a thin component: any of its pixels
            interior = np.argwhere(component_mask)
        picks = rng.choice(len(interior), size=min(count, len(interior)), replace=False)
        return [(int(interior[i, 0]), int(interior[i, 1])) for i in np.sort(picks)]
    raise SamWsssError(f"point placement must be 'center' or 'random', got {placement!r}")


def synthesize_points(gt_label: np.ndarray, rng: np.random.Generator,
                      points_per_component: int = 1, placement: str = 'center',
                      radius: int = 2, min_area: int = 16) -> Tuple[np.ndarray, List[Point]]:
    """Point labels from a full GT label.

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` GT, 255 = ignore.
        rng (np.random.Generator): Used by ``placement='random'``.
        points_per_component (int): Points per component. Default: 1.
        placement (str): ``'center'`` or ``'random'``. Default: ``'center'``.
        radius (int): Disk radius of each point in the label map (0 = one pixel). Default: 2.
        min_area (int): Smaller components get no point. Default: 16.

    Returns:
        tuple: ``(H, W) uint8`` weak label, and the points ``[(x, y, class_id), ...]``.
    """
    weak_label = np.full(gt_label.shape, IGNORE_INDEX, dtype=np.uint8)
    points = []
    for class_id, component_mask in class_components(gt_label, min_area=min_area):
        drawn = np.zeros_like(component_mask)
        for row, col in _point_positions(component_mask, points_per_component, placement, rng):
            stamp_disk(drawn, row, col, radius, component_mask)
            points.append((col, row, class_id))
        weak_label[drawn] = class_id
    return weak_label, points


def synthesize_scribbles(gt_label: np.ndarray, rng: np.random.Generator, thickness: int = 3,
                         fraction: float = 0.6, min_area: int = 16) -> np.ndarray:
    """Scribble labels: a contiguous piece of each component's skeleton path, thickened.

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` GT, 255 = ignore.
        rng (np.random.Generator): Draws where the piece starts along the path.
        thickness (int): Scribble width in pixels (a disk of radius ``thickness // 2``). Default: 3.
        fraction (float): Share of the skeleton path covered, in ``(0, 1]``. Default: 0.6.
        min_area (int): Smaller components get no scribble. Default: 16.

    Returns:
        np.ndarray: ``(H, W) uint8`` weak label.
    """
    if not 0 < fraction <= 1:
        raise SamWsssError(f'scribble fraction must be in (0, 1], got {fraction}')
    weak_label = np.full(gt_label.shape, IGNORE_INDEX, dtype=np.uint8)
    for class_id, component_mask in class_components(gt_label, min_area=min_area):
        path = longest_skeleton_path(skeleton_of(component_mask))
        length = max(int(round(fraction * len(path))), 1)
        start = int(rng.integers(0, len(path) - length + 1))
        drawn = np.zeros_like(component_mask)
        for row, col in path[start:start + length]:
            stamp_disk(drawn, int(row), int(col), thickness // 2, component_mask)
        weak_label[drawn] = class_id
    return weak_label


def synthesize_coarse(gt_label: np.ndarray, erosion: int = 5, tolerance: float = 3.0,
                      min_area: int = 16) -> np.ndarray:
    """Coarse labels: eroded components outlined by simplified polygons, boundaries unlabelled.

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` GT, 255 = ignore.
        erosion (int): Erosion in pixels before outlining. Default: 5.
        tolerance (float): ``approximate_polygon`` tolerance in pixels. Default: 3.0.
        min_area (int): Smaller components are left unlabelled. Default: 16.

    Returns:
        np.ndarray: ``(H, W) uint8`` weak label.
    """
    # skimage.measure imports scipy.signal and scipy.stats (1.2 s): only for coarse labels.
    from skimage.draw import polygon as fill_polygon
    from skimage.measure import approximate_polygon, find_contours

    weak_label = np.full(gt_label.shape, IGNORE_INDEX, dtype=np.uint8)
    for class_id, component_mask in class_components(gt_label, min_area=min_area):
        eroded = ndimage.binary_erosion(component_mask, structure=disk(erosion)) \
            if erosion > 0 else component_mask
        if not eroded.any():
            continue
        filled = np.zeros_like(component_mask)
        padded = np.pad(eroded, 1).astype(np.float32)
        for contour in find_contours(padded, 0.5):
            outline = approximate_polygon(contour - 1, tolerance=tolerance)
            rows, cols = fill_polygon(outline[:, 0], outline[:, 1], shape=gt_label.shape)
            filled[rows, cols] ^= True  # even-odd rule: holes stay holes
        inner = ndimage.binary_erosion(component_mask, structure=np.ones((3, 3), bool))
        weak_label[filled & inner] = class_id
    return weak_label


def make_weak_label(gt_label: np.ndarray, weak_type: str, rng: np.random.Generator,
                    **options) -> Tuple[np.ndarray, Optional[List[Point]]]:
    """Dispatch to the ``weak_type`` protocol; returns the label and the points (or None)."""
    if weak_type == 'point':
        return synthesize_points(gt_label, rng, **options)
    if weak_type == 'scribble':
        return synthesize_scribbles(gt_label, rng, **options), None
    if weak_type == 'coarse':
        return synthesize_coarse(gt_label, **options), None
    raise SamWsssError(f'weak type must be one of {WEAK_TYPES}, got {weak_type!r}')
