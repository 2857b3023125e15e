"""The counts a tool's summary prints so that work that did nothing never passes in silence:
masks per image of a mask store, and pixels the masks changed in enhanced labels.

Each function returns the summary line and, when the work did nothing, one ``WARNING:`` line.
Pure Python + NumPy; no torch, no mmseg.
"""
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..core.mask_store import MaskStore


def store_mask_counts(store: MaskStore, ids: Optional[Iterable[str]] = None) -> Dict[str, int]:
    """``{id: number of masks}`` of the store's files (``ids`` that it holds, default all),
    read from the files' headers."""
    ids = store.ids() if ids is None else [i for i in ids if store.has(i)]
    return {image_id: store.count_masks(image_id) for image_id in ids}


def mask_count_summary(counts: Sequence[int], where: str) -> Tuple[str, Optional[str]]:
    """``(line, warning or None)`` about the masks per image of ``where`` (a store, a run).

    The warning says when no image has a mask (nothing for a merge to do) or some have none.
    """
    counts = np.asarray(list(counts), dtype=np.int64)
    if not len(counts):
        return f'{where}: no images', f'WARNING: {where} holds no images'
    empty = int((counts == 0).sum())
    line = (f'{where}: {int(counts.sum())} masks in {len(counts)} images; masks per image mean '
            f'{counts.mean():.1f}, min {int(counts.min())}, max {int(counts.max())}; '
            f'{empty} images with 0 masks')
    if empty == len(counts):
        return line, (f'WARNING: {where} holds 0 masks in all {len(counts)} images, so they '
                      'change no label; for SAM lower --pred-iou-thresh/'
                      '--stability-score-thresh or check the checkpoint')
    if empty:
        return line, (f'WARNING: {empty} of {len(counts)} images of {where} have 0 masks; their '
                      'labels stay as they are')
    return line, None


def label_change_summary(stats: Sequence[Dict[str, int]]) -> Tuple[str, Optional[str]]:
    """``(line, warning or None)`` from per-image ``{'masks', 'changed', 'by_masks',
    'pixels'}`` counts of enhanced labels (:func:`core.merge.enhance_label_file`).

    ``changed`` counts pixels that differ from the input labels; ``by_masks`` those the masks
    changed (without the unlabelled pixels that only became background). The warning says when
    the masks changed no pixel: the enhanced labels equal their input.
    """
    if not stats:
        return 'no image enhanced in this run', None
    total = sum(item['pixels'] for item in stats)
    changed = sum(item['changed'] for item in stats)
    by_masks = sum(item['by_masks'] for item in stats)
    untouched = sum(item['by_masks'] == 0 for item in stats)
    masks = np.array([item['masks'] for item in stats])
    line = (f'{len(stats)} images enhanced: {changed} of {total} pixels changed vs the input '
            f'labels ({100 * changed / max(total, 1):.2f}%), {by_masks} by the masks '
            f'({100 * by_masks / max(total, 1):.2f}%); {untouched} images unchanged by the '
            f'masks; masks per image mean {masks.mean():.1f}, min {masks.min()}, max '
            f'{masks.max()}')
    if by_masks == 0:
        return line, (f'WARNING: the masks changed no pixel of the {len(stats)} labels (they '
                      'equal the input' + (' but for unlabelled pixels set to background'
                                           if changed else '') + '); check --masks (0 masks? '
                      'another image set?) and --rule-options')
    return line, None


def print_summary(lines: List[Tuple[str, Optional[str]]]) -> None:
    """Print each summary line, and its warning (if any) on stderr."""
    for line, warning in lines:
        print(line, flush=True)
        if warning:
            print(warning, file=sys.stderr, flush=True)
