"""GT-component mask oracles: class-agnostic masks that are NOT SAM, for measuring the method.

They write the same :class:`~mmseg_sam_wsss.core.mask_store.MaskSet` as SAM's automatic mask
generator, so every later step (the SEPL merge, ``LoadSAMMasks``) runs on them unchanged, and
their ``source`` strings say plainly that they are not SAM:

* :class:`OracleMasks`: the connected components of every GT class (an upper bound).
* :class:`ImperfectOracleMasks`: the same components with simulated SAM behaviour (part
  masks, whole + parts at once, merged neighbours of different classes, missed objects,
  boundary shifts and wobble, background "stuff" masks that bleed over object borders),
  deterministic per ``(seed, image id)``. It stands in for SAM where no weights are at hand.

Pure NumPy/scipy; no mmseg, no torch.
"""
from typing import Dict, List, Tuple

import numpy as np
from scipy import ndimage

from ..core.io import IGNORE_INDEX
from ..core.mask_store import MaskSet
from ..core.rng import image_rng
from ..errors import SamWsssError

ORACLE_SOURCE = 'oracle (GT components, not SAM)'
IMPERFECT_ORACLE_SOURCE = 'oracle-imperfect (GT components with simulated SAM errors, not SAM)'
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
MASK_KINDS = ('whole', 'part', 'merged', 'stuff')


def _check_label(gt_label: np.ndarray) -> np.ndarray:
    gt_label = np.asarray(gt_label)
    if gt_label.ndim != 2:
        raise SamWsssError(f'an oracle needs an (H, W) GT label, got shape {gt_label.shape}')
    return gt_label


def fill_ignore(gt_label: np.ndarray) -> np.ndarray:
    """Give every ignore (255) pixel the class of its nearest labelled pixel.

    VOC's 255 band lies on object borders; filled, the components tile the image like SAM
    masks that reach the true border. A label with no labelled pixel is returned as it is.

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` class ids, 255 = ignore.

    Returns:
        np.ndarray: ``(H, W) uint8`` class ids without 255 (unless all pixels were 255).
    """
    ignore = gt_label == IGNORE_INDEX
    if not ignore.any() or ignore.all():
        return gt_label.copy()
    nearest = ndimage.distance_transform_edt(ignore, return_distances=False,
                                             return_indices=True)
    return gt_label[tuple(nearest)]


def gt_components(gt_label: np.ndarray, include_background: bool = True,
                  min_area: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """The 8-connected components of every class of a label map (255 is never a component).

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` class ids, 255 = ignore.
        include_background (bool): Also return the components of class 0. Default: True.
        min_area (int): Drop components with fewer pixels. Default: 1 (keep all).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(N, H, W) bool`` component masks and ``(N,) int64``
        their class ids, ordered by class id, then by scipy's label order.
    """
    gt_label = _check_label(gt_label)
    masks, class_ids = [], []
    for class_id in np.unique(gt_label):
        if class_id == IGNORE_INDEX or (class_id == 0 and not include_background):
            continue
        labelled, count = ndimage.label(gt_label == class_id, structure=EIGHT_CONNECTED)
        areas = np.bincount(labelled.ravel(), minlength=count + 1)
        for index in range(1, count + 1):
            if areas[index] >= min_area:
                masks.append(labelled == index)
                class_ids.append(int(class_id))
    if not masks:
        return np.zeros((0, ) + gt_label.shape, dtype=bool), np.zeros(0, dtype=np.int64)
    return np.stack(masks), np.asarray(class_ids, dtype=np.int64)


class OracleMasks:
    """GT connected components as class-agnostic masks: an oracle (upper bound), not SAM.

    Args:
        background_masks (bool): Also give the background's components as "stuff" masks, as
            SAM segments background regions too. Default: True.
        fill_ignore (bool): Hand ignore (255) pixels to the nearest class first
            (:func:`fill_ignore`), so masks reach the object borders. Default: True.
        min_area (int): Drop components with fewer pixels. Default: 1.
    """

    source = ORACLE_SOURCE

    def __init__(self, background_masks: bool = True, fill_ignore: bool = True,
                 min_area: int = 1) -> None:
        if min_area < 1:
            raise SamWsssError(f'min_area must be >= 1, got {min_area}')
        self.background_masks = background_masks
        self.fill_ignore = fill_ignore
        self.min_area = int(min_area)

    @property
    def settings(self) -> Dict:
        """JSON-serializable settings, recorded in the store and every MaskSet."""
        return dict(background_masks=self.background_masks, fill_ignore=self.fill_ignore,
                    min_area=self.min_area)

    def _prepared(self, gt_label: np.ndarray) -> np.ndarray:
        gt_label = _check_label(gt_label)
        return fill_ignore(gt_label) if self.fill_ignore else gt_label

    def generate(self, gt_label: np.ndarray, image_id: str = '') -> MaskSet:
        """The oracle masks of one image.

        Args:
            gt_label (np.ndarray): ``(H, W) uint8`` GT class ids, 255 = ignore.
            image_id (str): Unused (the perfect oracle has no randomness).

        Returns:
            MaskSet: ``N`` masks ``(H, W)``, one per GT component, no scores (NaN).
        """
        masks, _ = gt_components(self._prepared(gt_label), self.background_masks,
                                 self.min_area)
        return MaskSet.from_masks(masks, self.source, self.settings)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.settings})'


