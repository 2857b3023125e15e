"""Weak labels on disk: label PNGs (class ids, 255 unlabelled) and point JSONs, read and drawn.

Points are kept as JSON ``{"points": [[x, y, class_id], ...], "height": H, "width": W}`` and drawn
as disks when loaded. Synthesis from full GT lives in
:mod:`mmseg_sam_wsss.simulation.weak_label_synthesis`. Pure NumPy; no mmseg.
"""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX, atomic_write, check_label_values, read_label_png

WEAK_TYPES = ('point', 'scribble', 'coarse')
#: Protocol record written beside the weak labels; not an image id.
WEAK_META_NAME = 'weak_meta.json'
Point = Tuple[int, int, int]


def disk(radius: int) -> np.ndarray:
    """A ``(2r+1, 2r+1) bool`` disk of ``radius``."""
    grid = np.arange(-radius, radius + 1)
    return (grid[:, None] ** 2 + grid[None, :] ** 2) <= radius ** 2


def stamp_disk(target: np.ndarray, row: int, col: int, radius: int, allowed: np.ndarray) -> None:
    """Set a disk of ``radius`` around ``(row, col)`` in ``target``, only where ``allowed``."""
    height, width = target.shape
    top, bottom = max(row - radius, 0), min(row + radius + 1, height)
    left, right = max(col - radius, 0), min(col + radius + 1, width)
    window = disk(radius)[top - row + radius:bottom - row + radius,
                          left - col + radius:right - col + radius]
    target[top:bottom, left:right] |= window & allowed[top:bottom, left:right]



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
    brush = disk(radius)
    for x, y, class_id in points:  # each point costs its disk, not the image
        if not (0 <= x < width and 0 <= y < height):
            raise SamWsssError(f'{name}: point ({x}, {y}) is outside the {width}x{height} '
                               'image; regenerate the points for this image size')
        top, bottom = max(y - radius, 0), min(y + radius + 1, height)
        left, right = max(x - radius, 0), min(x + radius + 1, width)
        window = brush[top - y + radius:bottom - y + radius, left - x + radius:right - x + radius]
        weak_label[top:bottom, left:right][window] = class_id
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
