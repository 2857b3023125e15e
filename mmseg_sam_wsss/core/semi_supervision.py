"""The arithmetic of SeSAM's semi-supervised training, over torch tensors (no mmseg).

Three sources supervise each pixel, in priority order: the weak ground truth (points,
scribbles, coarse masks), else the SAM pseudo-label, else the teacher's argmax where the
teacher is confident. Each source's cross-entropy is normalised by its own pixel count so a
rare source (a few scribble pixels) is not drowned by a common one (the SAM label).

Weak and SAM labels travel through mmseg's pipelines as two maps, ``gt_seg_map`` (SAM) and
``gt_weak_label``, both in ``seg_fields`` so every geometric transform moves them (see
:class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel`); 255 means "no label" in each.
"""
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .io import IGNORE_INDEX

SOURCES = ('gt', 'sam', 'conf')


def assign_sources(weak_label: torch.Tensor, sam_label: torch.Tensor,
                   teacher_probs: torch.Tensor, conf_thresh: float
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Choose each pixel's supervising source and target class by priority.

    Args:
        weak_label (Tensor): ``(N, H, W) int64``, 255 = unlabelled.
        sam_label (Tensor): ``(N, H, W) int64``, 255 = none.
        teacher_probs (Tensor): ``(N, C, H, W)`` teacher softmax, or ``None`` for no teacher.
        conf_thresh (float): τ; the teacher supervises where its max probability is ``>= τ``.

    Returns:
        tuple[Tensor, Tensor]: ``source`` ``(N, H, W) int64`` (0 weak GT, 1 SAM, 2 teacher,
        -1 none) and ``target`` ``(N, H, W) int64`` class ids (255 where no source).
    """
    has_gt = weak_label != IGNORE_INDEX
    has_sam = (sam_label != IGNORE_INDEX) & ~has_gt
    source = torch.full_like(weak_label, -1)
    target = torch.full_like(weak_label, IGNORE_INDEX)
    source[has_gt], target[has_gt] = 0, weak_label[has_gt]
    source[has_sam], target[has_sam] = 1, sam_label[has_sam]
    if teacher_probs is not None:
        confidence, teacher_label = teacher_probs.max(dim=1)
        has_conf = (confidence >= conf_thresh) & (source == -1)
        source[has_conf], target[has_conf] = 2, teacher_label[has_conf]
    return source, target


def balanced_source_losses(seg_logits: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
                           weights: Dict[str, float]) -> Dict[str, torch.Tensor]:
    """Per-source cross-entropy, each normalised by its own pixel count and weighted.

    Args:
        seg_logits (Tensor): ``(N, C, H, W)`` student logits at label resolution.
        source, target (Tensor): from :func:`assign_sources`.
        weights (dict): ``{'gt': λ_gt, 'sam': λ_sam, 'conf': λ_conf}``.

    Returns:
        dict: ``loss_gt``, ``loss_sam``, ``loss_conf`` (scalars; 0 with a gradient path when a
        source has no pixels) and ``share_gt``, ``share_sam``, ``share_conf`` (fractions of all
        pixels, detached).
    """
    pixel_ce = F.cross_entropy(seg_logits, target, ignore_index=IGNORE_INDEX, reduction='none')
    total_pixels = float(source.numel())
    outputs: Dict[str, torch.Tensor] = {}
    for index, name in enumerate(SOURCES):
        selected = source == index
        count = selected.sum()
        term = (pixel_ce * selected).sum() / count.clamp(min=1)
        outputs[f'loss_{name}'] = weights[name] * term
        outputs[f'share_{name}'] = (count / total_pixels).detach()
    return outputs


def pad_label(label: torch.Tensor, size: Sequence[int],
              pad_value: int = IGNORE_INDEX) -> torch.Tensor:
    """Pad a label map on the bottom and right to ``size``, as mmseg's ``stack_batch`` pads
    ``gt_sem_seg``, so an extra map lines up with the padded batch.

    Args:
        label (Tensor): ``(..., h, w)`` label map.
        size (Sequence[int]): ``(H, W)`` with ``H >= h`` and ``W >= w``.
        pad_value (int): Value of the padded pixels. Default: 255 (ignored).

    Returns:
        Tensor: ``(..., H, W)``, ``label`` in the top-left corner.
    """
    height, width = label.shape[-2:]
    if height > size[0] or width > size[1]:
        raise ValueError(f'label {tuple(label.shape[-2:])} is larger than the pad size '
                         f'{tuple(size)}')
    return F.pad(label, (0, size[1] - width, 0, size[0] - height), value=pad_value)


@torch.no_grad()
def ema_update(teacher_tensors: Iterable[torch.Tensor], student_tensors: Iterable[torch.Tensor],
               momentum: float) -> None:
    """``teacher = momentum * teacher + (1 - momentum) * student``, in place.

    Floating tensors are averaged; integer buffers (e.g. BN's ``num_batches_tracked``) are copied.
    """
    for teacher, student in zip(teacher_tensors, student_tensors):
        if teacher.dtype.is_floating_point:
            teacher.mul_(momentum).add_(student.detach(), alpha=1.0 - momentum)
        else:
            teacher.copy_(student)


def linear_ramp(iteration: int, start: int, end: int, low: float, high: float) -> float:
    """``low`` before ``start``, ``high`` after ``end``, linear in between."""
    if end <= start:
        return high if iteration >= start else low
    progress = min(max((iteration - start) / (end - start), 0.0), 1.0)
    return low + (high - low) * progress


def sigmoid_ramp(iteration: int, length: int) -> float:
    """Laine & Aila's ramp-up ``exp(-5 (1 - t)^2)`` over ``length`` iterations, in [0, 1]."""
    if length <= 0:
        return 1.0
    progress = min(max(iteration / length, 0.0), 1.0)
    return float(np.exp(-5.0 * (1.0 - progress) ** 2))
