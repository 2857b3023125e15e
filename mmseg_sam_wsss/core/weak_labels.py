"""Weak labels (points, scribbles, coarse masks) synthesised from full GT, and their loader.

Protocols (all per 8-connected component of every class, background included, components of at
least ``min_area`` pixels; 255 in the GT stays unlabelled; everything is deterministic given
``rng``, use :func:`image_rng` for a per-image generator):

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
import json
import os.path as osp
import zlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
from skimage.draw import polygon as fill_polygon
from skimage.measure import approximate_polygon, find_contours

from ..errors import SamWsssError
from .io import IGNORE_INDEX, atomic_write, check_label_values, read_label_png
from .sesam import class_components, longest_skeleton_path, skeleton_of

WEAK_TYPES = ('point', 'scribble', 'coarse')
#: Protocol record written beside the weak labels; not an image id.
WEAK_META_NAME = 'weak_meta.json'
Point = Tuple[int, int, int]


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``image_id`` (crc32, not ``hash``)."""
    return np.random.default_rng([int(seed), zlib.crc32(image_id.encode('utf-8'))])


def _disk(radius: int) -> np.ndarray:
    grid = np.arange(-radius, radius + 1)
    return (grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2


def _stamp(target: np.ndarray, row: int, col: int, radius: int, allowed: np.ndarray) -> None:
    """Set a disk of ``radius`` around ``(row, col)`` in ``target``, only where ``allowed``."""
    height, width = target.shape
    top, bottom = max(row - radius, 0), min(row + radius + 1, height)
    left, right = max(col - radius, 0), min(col + radius + 1, width)
    disk = _disk(radius)[top - row + radius:bottom - row + radius,
                         left - col + radius:right - col + radius]
    target[top:bottom, left:right] |= disk & allowed[top:bottom, left:right]


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
            _stamp(suppress, row, col, max(int(distance[row, col]), 1),
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
            _stamp(drawn, row, col, radius, component_mask)
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
            _stamp(drawn, int(row), int(col), thickness // 2, component_mask)
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
    weak_label = np.full(gt_label.shape, IGNORE_INDEX, dtype=np.uint8)
    for class_id, component_mask in class_components(gt_label, min_area=min_area):
        eroded = ndimage.binary_erosion(component_mask, structure=_disk(erosion)) \
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


def write_points_json(path: str, points: Sequence[Point], shape: Sequence[int]) -> None:
    """Write ``{"points": [[x, y, class_id], ...], "height": H, "width": W}`` atomically."""
    payload = {'points': [[int(x), int(y), int(c)] for x, y, c in points],
               'height': int(shape[0]), 'width': int(shape[1])}
    with atomic_write(path, 'w') as handle:
        json.dump(payload, handle)


def read_points_json(path: str) -> List[Point]:
    """Read ``{"points": [[x, y, class_id], ...]}``; raises SamWsssError on a bad file."""
    try:
        with open(path, encoding='utf-8') as handle:
            payload = json.load(handle)
        points = [(int(x), int(y), int(c)) for x, y, c in payload['points']]
    except FileNotFoundError as error:
        raise SamWsssError(f'{path}: weak label file not found; run tools/make_weak_labels.py '
                           'or fix weak_label_path') from error
    except (ValueError, KeyError, TypeError) as error:
        raise SamWsssError(f'{path}: not a points JSON ({error}); expected '
                           '{"points": [[x, y, class_id], ...]}') from error
    return points


def points_to_label(points: Sequence[Point], shape: Sequence[int], radius: int = 0,
                    name: str = 'points') -> np.ndarray:
    """Draw points as disks of ``radius`` into an ``(H, W) uint8`` label (255 elsewhere).

    Later points overwrite earlier ones where disks overlap.
    """
    height, width = int(shape[0]), int(shape[1])
    weak_label = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
    everywhere = np.ones((height, width), bool)
    for x, y, class_id in points:
        if not (0 <= x < width and 0 <= y < height):
            raise SamWsssError(f'{name}: point ({x}, {y}) is outside the {width}x{height} '
                               'image; regenerate the points for this image size')
        drawn = np.zeros((height, width), bool)
        _stamp(drawn, y, x, radius, everywhere)
        weak_label[drawn] = class_id
    return weak_label


def load_weak_label(path: str, shape: Sequence[int], num_classes: Optional[int] = None,
                    point_radius: int = 0) -> np.ndarray:
    """Read a weak label PNG, or a points JSON drawn at ``point_radius``, as ``(H, W) uint8``.

    Args:
        path (str): ``<id>.png`` (class ids, 255 = unlabelled) or ``<id>.json`` (points).
        shape (Sequence[int]): The image's ``(H, W)``; the label must match it.
        num_classes (int, optional): When given, label values must be ``< num_classes`` or 255.
        point_radius (int): Disk radius for JSON points. Default: 0 (one pixel).

    Returns:
        np.ndarray: ``(H, W) uint8``.
    """
    if path.endswith('.json'):
        if not osp.isfile(path):
            raise SamWsssError(f'{path}: weak label file not found; run '
                               'tools/make_weak_labels.py or fix weak_label_path')
        weak_label = points_to_label(read_points_json(path), shape[:2], point_radius, path)
        if num_classes is not None:
            check_label_values(weak_label, num_classes, path)
        return weak_label
    return read_label_png(path, num_classes=num_classes, shape=shape)
