"""SeSAM's refinement rounds: which confident predicted fragments may become prompts.

A round ``r > 1`` prompts SAM from the weak label plus the round-``r-1`` model's confident
pixels. The weak label names the image's classes for free, so a predicted fragment of a class
that no weak pixel names would only invent that class; a tiny fragment is mostly noise. These
guards keep a fragment (an 8-connected component of one predicted class) only if its class is
in the weak label, it has at least ``min_area`` pixels and, optionally, it lies within
``near_weak_px`` of a weak pixel of its class.

A round's new labels then fill only the pixels the previous round left unlabelled
(:func:`keep_previous_labels`): a prompt from a wrong prediction returns a wrong mask, and
painting it over the previous round's labels, which rest on the weak label alone, undoes them.

Pure NumPy + scipy; no mmseg, no mmcv.
"""
from dataclasses import dataclass, fields
from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

from ..errors import SamWsssError
from .io import IGNORE_INDEX
from .sesam import EIGHT_CONNECTED


@dataclass
class FragmentCounts:
    """What the guards of one or more images kept and dropped (counts add up over images).

    Attributes:
        confident_pixels, confident_fragments: Confident predicted pixels and fragments given.
        pixels, fragments: Those kept (the ones a round may prompt from).
        other_class_fragments: Dropped: their class is not in the weak label.
        small_fragments: Dropped: fewer than ``min_area`` pixels.
        far_fragments: Dropped: farther than ``near_weak_px`` from a weak pixel of their class.
        filled_pixels: Pixels the previous round left unlabelled that this round labelled
            (:func:`keep_previous_labels`).
    """
    confident_pixels: int = 0
    confident_fragments: int = 0
    pixels: int = 0
    fragments: int = 0
    other_class_fragments: int = 0
    small_fragments: int = 0
    far_fragments: int = 0
    filled_pixels: int = 0

    def add(self, other: 'FragmentCounts') -> None:
        """Add ``other``'s counts to these, in place."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def guard_prediction(confident_prediction: np.ndarray, weak_label: np.ndarray,
                     weak_classes_only: bool = True, min_area: int = 1,
                     near_weak_px: Optional[float] = None, ignore: int = IGNORE_INDEX
                     ) -> Tuple[np.ndarray, FragmentCounts]:
    """The confident predicted fragments a refinement round may prompt from.

    Args:
        confident_prediction (np.ndarray): ``(H, W) uint8`` class ids, ``ignore`` = not
            confident (:func:`~.sesam_select.confident_label`).
        weak_label (np.ndarray): ``(H, W) uint8`` the image's weak label, ``ignore`` = none.
        weak_classes_only (bool): Drop fragments of classes the weak label does not name.
            Default: True.
        min_area (int): Drop fragments of fewer pixels. Default: 1 (keep all).
        near_weak_px (float, optional): Drop fragments whose nearest pixel is farther than this
            (Euclidean, px) from every weak pixel of their class. Default: None (no limit).
        ignore (int): The "no label" value. Default: 255.

    Returns:
        tuple[np.ndarray, FragmentCounts]: ``(H, W) uint8`` the kept fragments (``ignore``
        elsewhere) and the counts.
    """
    if confident_prediction.shape != weak_label.shape:
        raise SamWsssError(f'prediction {confident_prediction.shape} and weak label '
                           f'{weak_label.shape} differ in size')
    kept = np.full(confident_prediction.shape, ignore, dtype=np.uint8)
    counts = FragmentCounts()
    weak_classes = set(np.unique(weak_label).tolist()) - {ignore}
    for class_id in np.unique(confident_prediction).tolist():
        if class_id == ignore:
            continue
        fragments, count = ndimage.label(confident_prediction == class_id,
                                         structure=EIGHT_CONNECTED)
        areas = np.bincount(fragments.reshape(-1), minlength=count + 1)[1:]
        counts.confident_pixels += int(areas.sum())
        counts.confident_fragments += count
        if weak_classes_only and class_id not in weak_classes:
            counts.other_class_fragments += count
            continue
        keep = areas >= min_area
        counts.small_fragments += int((~keep).sum())
        if near_weak_px is not None:
            class_weak = weak_label == class_id
            if class_weak.any():
                distance = ndimage.distance_transform_edt(~class_weak)
                nearest = np.asarray(ndimage.minimum(distance, fragments,
                                                     index=np.arange(1, count + 1)))
            else:
                nearest = np.full(count, np.inf)
            near = nearest <= near_weak_px
            counts.far_fragments += int((keep & ~near).sum())
            keep &= near
        selected = np.concatenate([[False], keep])[fragments]
        kept[selected] = class_id
        counts.pixels += int(areas[keep].sum())
        counts.fragments += int(keep.sum())
    return kept, counts


def keep_previous_labels(previous: np.ndarray, new: np.ndarray,
                         ignore: int = IGNORE_INDEX) -> Tuple[np.ndarray, int]:
    """The previous round's label where it has one, else the new round's.

    Args:
        previous (np.ndarray): ``(H, W) uint8`` the previous round's pseudo-label.
        new (np.ndarray): ``(H, W) uint8`` this round's pseudo-label.
        ignore (int): The "no label" value. Default: 255.

    Returns:
        tuple[np.ndarray, int]: ``(H, W) uint8`` the combined label and how many pixels the new
        round labelled that the previous one had left unlabelled.
    """
    if previous.shape != new.shape:
        raise SamWsssError(f'previous round\'s label {previous.shape} and this round\'s '
                           f'{new.shape} differ in size')
    unlabelled = previous == ignore
    combined = np.where(unlabelled, new, previous).astype(np.uint8)
    return combined, int((unlabelled & (new != ignore)).sum())
