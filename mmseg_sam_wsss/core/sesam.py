"""SeSAM steps 1-2: split class masks into connected components and prompt SAM along skeletons.

After "Do Instance Priors Help Weakly Supervised Semantic Segmentation?" (SeSAM, Das et al.,
2026). SAM segments instances, not classes, so each class mask of a weak label is decomposed
into its connected components and every component becomes one prompt: positive points spread
evenly along the component's skeleton (optionally plus negative points from other classes).
Selection among SAM's candidates and painting live in :mod:`.sesam_select`.

Pure NumPy + scipy + scikit-image; no mmseg, no mmcv.
"""
from collections import deque
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
from scipy import ndimage

from ..errors import SamWsssError
from .io import IGNORE_INDEX

#: 8-connectivity structure: diagonal pixels belong to the same component / skeleton.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def class_components(class_mask_label: np.ndarray, ignore: int = IGNORE_INDEX,
                     min_area: int = 1) -> List[Tuple[int, np.ndarray]]:
    """Decompose a label map into the 8-connected components of each class.

    Args:
        class_mask_label (np.ndarray): ``(H, W)`` integer class ids; ``ignore`` = unlabelled.
        ignore (int): The unlabelled value. Default: 255.
        min_area (int): Components with fewer pixels are dropped. Default: 1.

    Returns:
        list[tuple[int, np.ndarray]]: ``(class_id, component_mask)`` pairs, ``(H, W) bool``
        masks, ordered by class id and then by the component's first pixel in raster order.
    """
    if class_mask_label.ndim != 2:
        raise SamWsssError(f'class_components needs an (H, W) label, got {class_mask_label.shape}')
    components = []
    for class_id in np.unique(class_mask_label):
        if class_id == ignore:
            continue
        labelled, count = ndimage.label(class_mask_label == class_id, structure=EIGHT_CONNECTED)
        for index in range(1, count + 1):
            component_mask = labelled == index
            if component_mask.sum() >= min_area:
                components.append((int(class_id), component_mask))
    return components


def skeleton_of(component_mask: np.ndarray) -> np.ndarray:
    """The component's skeleton, ``(H, W) bool``, never empty for a non-empty component.

    skimage's ``skeletonize`` can erase tiny or thin blobs entirely; the component's
    distance-transform maximum (its most interior pixel) stands in then.
    """
    from skimage.morphology import skeletonize  # 0.3 s to import: only when prompting

    skeleton = skeletonize(component_mask) & component_mask
    if not skeleton.any() and component_mask.any():
        distance = ndimage.distance_transform_edt(component_mask)
        skeleton = np.zeros_like(component_mask)
        skeleton[np.unravel_index(int(np.argmax(distance)), distance.shape)] = True
    return skeleton


def _bfs(pixels: set, start: Tuple[int, int]) -> Tuple[dict, dict]:
    """8-connected breadth-first search over ``pixels``: ``(distance, parent)`` dicts."""
    distance, parent = {start: 0}, {start: None}
    queue = deque([start])
    while queue:
        row, col = queue.popleft()
        for d_row in (-1, 0, 1):
            for d_col in (-1, 0, 1):
                neighbour = (row + d_row, col + d_col)
                if neighbour in pixels and neighbour not in distance:
                    distance[neighbour] = distance[(row, col)] + 1
                    parent[neighbour] = (row, col)
                    queue.append(neighbour)
    return distance, parent


def skeleton_order(skeleton: np.ndarray) -> np.ndarray:
    """Skeleton pixels ordered by geodesic distance from one end of the skeleton.

    The start is an end of the skeleton's longest geodesic path (found by a double sweep), so on
    a curve the order runs from one end to the other; branches interleave by their distance.
    Disconnected skeleton pieces follow one another, larger first.

    Args:
        skeleton (np.ndarray): ``(H, W) bool``.

    Returns:
        np.ndarray: ``(S, 2) int64`` ``(row, col)`` of all S skeleton pixels.
    """
    remaining = set(map(tuple, np.argwhere(skeleton).tolist()))
    pieces = []
    while remaining:
        seed = min(remaining)
        reach, _ = _bfs(remaining, seed)
        end = max(reach, key=lambda pixel: (reach[pixel], pixel))
        distance, _ = _bfs(remaining, end)
        pieces.append(sorted(distance, key=lambda pixel: (distance[pixel], pixel)))
        remaining -= set(distance)
    pieces.sort(key=len, reverse=True)
    ordered = [pixel for piece in pieces for pixel in piece]
    return np.asarray(ordered, dtype=np.int64).reshape(-1, 2)


def longest_skeleton_path(skeleton: np.ndarray) -> np.ndarray:
    """The longest geodesic path of the skeleton's largest piece, end to end.

    Args:
        skeleton (np.ndarray): ``(H, W) bool``, non-empty.

    Returns:
        np.ndarray: ``(L, 2) int64`` ``(row, col)`` of consecutive (8-adjacent) path pixels.
    """
    ordered = skeleton_order(skeleton)
    if len(ordered) == 0:
        raise SamWsssError('longest_skeleton_path needs a non-empty skeleton')
    pixels = set(map(tuple, ordered.tolist()))
    reach, _ = _bfs(pixels, tuple(ordered[0]))
    pixels = set(reach)  # the largest piece only
    end = max(reach, key=lambda pixel: (reach[pixel], pixel))
    distance, parent = _bfs(pixels, end)
    far_end = max(distance, key=lambda pixel: (distance[pixel], pixel))
    path = []
    node = far_end
    while node is not None:
        path.append(node)
        node = parent[node]
    return np.asarray(path, dtype=np.int64)


