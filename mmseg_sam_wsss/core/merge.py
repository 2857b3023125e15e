"""Merge class-agnostic SAM masks into a CAM pseudo-label (SEPL, Chen et al. 2023).

SEPL's rule (``sepl``, the default): visit the classes c = 1..C-1 present in the pseudo-label P
in increasing order. A mask M not taken by an earlier class is *selected* for c when
``|M & P_c| > majority_ratio * |M|`` or ``|M & P_c| >= coverage_ratio * |P_c|``, and is then
taken. Let U be the union of masks not taken before c. Class c is painted onto the union of its
selected masks and onto ``P_c - U`` (the CAM is trusted where SAM says nothing); later classes
overwrite earlier ones and everything unpainted is background (or stays 255 under
``keep_ignore``).

Everything works on the masks' run lengths (Fortran order, as COCO RLE): each mask's overlap
with every class is computed once from per-class cumulative counts, and only selected masks are
painted, so no boolean mask is decoded. Pure NumPy; no mmseg.
"""
import inspect
import math
import os.path as osp
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX, check_label_values, read_label_png, write_label_png
from .mask_store import MaskSet
from .rle import run_positions, runs_union

MERGE_RULES: Dict[str, Callable] = {}
# The valid range of every numeric rule option: rule -> option -> (low, high), both inclusive,
# None for no bound; declared with the rule (register_merge_rule's keyword arguments).
MERGE_RULE_RANGES: Dict[str, Dict[str, Tuple[Optional[float], Optional[float]]]] = {}


def register_merge_rule(name: str, **option_ranges: Tuple[Optional[float], Optional[float]]
                        ) -> Callable:
    """Decorator adding ``rule(inputs: MergeInputs, **options) -> (L,) uint8`` to MERGE_RULES.

    A rule returns the merged label flattened in Fortran order with 0 where unpainted; a rule
    that paints background itself marks that with ``rule.paints_background = True`` and returns
    255 where unpainted. :func:`enhance_pseudo_label` restores ignore pixels and the layout.

    Args:
        name (str): The rule's name (``--rule``, ``SAMEnhancePseudoLabel(rule=...)``).
        **option_ranges: ``option=(low, high)``, the inclusive range of a numeric option (None:
            unbounded); :func:`merge_rule_options` refuses values outside it.
    """

    def register(rule: Callable) -> Callable:
        if name in MERGE_RULES:
            raise KeyError(f'merge rule {name!r} is already registered')
        parameters = list(inspect.signature(rule).parameters)[1:]
        unknown = sorted(set(option_ranges) - set(parameters))
        if unknown:
            raise KeyError(f'merge rule {name!r}: ranges for options it lacks: {unknown}')
        MERGE_RULES[name] = rule
        MERGE_RULE_RANGES[name] = dict(option_ranges)
        return rule

    return register


def _check_option_range(rule: str, key: str, value, where: str) -> None:
    """Raise unless ``value`` is a number in the declared range of ``rule``'s option ``key``."""
    if key not in MERGE_RULE_RANGES.get(rule, {}):
        return
    low, high = MERGE_RULE_RANGES[rule][key]
    shown = f'{"-inf" if low is None else low}..{"inf" if high is None else high}'
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SamWsssError(f'{where}: {key}={value!r} of rule {rule!r} is not a number '
                           f'(range {shown})')
    if math.isnan(value) or (low is not None and value < low) or (
            high is not None and value > high):
        raise SamWsssError(f'{where}: {key}={value} of rule {rule!r} is outside its range '
                           f'{shown}')


