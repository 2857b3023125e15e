"""An IMPERFECT prompt oracle: point prompts answered from GT objects with simulated SAM errors.

NOT SAM. It stands in for SAM's point-prompt answers where no weights exist, so that SeSAM's
selection has real choices to make and its labels are not near-perfect by construction (the
perfect :class:`~.prompt_oracles.OraclePromptAnswerer` returns the GT component itself). Like
SAM's multimask output, each prompt gets three candidates of growing granularity:

0. a part: the union of the Voronoi pieces of the clicked object that hold a positive point
   (the object is split with ``part_prob``; always for background "stuff", which SAM splits),
   else the whole object. More positive points spread over one object (skeleton points) so
   give a more complete mask, as they do with SAM; points bunched in one piece do not;
1. the whole object, or the object merged with a touching object of another class (SAM's leak
   into a neighbour): with ``merge_prob`` whatever the points, and with ``near_leak_prob`` for
   each such neighbour that a positive point lies within ``leak_px`` of;
2. the object with every object it touches, of any class (SAM's coarse "everything here").

The clicked object is the one under the first positive point.

Every candidate's border then moves and wobbles as in
:class:`~.mask_oracles.ImperfectOracleMasks`, and its quality score is drawn at random in
``[min_score, 1]``, so the score says little about which candidate is right (as SAM's predicted
IoU often does). Every random choice depends only on ``(seed, image id, object)``, never on the
order or batching of the prompts (a near-point leak's draw is fixed per neighbour; whether it
is used depends on where the prompt's points are).
"""
from typing import Dict, List, Tuple

import numpy as np
from scipy import ndimage

from ..core.io import IGNORE_INDEX
from ..core.rng import image_rng
from ..core.sesam import EIGHT_CONNECTED
from ..errors import SamWsssError
from .mask_oracles import ImperfectOracleMasks, fill_ignore, voronoi_split

IMPERFECT_PROMPT_SOURCE = ('oracle-imperfect-prompts (GT objects with simulated SAM errors, '
                           'not SAM)')


