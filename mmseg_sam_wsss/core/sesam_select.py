"""SeSAM steps 3-4: pick one of SAM's candidates per component, paint them, refine by rounds.

See :mod:`.sesam` for steps 1-2 (components and skeleton prompts). Anything that answers
``answer(point_coords (K, N, 2), point_labels (K, N)) -> (candidates (K, M, H, W) bool,
scores (K, M) float)`` can drive :func:`sesam_pseudo_label`: SAM
(:class:`~mmseg_sam_wsss.sam.prompting.SamPromptAnswerer`) or the GT oracle
(:class:`~mmseg_sam_wsss.simulation.prompt_oracles.OraclePromptAnswerer`).

Pure NumPy; no mmseg, no mmcv.
"""
from typing import List, Optional, Protocol, Tuple

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX
from .sesam import PromptBatch, build_prompts, class_components


#: The orders :func:`rank_candidates` can break coverage-score ties in: ``quality-larger`` is
#: the answerer's quality score (SAM's predicted IoU), then the larger mask; ``larger-quality``
#: the larger mask, then the quality score; and so on.
TIE_BREAKS = ('quality-smaller', 'quality-larger', 'smaller-quality', 'larger-quality')
#: SeSAM's one tie-break, for both selection paths: prompted (:func:`select_candidate`,
#: :class:`SeSAMLabeler`) and automatic masks (``sesam_coverage`` in :mod:`.merge`): the larger
#: mask (the whole over its parts), then the quality score. Measured on voc_mini's real clicks
#: for both paths with oracles, not SAM (``benchmarks/bench_real_clicks.py``; docs/sesam.md).
TIE_BREAK = 'larger-quality'


