"""The arithmetic of SeSAM's semi-supervised training, over torch tensors (no mmseg).

Three sources supervise each pixel, in priority order: the weak ground truth (points,
scribbles, coarse masks), else the SAM pseudo-label, else the teacher's argmax where the
teacher is confident; each pixel has at most one source, and pixels that padding added (outside
the sample's ``img_shape``) have none. Two normalisations (:data:`NORMALIZE_MODES`):
``'per_source'`` divides each source's cross-entropy by its own pixel count (a rare source, a
few clicks, weighs as much as the SAM label); ``'all_pixels'`` divides the λ-weighted sum by the
count of all pixels of the batch, unsupervised and padded ones included (they add 0), as mmseg's
``CrossEntropyLoss`` averages by default (``avg_non_ignore=False``): with every λ = 1 and no
teacher pixels it is the plain cross-entropy of the configs this loss is compared with.

Weak and SAM labels travel through mmseg's pipelines as two maps, ``gt_seg_map`` (SAM) and
``gt_weak_label``, both in ``seg_fields`` so every geometric transform moves them (see
:class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel`); 255 means "no label" in each.
"""
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .io import IGNORE_INDEX

SOURCES = ('gt', 'sam', 'conf')
#: ``normalize`` of :func:`balanced_source_losses`: each source over its own pixel count, or
#: one mean over all pixels of the batch (with every λ = 1 and no teacher: mmseg's default CE).
NORMALIZE_MODES = ('per_source', 'all_pixels')


def valid_pixels(image_shapes: Sequence[Sequence[int]], size: Sequence[int],
                 device: Optional[torch.device] = None) -> torch.Tensor:
    """Pixels of each image before padding: mmseg's ``stack_batch`` pads bottom and right.

    Args:
        image_shapes (Sequence): ``(h, w, ...)`` per sample, the ``img_shape`` before padding.
        size (Sequence[int]): ``(H, W)`` of the padded batch.
        device (torch.device, optional): Device of the mask.

    Returns:
        Tensor: ``(N, H, W) bool``, True inside each image.
    """
    valid = torch.zeros((len(image_shapes), int(size[0]), int(size[1])), dtype=torch.bool,
                        device=device)
    for index, shape in enumerate(image_shapes):
        valid[index, :int(shape[0]), :int(shape[1])] = True
    return valid


def assign_sources(weak_label: torch.Tensor, sam_label: torch.Tensor,
                   teacher_probs: Optional[torch.Tensor], conf_thresh: float,
                   valid: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Choose each pixel's supervising source and target class by priority.

    Every pixel gets at most one source (a weak pixel inside the SAM label counts once, as
    weak), and pixels outside ``valid`` (padding) get none.

    Args:
        weak_label (Tensor): ``(N, H, W) int64``, 255 = unlabelled.
        sam_label (Tensor): ``(N, H, W) int64``, 255 = none.
        teacher_probs (Tensor): ``(N, C, H, W)`` teacher softmax, or ``None`` for no teacher.
        conf_thresh (float): τ; the teacher supervises where its max probability is ``>= τ``.
        valid (Tensor, optional): ``(N, H, W) bool`` image pixels (:func:`valid_pixels`);
            None = every pixel is an image pixel.

    Returns:
        tuple[Tensor, Tensor]: ``source`` ``(N, H, W) int64`` (0 weak GT, 1 SAM, 2 teacher,
        -1 none) and ``target`` ``(N, H, W) int64`` class ids (255 where no source).
    """
    if valid is None:
        valid = torch.ones_like(weak_label, dtype=torch.bool)
    has_gt = (weak_label != IGNORE_INDEX) & valid
    has_sam = (sam_label != IGNORE_INDEX) & ~has_gt & valid
    source = torch.full_like(weak_label, -1)
    target = torch.full_like(weak_label, IGNORE_INDEX)
    source[has_gt], target[has_gt] = 0, weak_label[has_gt]
    source[has_sam], target[has_sam] = 1, sam_label[has_sam]
    if teacher_probs is not None:
        confidence, teacher_label = teacher_probs.max(dim=1)
        has_conf = (confidence >= conf_thresh) & (source == -1) & valid
        source[has_conf], target[has_conf] = 2, teacher_label[has_conf]
    return source, target


def balanced_source_losses(seg_logits: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
                           weights: Dict[str, float], normalize: str = 'per_source'
                           ) -> Dict[str, torch.Tensor]:
    """Per-source cross-entropy, weighted by λ and normalised as ``normalize`` says.

    ``'per_source'``: ``loss_s = λ_s · mean of CE over the pixels of source s``.
    ``'all_pixels'``: ``loss_s = λ_s · (sum of CE over the pixels of source s) / n``, with n
    every pixel of the batch (padding and unsupervised pixels add 0 to the sum), so
    ``sum_s loss_s`` is one λ-weighted mean, mmseg's ``CrossEntropyLoss`` with its default
    ``avg_non_ignore=False`` when every λ is 1 and there is no teacher.

    Args:
        seg_logits (Tensor): ``(N, C, H, W)`` student logits at label resolution.
        source, target (Tensor): from :func:`assign_sources`.
        weights (dict): ``{'gt': λ_gt, 'sam': λ_sam, 'conf': λ_conf}``.
        normalize (str): One of :data:`NORMALIZE_MODES`. Default: 'per_source'.

    Returns:
        dict: ``loss_gt``, ``loss_sam``, ``loss_conf`` (scalars; 0 with a gradient path when a
        source has no pixels) and ``share_gt``, ``share_sam``, ``share_conf`` (fractions of all
        pixels, padding included, detached).
    """
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f'normalize must be one of {NORMALIZE_MODES}, got {normalize!r}')
    pixel_ce = F.cross_entropy(seg_logits, target, ignore_index=IGNORE_INDEX, reduction='none')
    total_pixels = float(source.numel())
    outputs: Dict[str, torch.Tensor] = {}
    for index, name in enumerate(SOURCES):
        selected = source == index
        count = selected.sum()
        denominator = count.clamp(min=1) if normalize == 'per_source' else total_pixels
        term = (pixel_ce * selected).sum() / denominator
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
