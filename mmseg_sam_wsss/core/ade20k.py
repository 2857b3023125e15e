"""ADE20K in mmseg's layout (``images/training/*.jpg``, ``annotations/training/*.png``) and its
``reduce_zero_label`` semantics.

The annotations hold 0 = "other" (not one of the 150 classes, not evaluated) and the classes as
1..150. mmseg's ``ADE20KDataset`` reduces them when loading (0 -> 255, ``v`` -> ``v - 1``), so
models predict 0..149 (wall 0 ... flag 149). Our weak labels and SeSAM labels hold those reduced
ids (255 = unlabelled), like Cityscapes' train ids, and ADE20K has no background class. Pure
NumPy; no mmseg.
"""
from typing import List

import numpy as np

from .io import IGNORE_INDEX

NUM_CLASSES = 150


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg's ``reduce_zero_label``: 0 and 255 become 255, every other id ``v`` becomes ``v - 1``.

    Args:
        label (np.ndarray): ``(H, W)`` integer ids 0..255.

    Returns:
        np.ndarray: ``(H, W) uint8``.
    """
    label = np.asarray(label)
    reduced = label.astype(np.int16) - 1
    reduced[(label == 0) | (label == IGNORE_INDEX)] = IGNORE_INDEX
    return reduced.astype(np.uint8)


def reduced_value_map(num_classes: int = NUM_CLASSES) -> List[str]:
    """``['1=0', '2=1', ..., '150=149']``: ``tools/convert_weak_labels.py --value-map`` items that
    bring raw ADE20K ids to the reduced ones (with ``--ignore-value 0``)."""
    return [f'{value}={value - 1}' for value in range(1, num_classes + 1)]