def merge_rule_options(rule: str, options: Optional[dict] = None,
                       where: str = 'merge rule') -> dict:
    """The rule's full options: its defaults updated by ``options``, which must all be its own
    and inside their declared ranges (:data:`MERGE_RULE_RANGES`).

    Raises:
        SamWsssError: For an unknown rule or option, naming the ones that exist, or a value
            outside its range, naming the range.
    """
    if rule not in MERGE_RULES:
        raise SamWsssError(f'{where}: unknown merge rule {rule!r}; choose one of '
                           f'{sorted(MERGE_RULES)}')
    parameters = list(inspect.signature(MERGE_RULES[rule]).parameters.values())[1:]
    defaults = {parameter.name: parameter.default for parameter in parameters}
    unknown = sorted(set(options or {}) - set(defaults))
    if unknown:
        raise SamWsssError(f'{where}: rule {rule!r} has no option {", ".join(unknown)}; its '
                           f'options are {defaults or "none"}')
    choices = getattr(MERGE_RULES[rule], 'option_choices', dict)()
    for key, value in (options or {}).items():
        if key in choices and value not in choices[key]:
            raise SamWsssError(f'{where}: {key}={value!r} of rule {rule!r} is not one of '
                               f'{", ".join(map(repr, choices[key]))}')
        if isinstance(defaults[key], bool) and not isinstance(value, bool):
            raise SamWsssError(f'{where}: {key}={value!r} of rule {rule!r} must be True or False')
        _check_option_range(rule, key, value, where)
    return {**defaults, **(options or {})}


class MergeInputs:
    """What every merge rule needs, computed once per image.

    Attributes:
        label_flat (np.ndarray): ``(L,) uint8`` pseudo-label flattened in Fortran order.
        height (int), width (int): The image size; ``L = H * W``.
        class_ids (np.ndarray): ``(K,) int64`` foreground classes present in the label, sorted.
        class_areas (np.ndarray): ``(K,) int64`` pixels of each class, ``|P_c|``.
        areas (np.ndarray): ``(N,) int64`` mask areas ``|M|``.
        quality (np.ndarray): ``(N,) float32`` the masks' predicted IoU (NaN when none).
        overlaps (np.ndarray): ``(N, K) int64`` ``|M & P_c|``.
        starts, ends, owner (np.ndarray): ``(Q,) int64`` flat ones-runs and their mask index.
    """

    def __init__(self, pseudo_label: np.ndarray, mask_set: MaskSet) -> None:
        self.height, self.width = pseudo_label.shape
        self.label_flat = np.ascontiguousarray(pseudo_label.T).reshape(-1)
        self.num_masks = len(mask_set)
        self.starts, self.ends, self.owner = run_positions(mask_set.runs, mask_set.run_offsets)
        self.areas = np.asarray(mask_set.areas, dtype=np.int64)
        self.quality = np.asarray(mask_set.predicted_iou, dtype=np.float32)
        counts = np.bincount(self.label_flat, minlength=256)
        present = np.nonzero(counts[1:IGNORE_INDEX])[0] + 1
        self.class_ids = present.astype(np.int64)
        self.class_areas = counts[present].astype(np.int64)
        self.overlaps = np.zeros((self.num_masks, len(present)), dtype=np.int64)
        for k, class_id in enumerate(present):
            self.overlaps[:, k] = self.overlap_counts(self.label_flat == class_id)

    def overlap_counts(self, pixels_flat: np.ndarray) -> np.ndarray:
        """``(N,) int64`` ``|M & S|`` for every mask, ``S`` given as ``(L,) bool`` in Fortran
        order: one cumulative sum over the pixels, two lookups per run."""
        cumulative = np.zeros(pixels_flat.size + 1, dtype=np.int64)
        np.cumsum(pixels_flat, out=cumulative[1:])
        per_run = cumulative[self.ends] - cumulative[self.starts]
        return np.bincount(self.owner, weights=per_run,
                           minlength=self.num_masks).astype(np.int64)

    def coverage(self, selected: np.ndarray) -> np.ndarray:
        """``(L,) int32`` how many of the ``selected`` masks (``(N,) bool``) cover each pixel."""
        keep = selected[self.owner]
        return runs_union(self.starts[keep], self.ends[keep], self.label_flat.size)