class ImperfectPromptAnswerer:
    """Answers point prompts with GT objects plus SAM-like errors (not SAM).

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` GT class ids, 255 = ignore (handed to the
            nearest class first, so objects reach their true borders).
        image_id (str): The image id; with ``seed`` it fixes every random choice.
        seed (int): Seed. Default: 0.
        part_prob (float): Probability that an object's finest candidate is a part. Default: 0.4.
        max_parts (int): Most parts an object is split into (>= 2). Default: 3.
        min_part_area (int): Objects under twice this are never split. Default: 50.
        merge_prob (float): Probability that the middle candidate leaks into a touching object
            of another class. Default: 0.25.
        touch_px (int): Objects closer than this (px, chessboard) touch. Default: 3.
        boundary_shift (float): Largest border shift (px). Default: 2.
        wobble_amplitude (float): Std of the smooth border wobble (px). Default: 1.5.
        wobble_scale (float): Correlation length of the wobble (px). Default: 6.
        min_score (float): Quality scores are uniform in ``[min_score, 1]``. Default: 0.7.
        leak_px (float): A positive point this close (px, Euclidean) to a touching object of
            another class may make the middle candidate leak into it. Default: 3.
        near_leak_prob (float): Probability of that leak, per neighbour. Default: 0.5.
    """

    mask_source = IMPERFECT_PROMPT_SOURCE
    num_candidates = 3

    def __init__(self, gt_label: np.ndarray, image_id: str = '', seed: int = 0,
                 part_prob: float = 0.4, max_parts: int = 3, min_part_area: int = 50,
                 merge_prob: float = 0.25, touch_px: int = 3, boundary_shift: float = 2.0,
                 wobble_amplitude: float = 1.5, wobble_scale: float = 6.0,
                 min_score: float = 0.7, leak_px: float = 3.0,
                 near_leak_prob: float = 0.5) -> None:
        gt_label = np.asarray(gt_label)
        if gt_label.ndim != 2:
            raise SamWsssError(f'the oracle needs an (H, W) GT label, got {gt_label.shape}')
        for name, value in (('part_prob', part_prob), ('merge_prob', merge_prob),
                            ('min_score', min_score), ('near_leak_prob', near_leak_prob)):
            if not 0.0 <= value <= 1.0:
                raise SamWsssError(f'{name} must be in [0, 1], got {value}')
        if max_parts < 2 or touch_px < 1 or min_part_area < 1:
            raise SamWsssError('max_parts must be >= 2, touch_px and min_part_area >= 1')
        self.image_id, self.seed = str(image_id), int(seed)
        self.part_prob, self.max_parts = float(part_prob), int(max_parts)
        self.min_part_area, self.merge_prob = int(min_part_area), float(merge_prob)
        self.touch_px, self.min_score = int(touch_px), float(min_score)
        if leak_px < 0:
            raise SamWsssError(f'leak_px must be >= 0, got {leak_px}')
        self.leak_px, self.near_leak_prob = float(leak_px), float(near_leak_prob)
        # The border noise of the imperfect mask oracle, one implementation of SAM's edges.
        self._edges = ImperfectOracleMasks(seed=seed, boundary_shift=boundary_shift,
                                           wobble_amplitude=wobble_amplitude,
                                           wobble_scale=wobble_scale)
        self.label = fill_ignore(gt_label)
        self.objects, self.object_classes = self._objects(self.label)
        self._answers: Dict[int, Tuple[List[np.ndarray], np.ndarray, np.ndarray,
                                       np.ndarray]] = {}
        self._leak_cache: Dict[Tuple[int, Tuple[int, ...]], np.ndarray] = {}
        self._neighbours: Dict[int, List[int]] = {}
        self._distance_to: Dict[int, np.ndarray] = {}

    @property
    def settings(self) -> Dict:
        return dict(seed=self.seed, part_prob=self.part_prob, max_parts=self.max_parts,
                    min_part_area=self.min_part_area, merge_prob=self.merge_prob,
                    touch_px=self.touch_px, boundary_shift=self._edges.boundary_shift,
                    wobble_amplitude=self._edges.wobble_amplitude,
                    wobble_scale=self._edges.wobble_scale, min_score=self.min_score,
                    leak_px=self.leak_px, near_leak_prob=self.near_leak_prob)

    @staticmethod
    def _objects(label: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(H, W) int64`` object index (0 = none) over every class's 8-connected components,
        and each object's class (``classes[index]``; index 0 unused)."""
        objects = np.zeros(label.shape, dtype=np.int64)
        classes = [IGNORE_INDEX]
        for class_id in np.unique(label):
            if class_id == IGNORE_INDEX:
                continue
            components, count = ndimage.label(label == class_id, structure=EIGHT_CONNECTED)
            objects[components > 0] = components[components > 0] + len(classes) - 1
            classes += [int(class_id)] * count
        return objects, np.asarray(classes, dtype=np.int64)

    def _touching(self, mask: np.ndarray) -> np.ndarray:
        """Indices of the objects within ``touch_px`` of ``mask`` (itself excluded)."""
        near = ndimage.binary_dilation(mask, EIGHT_CONNECTED, self.touch_px) & ~mask
        return np.unique(self.objects[near & (self.objects > 0)])

    def _object_answers(self, index: int):
        """Cached ``(parts, middle, coarse, scores)`` of object ``index``, all perturbed."""
        if index in self._answers:
            return self._answers[index]
        rng = image_rng(self.seed, f'{self.image_id}#object{index}')
        whole = self.objects == index
        stuff = self.object_classes[index] == 0
        area = int(whole.sum())
        pieces = int(rng.integers(2, self.max_parts + 1))
        split = area >= 2 * self.min_part_area and (stuff or rng.random() < self.part_prob)
        parts = voronoi_split(whole, pieces, rng) if split else [whole]
        touching = self._touching(whole)
        other_class = [other for other in touching
                       if self.object_classes[other] != self.object_classes[index]]
        middle = whole
        if other_class and rng.random() < self.merge_prob:
            middle = whole | (self.objects == int(rng.choice(other_class)))
        coarse = whole | np.isin(self.objects, touching)
        shift = self._edges.boundary_shift

        def perturb(mask: np.ndarray) -> np.ndarray:
            return self._edges._perturb(mask, rng.uniform(-shift, shift), rng)

        answers = ([perturb(part) for part in parts], perturb(middle), perturb(coarse),
                   rng.uniform(self.min_score, 1.0, size=3).astype(np.float32))
        self._answers[index] = answers
        return answers

    def _near_leaks(self, index: int, points: np.ndarray) -> List[int]:
        """Touching objects of another class that leak into object ``index``'s middle
        candidate because a positive point (``(P, 2)`` row, col) lies within ``leak_px``."""
        if index not in self._neighbours:
            self._neighbours[index] = [
                int(other) for other in self._touching(self.objects == index)
                if self.object_classes[other] != self.object_classes[index]]
        leaks = []
        for other in self._neighbours[index]:
            if other not in self._distance_to:
                self._distance_to[other] = ndimage.distance_transform_edt(self.objects != other)
            if self._distance_to[other][points[:, 0], points[:, 1]].min() > self.leak_px:
                continue
            if image_rng(self.seed, f'{self.image_id}#object{index}#leak{other}'
                         ).random() < self.near_leak_prob:
                leaks.append(other)
        return leaks

    def _leaked(self, index: int, middle: np.ndarray, leaks: List[int]) -> np.ndarray:
        """The middle candidate grown into the ``leaks`` objects (cached per object and set)."""
        key = (index, tuple(leaks))
        if key not in self._leak_cache:
            rng = image_rng(self.seed, f'{self.image_id}#object{index}#leaks{leaks}')
            grown = self._edges._perturb(np.isin(self.objects, leaks), 0.0, rng)
            self._leak_cache[key] = middle | grown
        return self._leak_cache[key]

    def answer(self, point_coords: np.ndarray,
               point_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Three candidates per prompt, from the object under its first positive point; its
        other positive points complete the part and may leak the middle candidate.

        Args:
            point_coords (np.ndarray): ``(K, N, 2)`` ``(x, y)``.
            point_labels (np.ndarray): ``(K, N)``: 1 positive, 0 negative, -1 padding.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(K, 3, H, W) bool`` candidates (empty for a prompt
            without positive points) and ``(K, 3) float32`` quality scores.
        """
        height, width = self.label.shape
        candidates = np.zeros((len(point_coords), self.num_candidates, height, width), bool)
        scores = np.zeros((len(point_coords), self.num_candidates), np.float32)
        for row, (coords, labels) in enumerate(zip(point_coords, point_labels)):
            positives = np.round(np.asarray(coords)[np.asarray(labels) == 1]).astype(np.int64)
            if len(positives) == 0:
                continue
            cols = np.clip(positives[:, 0], 0, width - 1)
            lines = np.clip(positives[:, 1], 0, height - 1)
            index = int(self.objects[lines[0], cols[0]])
            if index == 0:
                continue
            parts, middle, coarse, object_scores = self._object_answers(index)
            hit = [part for part in parts if part[lines, cols].any()]
            part = np.logical_or.reduce(hit) if hit else parts[0]
            leaks = self._near_leaks(index, np.stack([lines, cols], axis=1))
            if leaks:
                middle = self._leaked(index, middle, leaks)
            candidates[row] = part, middle, coarse
            scores[row] = object_scores
        return candidates, scores

    def __repr__(self) -> str:
        return f'ImperfectPromptAnswerer({self.settings})'