class PromptAnswerer(Protocol):
    """What :func:`sesam_pseudo_label` needs: candidates for a batch of point prompts."""

    def answer(self, point_coords: np.ndarray,
               point_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        ...


def coverage_scores(candidates: np.ndarray, component_mask: np.ndarray, class_id: int,
                    reference_label: np.ndarray, penalty: float = 1.0,
                    ignore: int = IGNORE_INDEX) -> np.ndarray:
    """Score each candidate by how well it covers its component and avoids other classes.

    ``score = own - penalty * other`` with ``own = |m & component| / |component|`` (share of
    the component's labelled pixels covered) and ``other = |m & labelled & class != c| /
    |m & labelled|`` (share of the labelled pixels under the candidate that belong to other
    classes; 0 when none are under it).

    Args:
        candidates (np.ndarray): ``(M, H, W) bool``.
        component_mask (np.ndarray): ``(H, W) bool`` the prompt's component.
        class_id (int): Its class.
        reference_label (np.ndarray): ``(H, W) uint8`` the labelled pixels (weak label, or
            weak label + confident predictions in later rounds), ``ignore`` = unlabelled.
        penalty (float): Weight of ``other``. Default: 1.0.

    Returns:
        np.ndarray: ``(M,) float64`` scores in ``[-penalty, 1]``.
    """
    flat = candidates.reshape(len(candidates), -1)
    component = component_mask.reshape(-1)
    labelled = reference_label.reshape(-1) != ignore
    other_class = labelled & (reference_label.reshape(-1) != class_id)
    return coverage_from_counts((flat & component).sum(1), int(component.sum()),
                                (flat & other_class).sum(1), (flat & labelled).sum(1), penalty)


def coverage_from_counts(covered: np.ndarray, component_area: int, other_covered: np.ndarray,
                         labelled_covered: np.ndarray, penalty: float = 1.0) -> np.ndarray:
    """The score of :func:`coverage_scores` from pixel counts per candidate (any mask form).

    Args:
        covered (np.ndarray): ``|m & component|`` per candidate.
        component_area (int): ``|component|``.
        other_covered (np.ndarray): Labelled pixels of other classes under each candidate.
        labelled_covered (np.ndarray): Labelled pixels under each candidate.
        penalty (float): Weight of the other-class share. Default: 1.0.
    """
    own = covered / max(component_area, 1)
    return own - penalty * other_covered / np.maximum(labelled_covered, 1)


def rank_candidates(scores: np.ndarray, areas: np.ndarray, quality: Optional[np.ndarray] = None,
                    position: Optional[np.ndarray] = None,
                    tie_break: str = TIE_BREAK) -> np.ndarray:
    """Candidate indices, best first: SeSAM's one order, shared by prompt selection and the
    ``sesam_coverage`` merge rule.

    Keys: the coverage score (descending, compared to 1e-9), then ``tie_break``'s two keys, the
    answerer's own quality score (descending; NaN, as for oracle masks, ranks as equal) and the
    area (the larger or the smaller mask first: the whole over its parts, or the instance inside
    a larger mask), then ``position`` (ascending; default the index).

    Args:
        scores (np.ndarray): ``(M,) float`` coverage scores.
        areas (np.ndarray): ``(M,) int`` mask areas.
        quality (np.ndarray, optional): ``(M,) float`` e.g. SAM's predicted IoU.
        position (np.ndarray, optional): ``(M,) int`` last tie-break, e.g. the first pixel.
        tie_break (str): One of :data:`TIE_BREAKS`. Default: :data:`TIE_BREAK`, the one rule.

    Returns:
        np.ndarray: ``(M,) int64`` a permutation of ``range(M)``.
    """
    if tie_break not in TIE_BREAKS:
        raise SamWsssError(f'tie_break {tie_break!r} is not one of {", ".join(TIE_BREAKS)}')
    count = len(scores)
    quality = np.zeros(count) if quality is None else np.nan_to_num(
        np.asarray(quality, np.float64), nan=-np.inf)
    position = np.arange(count) if position is None else np.asarray(position)
    areas = np.asarray(areas, np.int64)
    area_key = -areas if 'larger' in tie_break else areas
    ties = (area_key, -quality) if tie_break.startswith('quality') else (-quality, area_key)
    # np.lexsort sorts by the last key first.
    return np.lexsort((position, ) + ties + (
        -np.round(np.asarray(scores, np.float64), 9), )).astype(np.int64)


def painting_groups(scores: np.ndarray, areas: np.ndarray,
                    position: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """The painting order of selected masks: by score, then the smaller mask, reversed (the
    winners of overlaps paint last: the instance inside a larger mask), cut into groups of full
    ties (equal score to 1e-9 and equal area), inside which only ``position``, an arbitrary
    tie-break, orders the masks. Overlaps of masks picked for different components are another
    decision than the choice among one prompt's candidates, so this order is fixed.

    Args:
        scores (np.ndarray): ``(K,) float`` coverage scores of the selected masks.
        areas (np.ndarray): ``(K,) int`` their areas.
        position (np.ndarray, optional): ``(K,) int`` see :func:`rank_candidates`.

    Returns:
        list[np.ndarray]: ``int64`` index arrays, worst group first, together ``range(K)``.
    """
    order = rank_candidates(scores, areas, position=position, tie_break='quality-smaller')[::-1]
    if len(order) == 0:
        return []
    ranked_scores = np.round(np.asarray(scores, np.float64), 9)[order]
    ranked_areas = np.asarray(areas, np.int64)[order]
    same = (ranked_scores[1:] == ranked_scores[:-1]) & (ranked_areas[1:] == ranked_areas[:-1])
    return np.split(order, np.flatnonzero(~same) + 1)


def select_candidate(candidates: np.ndarray, sam_scores: np.ndarray, component_mask: np.ndarray,
                     class_id: int, reference_label: np.ndarray, penalty: float = 1.0,
                     min_score: float = 0.0, tie_break: str = TIE_BREAK) -> Tuple[int, float]:
    """Index and coverage score of the best candidate, or ``(-1, best_score)`` if none passes.

    Candidates are ranked by :func:`rank_candidates` (coverage score of :func:`coverage_scores`,
    then ``tie_break``, then the lower index). A winner must score above ``min_score``.

    Args:
        candidates (np.ndarray): ``(M, H, W) bool``.
        sam_scores (np.ndarray): ``(M,) float`` the answerer's own quality scores.
        component_mask, class_id, reference_label, penalty: See :func:`coverage_scores`.
        min_score (float): The winner's score must exceed it. Default: 0.0.
        tie_break (str): See :func:`rank_candidates`. Default: :data:`TIE_BREAK`.

    Returns:
        tuple[int, float]: Candidate index (-1 = none) and its coverage score.
    """
    scores = coverage_scores(candidates, component_mask, class_id, reference_label, penalty)
    areas = candidates.reshape(len(candidates), -1).sum(1)
    best = int(rank_candidates(scores, areas, quality=sam_scores, tie_break=tie_break)[0])
    if scores[best] <= min_score:
        return -1, float(scores[best])
    return best, float(scores[best])


def paint_pseudo_label(masks: np.ndarray, class_ids: np.ndarray, scores: np.ndarray,
                       weak_label: np.ndarray, unlabelled: int = IGNORE_INDEX,
                       ignore: int = IGNORE_INDEX, tie_unlabelled: bool = True) -> np.ndarray:
    """Paint the selected masks into one label map; weak pixels keep their label.

    Overlaps go to the mask ranked first by :func:`painting_groups` (higher score, then the
    smaller mask, which is usually the instance inside the larger one). Masks of different
    classes tied on both (e.g. two disagreeing clicks that chose the same mask) leave their
    overlap ``unlabelled`` rather than flood it with either class; without
    ``tie_unlabelled`` the lower index wins. Labelled weak pixels are written last, so they
    always keep their class. Pixels no mask covers get ``unlabelled``.

    Args:
        masks (np.ndarray): ``(K, H, W) bool`` one selected mask per component.
        class_ids (np.ndarray): ``(K,) int`` their classes.
        scores (np.ndarray): ``(K,) float`` their coverage scores.
        weak_label (np.ndarray): ``(H, W) uint8`` the weak label, ``ignore`` = unlabelled.
        unlabelled (int): Value of uncovered pixels: 255 (ignore, default) or the background
            class (0 in VOC and COCO).
        tie_unlabelled (bool): Full ties between classes leave their overlap ``unlabelled``.
            Default: True.

    Returns:
        np.ndarray: ``(H, W) uint8`` pseudo-label.
    """
    pseudo_label = np.full(weak_label.shape, unlabelled, dtype=np.uint8)
    if len(masks):
        areas = masks.reshape(len(masks), -1).sum(1)
        class_ids = np.asarray(class_ids)
        for group in painting_groups(scores, areas):  # the winners paint last
            for index in group:
                pseudo_label[masks[index]] = class_ids[index]
            classes = np.unique(class_ids[group])
            if tie_unlabelled and len(classes) > 1:
                claims = sum(masks[group[class_ids[group] == class_id]].any(0)
                             for class_id in classes)
                pseudo_label[claims > 1] = unlabelled
    labelled = weak_label != ignore
    pseudo_label[labelled] = weak_label[labelled]
    return pseudo_label


def confident_label(prediction: np.ndarray, conf_thresh: float = 0.95,
                    confidence: Optional[np.ndarray] = None) -> np.ndarray:
    """Arg-max class where the model is confident (top probability >= ``conf_thresh``), 255
    elsewhere: the class masks a refinement round may use.

    Args:
        prediction (np.ndarray): ``(C, H, W) float`` softmax scores; or, with ``confidence``,
            the ``(H, W)`` arg-max class ids.
        conf_thresh (float): Minimum top probability, in ``[0, 1]``. Default: 0.95.
        confidence (np.ndarray, optional): ``(H, W)`` top probability per pixel: float in
            ``[0, 1]``, or ``uint8`` = ``round(255 * p)`` (``tools/predict_labels.py``'s
            ``<id>_conf.png``), which is compared with ``round(255 * conf_thresh)`` so that
            rounding never drops a pixel at or above the threshold.

    Returns:
        np.ndarray: ``(H, W) uint8``.
    """
    if not 0.0 <= conf_thresh <= 1.0:
        raise SamWsssError(f'conf_thresh must be in [0, 1], got {conf_thresh}')
    if confidence is None:
        if prediction.ndim != 3:
            raise SamWsssError(f'probabilities must be (C, H, W), got {prediction.shape}')
        label = prediction.argmax(0).astype(np.uint8)
        label[prediction.max(0) < conf_thresh] = IGNORE_INDEX
        return label
    if prediction.ndim != 2 or confidence.shape != prediction.shape:
        raise SamWsssError(f'class ids {prediction.shape} and confidence {confidence.shape} '
                           'must both be (H, W)')
    if confidence.dtype == np.uint8:
        confident = confidence >= round(255 * conf_thresh)
    else:
        confident = confidence >= conf_thresh
    label = prediction.astype(np.uint8)  # a copy: the caller's class map stays intact
    label[~confident] = IGNORE_INDEX
    return label


def combine_class_masks(weak_label: np.ndarray, confident_prediction: Optional[np.ndarray],
                        ignore: int = IGNORE_INDEX) -> np.ndarray:
    """Round r > 1: the model's confident prediction, overwritten by the weak label.

    Args:
        weak_label (np.ndarray): ``(H, W) uint8``.
        confident_prediction (np.ndarray, optional): ``(H, W) uint8``, 255 = not confident.

    Returns:
        np.ndarray: ``(H, W) uint8`` class masks to decompose.
    """
    if confident_prediction is None:
        return weak_label.copy()
    if confident_prediction.shape != weak_label.shape:
        raise SamWsssError(f'prediction {confident_prediction.shape} and weak label '
                           f'{weak_label.shape} differ in size')
    combined = confident_prediction.astype(np.uint8).copy()
    labelled = weak_label != ignore
    combined[labelled] = weak_label[labelled]
    return combined


class SeSAMLabeler:
    """SeSAM pseudo-labels for one image from its weak label and a prompt answerer.

    Args:
        points_per_component (int): Positive skeleton points per component. Default: 3.
        negative_points (int): Negative points per component from other classes. Default: 0.
        penalty (float): Weight of other-class coverage in the selection score. Default: 1.0.
        min_score (float): A candidate must score above it to be painted. Default: 0.0.
        min_area (int): Components smaller than this (pixels) are not prompted (their weak
            pixels are still kept). Default: 1.
        unlabelled (int): Value of pixels no mask covers: 255 (ignore, default) or the
            background class (0 in VOC and COCO). Default: 255.
        prompt_batch_size (int): Prompts sent to the answerer at once. Default: 64.
        tie_unlabelled (bool): Masks of different classes tied in score and area leave their
            overlap ``unlabelled`` (see :func:`paint_pseudo_label`). Default: True.
        tie_break (str): Among one prompt's candidates of equal score (see
            :func:`rank_candidates`). Default: :data:`TIE_BREAK`, the one rule.
    """

    def __init__(self, points_per_component: int = 3, negative_points: int = 0,
                 penalty: float = 1.0, min_score: float = 0.0, min_area: int = 1,
                 unlabelled: int = IGNORE_INDEX, prompt_batch_size: int = 64,
                 tie_unlabelled: bool = True, tie_break: str = TIE_BREAK) -> None:
        if not 0 <= unlabelled <= IGNORE_INDEX:
            raise SamWsssError(f'unlabelled must be a class id (the background) or 255 '
                               f'(ignore), got {unlabelled}')
        if tie_break not in TIE_BREAKS:
            raise SamWsssError(f'tie_break {tie_break!r} is not one of {", ".join(TIE_BREAKS)}')
        self.tie_break = tie_break
        self.points_per_component = points_per_component
        self.negative_points = negative_points
        self.penalty = penalty
        self.min_score = min_score
        self.min_area = min_area
        self.unlabelled = unlabelled
        self.prompt_batch_size = prompt_batch_size
        self.tie_unlabelled = tie_unlabelled

    def __call__(self, weak_label: np.ndarray, answerer: PromptAnswerer,
                 confident_prediction: Optional[np.ndarray] = None,
                 rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """Pseudo-label ``(H, W) uint8`` for one image.

        Args:
            weak_label (np.ndarray): ``(H, W) uint8``, 255 = unlabelled.
            answerer (PromptAnswerer): Already set to this image.
            confident_prediction (np.ndarray, optional): ``(H, W) uint8`` round r > 1 class
                masks (255 = not confident); the weak label wins where both are set.
            rng (np.random.Generator, optional): Phase of the skeleton points.
        """
        reference = combine_class_masks(weak_label, confident_prediction)
        components = class_components(reference, min_area=self.min_area)
        prompts = build_prompts(components, self.points_per_component, self.negative_points,
                                rng, shape=weak_label.shape)
        masks, scores = self.select(prompts, answerer, reference)
        return paint_pseudo_label(masks, prompts.class_ids, scores, weak_label, self.unlabelled,
                                  tie_unlabelled=self.tie_unlabelled)

    def select(self, prompts: PromptBatch, answerer: PromptAnswerer,
               reference_label: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Selected mask ``(K, H, W) bool`` (all False where none passed) and score ``(K,)``."""
        masks = np.zeros(prompts.component_masks.shape, dtype=bool)
        scores = np.full(len(prompts), -np.inf)
        for start in range(0, len(prompts), self.prompt_batch_size):
            batch = prompts.slice(start, start + self.prompt_batch_size)
            candidates, sam_scores = answerer.answer(batch.point_coords, batch.point_labels)
            if candidates.shape[0] != len(batch) or candidates.shape[2:] != reference_label.shape:
                raise SamWsssError(
                    f'answerer returned candidates {candidates.shape} for {len(batch)} prompts '
                    f'on a {reference_label.shape} image; it must return (K, M, H, W)')
            for row in range(len(batch)):
                best, score = select_candidate(candidates[row], sam_scores[row],
                                               batch.component_masks[row],
                                               int(batch.class_ids[row]), reference_label,
                                               self.penalty, self.min_score, self.tie_break)
                if best >= 0:
                    masks[start + row] = candidates[row, best]
                    scores[start + row] = score
        return masks, scores