@register_merge_rule('sepl', majority_ratio=(0.0, 1.0), coverage_ratio=(0.0, 2.0))
def sepl_rule(inputs: MergeInputs, majority_ratio: float = 0.5,
              coverage_ratio: float = 0.85) -> np.ndarray:
    """SEPL's merge (see the module docstring); thresholds as in the paper's code."""
    label = np.zeros(inputs.label_flat.size, dtype=np.uint8)
    taken = np.zeros(inputs.num_masks, dtype=bool)
    free_coverage = inputs.coverage(np.ones(inputs.num_masks, dtype=bool))
    for k, class_id in enumerate(inputs.class_ids):
        overlap = inputs.overlaps[:, k]
        selected = ~taken & ((overlap > majority_ratio * inputs.areas)
                             | (overlap >= coverage_ratio * inputs.class_areas[k]))
        selected_coverage = inputs.coverage(selected)
        cam_only = (inputs.label_flat == class_id) & (free_coverage == 0)
        label[(selected_coverage > 0) | cam_only] = class_id
        taken |= selected
        free_coverage -= selected_coverage
    return label


@register_merge_rule('max_iou', majority_ratio=(0.0, 1.0))
def max_iou_rule(inputs: MergeInputs, majority_ratio: float = 0.5) -> np.ndarray:
    """Each mask gets the class covering more than ``majority_ratio`` of it; no CAM fallback."""
    label = np.zeros(inputs.label_flat.size, dtype=np.uint8)
    for k, class_id in enumerate(inputs.class_ids):
        selected = inputs.overlaps[:, k] > majority_ratio * inputs.areas
        label[inputs.coverage(selected) > 0] = class_id
    return label