class ImperfectOracleMasks(OracleMasks):
    """GT components with simulated SAM errors (not SAM), deterministic per (seed, image id).

    Per foreground component (an "object"): missed with ``miss_prob``; else split with
    ``part_prob`` into 2..``max_parts`` Voronoi pieces (parts under ``min_part_area`` are
    dropped) and the whole kept beside its parts with ``keep_whole_prob`` (SAM's multi-
    granularity). Each pair of touching objects of different classes also gives their union
    with ``merge_prob`` (ignore pixels between them included). Each background component gives
    "stuff" masks: ``k`` Voronoi pieces, ``k`` drawn from ``ceil(area / (stuff_piece_fraction
    * H * W))`` to ``max_stuff_pieces`` (large regions are always split, as SAM splits wall,
    floor and sky), plus the whole component with ``stuff_whole_prob`` when split. Finally
    every mask's border moves: a uniform shift in ``[-boundary_shift, boundary_shift]`` px
    (stuff: ``[0, stuff_bleed]``, so stuff overlaps object borders) plus a smooth random wobble
    (zero mean along the border) of ``wobble_amplitude`` px standard deviation and
    ``wobble_scale`` px correlation length, both at most a quarter of the mask's
    half-thickness (its largest inner distance), so small objects keep their shape. A mask the
    noise would shrink below a quarter of its area is kept unshifted.

    Args:
        seed (int): Seed; with the image id it fixes every random choice. Default: 0.
        part_prob (float): Probability that an object is split into parts. Default: 0.3.
        max_parts (int): Most parts per split object (>= 2). Default: 3.
        min_part_area (int): Parts with fewer pixels are dropped; objects under twice this
            are never split. Default: 100.
        keep_whole_prob (float): Probability that a split object keeps its whole mask beside
            the parts. Default: 0.7.
        merge_prob (float): Probability of a merged mask per touching pair of objects of
            different classes. Default: 0.15.
        touch_px (int): Objects closer than this (px, chessboard) touch. Default: 3.
        miss_prob (float): Probability that an object gets no mask at all. Default: 0.05.
        max_stuff_pieces (int): Most pieces per background component. Default: 4.
        stuff_piece_fraction (float): Background components are split into at least
            ``ceil(area / (stuff_piece_fraction * H * W))`` pieces (at most
            ``max_stuff_pieces``). Default: 0.25.
        stuff_whole_prob (float): Probability that a split background component also gives
            its whole mask (a mask that big can swallow a small class's CAM under SEPL's
            coverage rule, as SAM's rare near-whole-image masks do). Default: 0.2.
        boundary_shift (float): Largest border shift of object masks (px). Default: 2.
        stuff_bleed (float): Largest outward shift of stuff masks (px). Default: 3.
        wobble_amplitude (float): Std of the smooth border wobble (px). Default: 1.5.
        wobble_scale (float): Correlation length of the wobble (px). Default: 6.
        background_masks (bool): Give stuff masks at all. Default: True.
        fill_ignore (bool): As :class:`OracleMasks`. Default: True.
        min_area (int): Components with fewer pixels get no mask. Default: 16.
    """

    source = IMPERFECT_ORACLE_SOURCE

    def __init__(self, seed: int = 0, part_prob: float = 0.3, max_parts: int = 3,
                 min_part_area: int = 100, keep_whole_prob: float = 0.7,
                 merge_prob: float = 0.15, touch_px: int = 3, miss_prob: float = 0.05,
                 max_stuff_pieces: int = 4, stuff_piece_fraction: float = 0.25,
                 stuff_whole_prob: float = 0.2, boundary_shift: float = 2.0,
                 stuff_bleed: float = 3.0, wobble_amplitude: float = 1.5,
                 wobble_scale: float = 6.0, background_masks: bool = True,
                 fill_ignore: bool = True, min_area: int = 16) -> None:
        super().__init__(background_masks, fill_ignore, min_area)
        for name, value in (('part_prob', part_prob), ('keep_whole_prob', keep_whole_prob),
                            ('merge_prob', merge_prob), ('miss_prob', miss_prob),
                            ('stuff_whole_prob', stuff_whole_prob)):
            if not 0.0 <= value <= 1.0:
                raise SamWsssError(f'{name} must be a probability in [0, 1], got {value}')
        if max_parts < 2 or max_stuff_pieces < 1 or touch_px < 1:
            raise SamWsssError('max_parts must be >= 2, max_stuff_pieces and touch_px >= 1')
        if not 0 < stuff_piece_fraction <= 1:
            raise SamWsssError(f'stuff_piece_fraction must be in (0, 1], got '
                               f'{stuff_piece_fraction}')
        if min(boundary_shift, stuff_bleed, wobble_amplitude) < 0 or wobble_scale <= 0:
            raise SamWsssError('boundary_shift, stuff_bleed and wobble_amplitude must be >= 0 '
                               'and wobble_scale > 0')
        self.seed = int(seed)
        self.part_prob, self.max_parts = float(part_prob), int(max_parts)
        self.min_part_area, self.keep_whole_prob = int(min_part_area), float(keep_whole_prob)
        self.merge_prob, self.touch_px = float(merge_prob), int(touch_px)
        self.miss_prob, self.max_stuff_pieces = float(miss_prob), int(max_stuff_pieces)
        self.stuff_piece_fraction = float(stuff_piece_fraction)
        self.stuff_whole_prob = float(stuff_whole_prob)
        self.boundary_shift, self.stuff_bleed = float(boundary_shift), float(stuff_bleed)
        self.wobble_amplitude, self.wobble_scale = float(wobble_amplitude), float(wobble_scale)

    @property
    def settings(self) -> Dict:
        return dict(super().settings, seed=self.seed, part_prob=self.part_prob,
                    max_parts=self.max_parts, min_part_area=self.min_part_area,
                    keep_whole_prob=self.keep_whole_prob, merge_prob=self.merge_prob,
                    touch_px=self.touch_px, miss_prob=self.miss_prob,
                    max_stuff_pieces=self.max_stuff_pieces,
                    stuff_piece_fraction=self.stuff_piece_fraction,
                    stuff_whole_prob=self.stuff_whole_prob, boundary_shift=self.boundary_shift,
                    stuff_bleed=self.stuff_bleed, wobble_amplitude=self.wobble_amplitude,
                    wobble_scale=self.wobble_scale)

    def simulate(self, gt_label: np.ndarray, image_id: str) -> Tuple[np.ndarray, List[str]]:
        """The simulated masks of one image and what each one is.

        Args:
            gt_label (np.ndarray): ``(H, W) uint8`` GT class ids, 255 = ignore.
            image_id (str): The image id; with ``seed`` it fixes the randomness.

        Returns:
            tuple[np.ndarray, list[str]]: ``(N, H, W) bool`` non-empty masks and their kinds
            (``'whole'``, ``'part'``, ``'merged'`` or ``'stuff'``, see :data:`MASK_KINDS`).
        """
        rng = image_rng(self.seed, image_id)
        label = self._prepared(gt_label)
        ignore = label == IGNORE_INDEX  # empty unless fill_ignore=False
        components, class_ids = gt_components(label, True, self.min_area)
        objects = components[class_ids != 0]
        object_classes = class_ids[class_ids != 0]
        masks: List[np.ndarray] = []
        kinds: List[str] = []
        for mask in objects:
            if rng.random() < self.miss_prob:
                continue
            self._add_split(mask, rng, self.part_prob, 2, self.max_parts,
                            self.keep_whole_prob, 'whole', masks, kinds)
        for first, second in self._touching_pairs(objects, object_classes):
            if rng.random() < self.merge_prob:
                bridge = (ignore & ndimage.binary_dilation(objects[first], EIGHT_CONNECTED,
                                                           self.touch_px)
                          & ndimage.binary_dilation(objects[second], EIGHT_CONNECTED,
                                                    self.touch_px))
                masks.append(objects[first] | objects[second] | bridge)
                kinds.append('merged')
        if self.background_masks:
            for mask in components[class_ids == 0]:
                fewest = int(np.clip(np.ceil(mask.sum() / (self.stuff_piece_fraction
                                                           * mask.size)),
                                     1, self.max_stuff_pieces))
                self._add_split(mask, rng, 1.0, fewest, self.max_stuff_pieces,
                                self.stuff_whole_prob, 'stuff', masks, kinds)
        noisy_masks, noisy_kinds = [], []
        for mask, kind in zip(masks, kinds):
            if kind == 'stuff':
                shift = rng.uniform(0.0, self.stuff_bleed)
            else:
                shift = rng.uniform(-self.boundary_shift, self.boundary_shift)
            mask = self._perturb(mask, shift, rng)
            if mask.any():
                noisy_masks.append(mask)
                noisy_kinds.append(kind)
        if not noisy_masks:
            return np.zeros((0, ) + label.shape, dtype=bool), []
        return np.stack(noisy_masks), noisy_kinds

    def generate(self, gt_label: np.ndarray, image_id: str = '') -> MaskSet:
        """The simulated masks as a MaskSet; ``settings`` adds this image's ``kind_counts``.

        Args:
            gt_label (np.ndarray): ``(H, W) uint8`` GT class ids, 255 = ignore.
            image_id (str): The image id (seeds the simulation with ``seed``).

        Returns:
            MaskSet: The masks of :meth:`simulate`, no scores (NaN).
        """
        masks, kinds = self.simulate(gt_label, image_id)
        counts = {kind: kinds.count(kind) for kind in MASK_KINDS}
        return MaskSet.from_masks(masks, self.source, dict(self.settings, kind_counts=counts))

    def _add_split(self, mask: np.ndarray, rng: np.random.Generator, split_prob: float,
                   min_pieces: int, max_pieces: int, whole_prob: float, kind: str,
                   masks: List[np.ndarray], kinds: List[str]) -> None:
        """Append ``mask`` whole, or ``min..max_pieces`` pieces (and the whole with
        ``whole_prob``), the split itself happening with ``split_prob``."""
        area = int(mask.sum())
        pieces = int(rng.integers(min_pieces, max_pieces + 1))
        split = (pieces >= 2 and area >= 2 * self.min_part_area
                 and rng.random() < split_prob)
        if not split:
            masks.append(mask)
            kinds.append(kind)
            return
        parts = [part for part in voronoi_split(mask, pieces, rng)
                 if part.sum() >= self.min_part_area]
        if len(parts) < 2 or rng.random() < whole_prob:
            masks.append(mask)
            kinds.append(kind)
        if len(parts) >= 2:
            masks.extend(parts)
            kinds.extend(['part' if kind == 'whole' else kind] * len(parts))

    def _touching_pairs(self, objects: np.ndarray, object_classes: np.ndarray
                        ) -> List[Tuple[int, int]]:
        """Index pairs ``(i, j)``, ``i < j``, of objects of different classes within touch_px."""
        if len(objects) < 2:
            return []
        owner = np.zeros(objects.shape[1:], dtype=np.int64)
        for index, mask in enumerate(objects):
            owner[mask] = index + 1
        pairs = []
        for index, mask in enumerate(objects):
            near = ndimage.binary_dilation(mask, EIGHT_CONNECTED, self.touch_px)
            for other in np.unique(owner[near & ~mask]):
                other = int(other) - 1
                if other > index and object_classes[other] != object_classes[index]:
                    pairs.append((index, other))
        return pairs

    def _perturb(self, mask: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
        """Shift ``mask``'s border by ``shift`` px plus a smooth wobble, within its bbox + pad."""
        if shift == 0 and self.wobble_amplitude == 0:
            return mask
        rows, cols = np.nonzero(mask)
        pad = int(np.ceil(abs(shift) + 3 * self.wobble_amplitude)) + 2
        height, width = mask.shape
        top, bottom = max(rows.min() - pad, 0), min(rows.max() + pad + 1, height)
        left, right = max(cols.min() - pad, 0), min(cols.max() + pad + 1, width)
        crop = mask[top:bottom, left:right]
        # Signed distance: > 0 inside (distance to the outside), < 0 outside.
        inside = ndimage.distance_transform_edt(crop)
        signed = inside - ndimage.distance_transform_edt(~crop)
        # Thin masks move less: at most a quarter of their half-thickness.
        limit = max(inside.max() / 4, 0.5)
        level = signed + float(np.clip(shift, -limit, limit))
        amplitude = min(self.wobble_amplitude, limit)
        if amplitude > 0:
            wobble = smooth_noise(crop.shape, self.wobble_scale, rng)
            # Zero mean along the border: the wobble bends it, the shift alone moves it.
            wobble -= wobble[np.abs(signed) <= 1.5].mean()
            level = level + amplitude * wobble
        noisy_crop = level > 0
        if noisy_crop.sum() < 0.25 * crop.sum():
            return mask
        noisy = np.zeros_like(mask)
        noisy[top:bottom, left:right] = noisy_crop
        return noisy


def smooth_noise(shape: Tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian noise of unit standard deviation, smoothed over ``scale`` px.

    White noise on a canvas padded by ``3 * scale`` is Gaussian-filtered and divided by the
    filter's L2 norm (the exact standard deviation), so every pixel has std 1 however small
    ``shape`` is.

    Returns:
        np.ndarray: ``shape`` float64.
    """
    pad = int(np.ceil(3 * scale))
    noise = rng.standard_normal((shape[0] + 2 * pad, shape[1] + 2 * pad))
    noise = ndimage.gaussian_filter(noise, scale, mode='constant', truncate=3.0)
    delta = np.zeros((2 * pad + 1, 2 * pad + 1))
    delta[pad, pad] = 1.0
    kernel_norm = np.sqrt((ndimage.gaussian_filter(delta, scale, mode='constant',
                                                   truncate=3.0) ** 2).sum())
    return noise[pad:pad + shape[0], pad:pad + shape[1]] / kernel_norm


def voronoi_split(mask: np.ndarray, pieces: int, rng: np.random.Generator) -> List[np.ndarray]:
    """Split a mask into ``pieces`` Voronoi cells around well-spread random seed pixels.

    Seeds: a random pixel, then greedily the farthest of 64 random candidates from the seeds so
    far, so the cells are of comparable size.

    Args:
        mask (np.ndarray): ``(H, W) bool`` non-empty mask.
        pieces (int): Number of cells (at most the mask's pixel count).
        rng (np.random.Generator): Randomness.

    Returns:
        list[np.ndarray]: ``pieces`` disjoint ``(H, W) bool`` masks whose union is ``mask``.
    """
    coords = np.argwhere(mask)
    pieces = min(int(pieces), len(coords))
    candidates = coords[rng.choice(len(coords), size=min(64, len(coords)), replace=False)]
    seeds = [candidates[0]]
    for _ in range(pieces - 1):
        distance = np.min([((candidates - seed) ** 2).sum(1) for seed in seeds], axis=0)
        seeds.append(candidates[int(np.argmax(distance))])
    seeds = np.asarray(seeds, dtype=np.float64)
    nearest = np.argmin(((coords[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1)
    cells = []
    for index in range(pieces):
        cell = np.zeros_like(mask, dtype=bool)
        chosen = coords[nearest == index]
        cell[chosen[:, 0], chosen[:, 1]] = True
        cells.append(cell)
    return cells


__all__ = ['ORACLE_SOURCE', 'IMPERFECT_ORACLE_SOURCE', 'MASK_KINDS', 'fill_ignore',
           'gt_components', 'smooth_noise', 'voronoi_split', 'OracleMasks',
           'ImperfectOracleMasks']
