"""The arithmetic of SeSAM's semi-supervised training, over torch tensors (no mmseg).

Three sources supervise each pixel, in priority order: the weak ground truth (points,
scribbles, coarse masks), else the SAM pseudo-label, else the teacher's argmax where the
teacher is confident. Each source's cross-entropy is normalised by its own pixel count so a
rare source (a few scribble pixels) is not drowned by a common one (the SAM label).

Weak and SAM labels travel through mmseg's pipelines as ONE map (:func:`pack_labels`), so every
geometric transform (Resize, RandomCrop, RandomFlip) and the batch padding move them together;
the padding value 255 decodes to "no label from either source".
"""
from typing import Dict, Iterable, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .io import IGNORE_INDEX

SOURCES = ('gt', 'sam', 'conf')


def pack_labels(sam_label: np.ndarray, weak_label: np.ndarray) -> np.ndarray:
    """Pack a SAM pseudo-label and a weak label into one ``(H, W) uint16`` map.

    ``packed = sam + 256 * ((weak + 1) % 256)``: weak 255 (unlabelled) packs to 0, so the plain
    value 255 (mmseg's padding) means "SAM: ignore, weak: unlabelled".

    Args:
        sam_label (np.ndarray): ``(H, W) uint8`` class ids, 255 = none.
        weak_label (np.ndarray): ``(H, W) uint8`` class ids, 255 = unlabelled.

    Returns:
        np.ndarray: ``(H, W) uint16`` packed labels.
    """
    if sam_label.shape != weak_label.shape:
        raise ValueError(f'SAM label {sam_label.shape} and weak label {weak_label.shape} differ')
    weak_code = (weak_label.astype(np.uint16) + 1) % 256
    return sam_label.astype(np.uint16) + 256 * weak_code


def unpack_labels(packed: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Invert :func:`pack_labels` on a tensor of any shape: returns ``(sam_label, weak_label)``,
    both int64, 255 where absent."""
    packed = packed.long()
    sam_label = packed % 256
    weak_code = packed // 256
    weak_label = torch.where(weak_code == 0, torch.full_like(weak_code, IGNORE_INDEX),
                             weak_code - 1)
    return sam_label, weak_label


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