@register_merge_rule('sesam_coverage', penalty=(0.0, 100.0), min_score=(None, 1.0))
def sesam_coverage_rule(inputs: MergeInputs, penalty: float = 1.0, min_score: float = 0.0,
                        tie_break: Optional[str] = None,
                        tie_unlabelled: bool = True) -> np.ndarray:
    """SeSAM's coverage selection (Das et al. 2026) over automatic masks instead of prompts.

    Each 8-connected component of each labelled class (background included) gets the mask with
    the best score of :func:`~.sesam_select.coverage_scores` (counted on the runs): the share of
    the component it covers minus ``penalty`` times the share of the labelled pixels under it
    that belong to other classes; it must score above ``min_score``. Ties follow
    :func:`~.sesam_select.rank_candidates`, SeSAM's one order, the same as the prompted path's
    (:data:`~.sesam_select.TIE_BREAK`), then the earlier first pixel (never the list order).
    Background components are painted too, and labelled pixels keep their label. Suited to
    sparse labels (points, scribbles, coarse masks) as well as CAMs.

    For a click every mask containing it covers it whole, so the score only tells masks with
    other classes' labels under them from those without, and the tie-break chooses the
    granularity (the whole over its parts, or the reverse). Picks of different classes tied in
    score and area (two disagreeing clicks that chose the same mask) leave their overlap
    unpainted under ``tie_unlabelled``; otherwise the earlier first pixel wins.

    Args:
        penalty (float): Weight of the other-class share. Default: 1.0.
        min_score (float): A pick must score above it. Default: 0.0.
        tie_break (str, optional): One of :data:`~.sesam_select.TIE_BREAKS`, for comparisons;
            None (default) is SeSAM's one rule, :data:`~.sesam_select.TIE_BREAK`.
        tie_unlabelled (bool): Tied picks of different classes leave their overlap unpainted.
            Default: True.
    """
    from .sesam import class_components  # scikit-image is only needed by this rule
    from .sesam_select import TIE_BREAK, coverage_from_counts, painting_groups, rank_candidates
    tie_break = TIE_BREAK if tie_break is None else tie_break
    labelled = inputs.label_flat != IGNORE_INDEX
    label = np.full(inputs.label_flat.size, IGNORE_INDEX, dtype=np.uint8)
    label[labelled] = inputs.label_flat[labelled]
    if inputs.num_masks == 0:
        return label
    # |M & P_c| per class: the foreground columns exist already; background is one more count.
    class_overlaps = dict(zip(inputs.class_ids.tolist(), inputs.overlaps.T))
    class_overlaps[0] = inputs.overlap_counts(inputs.label_flat == 0)
    under_labelled = inputs.overlaps.sum(1) + class_overlaps[0]
    first_pixel = np.full(inputs.num_masks, inputs.label_flat.size, dtype=np.int64)
    np.minimum.at(first_pixel, inputs.owner, inputs.starts)
    picks, pick_classes, pick_scores = [], [], []  # mask index, class id, coverage score
    label_2d = inputs.label_flat.reshape(inputs.width, inputs.height).T
    for class_id, component in class_components(label_2d):
        scores = coverage_from_counts(
            inputs.overlap_counts(component.T.reshape(-1)), int(component.sum()),
            under_labelled - class_overlaps[class_id], under_labelled, penalty)
        best = int(rank_candidates(scores, inputs.areas, inputs.quality, first_pixel,
                                   tie_break=tie_break)[0])
        if scores[best] > min_score:
            picks.append(best)
            pick_classes.append(class_id)
            pick_scores.append(scores[best])
    picks, pick_classes = np.asarray(picks, np.int64), np.asarray(pick_classes, np.int64)
    # The winners of overlaps paint last; a group holds picks tied in score and area.
    for group in painting_groups(np.asarray(pick_scores), inputs.areas[picks],
                                 first_pixel[picks]):
        classes = np.unique(pick_classes[group])
        together = len(classes) == 1 or tie_unlabelled
        claims = np.zeros(inputs.label_flat.size, dtype=np.int32)
        for members in ([group[pick_classes[group] == class_id] for class_id in classes]
                        if together else [[pick] for pick in group]):
            selected = np.zeros(inputs.num_masks, dtype=bool)
            selected[picks[members]] = True
            covered = inputs.coverage(selected) > 0
            label[covered] = pick_classes[members[0]]
            claims += covered
        if tie_unlabelled and len(classes) > 1:
            label[claims > 1] = IGNORE_INDEX
    label[labelled] = inputs.label_flat[labelled]
    return label


sesam_coverage_rule.paints_background = True


def _sesam_coverage_choices() -> Dict[str, tuple]:
    """The allowed values of ``sesam_coverage``'s string options (imported only when asked)."""
    from .sesam_select import TIE_BREAKS
    return {'tie_break': (None, ) + TIE_BREAKS}


sesam_coverage_rule.option_choices = _sesam_coverage_choices