def sample_skeleton_points(component_mask: np.ndarray, n_points: int,
                           rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Point prompts spread evenly along a component's skeleton.

    Skeleton pixels are ordered by :func:`skeleton_order`; the points are taken at the evenly
    spaced positions ``(i + u) / n`` of that order, ``i = 0..n-1``, with one phase ``u`` drawn
    from ``rng`` (0.5, the centres, without ``rng``). Every point is a skeleton pixel, hence
    inside the component. A skeleton shorter than ``n_points`` gives each of its pixels once.

    Args:
        component_mask (np.ndarray): ``(H, W) bool``, non-empty.
        n_points (int): Points wanted, ``>= 1``.
        rng (np.random.Generator, optional): Draws the phase ``u``; None = deterministic 0.5.

    Returns:
        np.ndarray: ``(min(n_points, S), 2) float32`` ``(x, y)`` pixel coordinates, S = number
        of skeleton pixels.
    """
    if n_points < 1:
        raise SamWsssError(f'n_points must be >= 1, got {n_points}')
    if not component_mask.any():
        raise SamWsssError('sample_skeleton_points got an empty component mask')
    ordered = skeleton_order(skeleton_of(component_mask.astype(bool)))
    count = len(ordered)
    if count <= n_points:
        chosen = ordered
    else:
        phase = 0.5 if rng is None else float(rng.uniform(0.0, 1.0))
        positions = np.floor((np.arange(n_points) + phase) * count / n_points).astype(np.int64)
        chosen = ordered[np.clip(positions, 0, count - 1)]
    return chosen[:, ::-1].astype(np.float32)


@dataclass
class PromptBatch:
    """Point prompts of one image, one row per component.

    Attributes:
        point_coords (np.ndarray): ``(K, N, 2) float32`` ``(x, y)``, padded rows repeat (0, 0).
        point_labels (np.ndarray): ``(K, N) int64``: 1 positive, 0 negative, -1 padding (SAM's
            "not a point" label).
        class_ids (np.ndarray): ``(K,) int64`` class of each component.
        component_masks (np.ndarray): ``(K, H, W) bool`` the components the prompts came from.
    """
    point_coords: np.ndarray
    point_labels: np.ndarray
    class_ids: np.ndarray
    component_masks: np.ndarray

    def __len__(self) -> int:
        return len(self.class_ids)

    def slice(self, start: int, stop: int) -> 'PromptBatch':
        """Rows ``start:stop`` as a new batch (to send SAM a bounded number at once)."""
        return PromptBatch(self.point_coords[start:stop], self.point_labels[start:stop],
                           self.class_ids[start:stop], self.component_masks[start:stop])


def build_prompts(components: List[Tuple[int, np.ndarray]], points_per_component: int = 3,
                  negative_points: int = 0, rng: Optional[np.random.Generator] = None,
                  shape: Optional[Tuple[int, int]] = None) -> PromptBatch:
    """Turn components into a padded batch of skeleton point prompts.

    Negative points, when asked for, are the skeleton points of the other classes' components
    nearest to this component's first positive point.

    Args:
        components (list): ``(class_id, (H, W) bool)`` pairs from :func:`class_components`.
        points_per_component (int): Positive skeleton points per component. Default: 3.
        negative_points (int): Negative points per component from other classes. Default: 0.
        rng (np.random.Generator, optional): For :func:`sample_skeleton_points`.
        shape (tuple[int, int], optional): ``(H, W)``, needed only when ``components`` is empty.

    Returns:
        PromptBatch: K = ``len(components)`` rows.
    """
    if not components:
        if shape is None:
            raise SamWsssError('build_prompts needs shape= when there are no components')
        return PromptBatch(np.zeros((0, 1, 2), np.float32), np.zeros((0, 1), np.int64),
                           np.zeros((0,), np.int64), np.zeros((0, *shape), bool))
    positives = [sample_skeleton_points(mask, points_per_component, rng)
                 for _, mask in components]
    class_ids = np.asarray([class_id for class_id, _ in components], dtype=np.int64)
    rows = []
    for index, points in enumerate(positives):
        negatives = np.zeros((0, 2), np.float32)
        if negative_points > 0:
            others = [positives[j] for j in range(len(components))
                      if class_ids[j] != class_ids[index]]
            if others:
                pool = np.concatenate(others)
                distance = np.linalg.norm(pool - points[0], axis=1)
                negatives = pool[np.argsort(distance, kind='stable')[:negative_points]]
        rows.append((points, negatives))
    width = max(len(pos) + len(neg) for pos, neg in rows)
    point_coords = np.zeros((len(rows), width, 2), np.float32)
    point_labels = np.full((len(rows), width), -1, np.int64)
    for index, (pos, neg) in enumerate(rows):
        point_coords[index, :len(pos)] = pos
        point_labels[index, :len(pos)] = 1
        point_coords[index, len(pos):len(pos) + len(neg)] = neg
        point_labels[index, len(pos):len(pos) + len(neg)] = 0
    component_masks = np.stack([mask.astype(bool) for _, mask in components])
    return PromptBatch(point_coords, point_labels, class_ids, component_masks)