def enhance_pseudo_label(pseudo_label: np.ndarray, masks: Union[np.ndarray, MaskSet],
                         rule: str = 'sepl', num_classes: int = 21, keep_ignore: bool = False,
                         name: Optional[str] = None, **rule_options) -> np.ndarray:
    """Refine a CAM pseudo-label with class-agnostic masks.

    Args:
        pseudo_label (np.ndarray): ``(H, W) uint8`` class ids, 0 background, 255 ignore.
        masks (np.ndarray | MaskSet): ``(N, H, W) bool`` masks or a :class:`MaskSet`.
        rule (str): A key of :data:`MERGE_RULES` (``'sepl'``, ``'max_iou'``,
            ``'sesam_coverage'``, or one registered with :func:`register_merge_rule`).
        num_classes (int): Number of classes including background; other values than
            ``0..num_classes-1`` and 255 are an error.
        keep_ignore (bool): Leave 255 pixels of ``pseudo_label`` that no rule painted at 255
            (default: they become background, as in SEPL).
        name (str, optional): File name of the pseudo-label, used in error messages.
        **rule_options: Thresholds of the rule (e.g. ``majority_ratio``, ``coverage_ratio``).

    Returns:
        np.ndarray: ``(H, W) uint8`` enhanced pseudo-label.
    """
    name = name or 'pseudo-label'
    rule_options = merge_rule_options(rule, rule_options)
    pseudo_label = np.asarray(pseudo_label)
    if pseudo_label.ndim != 2:
        raise SamWsssError(f'{name}: a pseudo-label must be (H, W), got {pseudo_label.shape}')
    if pseudo_label.dtype != np.uint8:
        if pseudo_label.size and (pseudo_label.min() < 0 or pseudo_label.max() > 255):
            raise SamWsssError(f'{name}: values outside 0..255; store class ids as uint8')
        pseudo_label = pseudo_label.astype(np.uint8)
    check_label_values(pseudo_label, num_classes, name)
    if isinstance(masks, MaskSet):
        mask_set = masks
        mask_shape = (mask_set.height, mask_set.width)
    else:
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise SamWsssError(f'{name}: masks must be (N, H, W), got shape {masks.shape}')
        mask_shape = masks.shape[1:]
        mask_set = None
    if tuple(mask_shape) != pseudo_label.shape:
        raise SamWsssError(
            f'{name}: pseudo-label is {pseudo_label.shape[0]}x{pseudo_label.shape[1]} (HxW) but '
            f'its masks are {mask_shape[0]}x{mask_shape[1]}; generate both at the image size')
    if mask_set is None:
        mask_set = MaskSet.from_masks(masks, 'array')
    inputs = MergeInputs(pseudo_label, mask_set)
    label_flat = MERGE_RULES[rule](inputs, **rule_options)
    if getattr(MERGE_RULES[rule], 'paints_background', False):
        # 0 is painted background; 255 is what the rule left unpainted.
        if not keep_ignore:
            label_flat[label_flat == IGNORE_INDEX] = 0
    elif keep_ignore:
        unpainted_ignore = (label_flat == 0) & (inputs.label_flat == IGNORE_INDEX)
        label_flat[unpainted_ignore] = IGNORE_INDEX
    return np.ascontiguousarray(label_flat.reshape(inputs.width, inputs.height).T)


def enhance_label_file(image_id: str, pseudo_dir: str, read_masks: Callable[[str], MaskSet],
                       out_dir: str, rule: str = 'sepl', num_classes: int = 21,
                       keep_ignore: bool = False, **rule_options) -> Dict[str, int]:
    """Enhance ``pseudo_dir/<id>.png`` with ``read_masks(id)``; write ``out_dir/<id>.png``.

    The offline tool's per-image step (picklable with ``functools.partial`` for workers). The
    output is a single-channel VOC-palette PNG written atomically.

    Returns:
        dict: ``masks`` (the image's), ``pixels``, ``changed`` (pixels that differ from the
        input label) and ``by_masks`` (pixels that differ from what the rule gives with no
        masks: 0 means the masks did nothing).
    """
    pseudo_path = osp.join(pseudo_dir, image_id + '.png')
    pseudo_label = read_label_png(pseudo_path, num_classes=num_classes)
    mask_set = read_masks(image_id)
    options = dict(rule=rule, num_classes=num_classes, keep_ignore=keep_ignore,
                   name=pseudo_path, **rule_options)
    enhanced = enhance_pseudo_label(pseudo_label, mask_set, **options)
    write_label_png(osp.join(out_dir, image_id + '.png'), enhanced)
    no_masks = enhance_pseudo_label(
        pseudo_label, MaskSet.from_masks(np.zeros((0, ) + pseudo_label.shape, bool), 'none'),
        **options) if len(mask_set) else enhanced
    return dict(masks=len(mask_set), pixels=int(pseudo_label.size),
                changed=int((enhanced != pseudo_label).sum()),
                by_masks=int((enhanced != no_masks).sum()))
