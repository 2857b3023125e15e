"""Class Activation Maps: image tags, CAM normalisation, multi-scale + flip aggregation and the
CAM pseudo-label (background wherever every CAM is below ``bg_thresh``).

CAM: Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016,
https://arxiv.org/abs/1512.04150. The multi-scale + flip aggregation and the normalisation by
each class's maximum follow the common WSSS practice (PSA, IRN).

Channel convention used throughout: a CAM tensor has one channel per *foreground* class, channel
``k`` belonging to class id ``k + 1`` (background, id 0, has no CAM channel). Pure torch/NumPy;
imports neither mmseg nor mmcv.
"""
from typing import Callable, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SamWsssError
from .image_tags import BACKGROUND

def tags_to_multi_hot(batch_image_tags: Sequence[Sequence[int]], num_foreground: int,
                      device: torch.device = None) -> torch.Tensor:
    """Turn per-image tags into the multi-hot classification target.

    Args:
        batch_image_tags (Sequence[Sequence[int]]): B lists of foreground class ids (``>= 1``).
        num_foreground (int): Number of foreground classes (``num_classes - 1``).
        device (torch.device, optional): Device of the result.

    Returns:
        torch.Tensor: ``(B, num_foreground) float32``; entry ``[b, c - 1]`` is 1 when class ``c``
        is tagged in image ``b``.
    """
    target = torch.zeros(len(batch_image_tags), num_foreground, dtype=torch.float32, device=device)
    for index, tags in enumerate(batch_image_tags):
        tags = np.asarray(tags, dtype=np.int64).reshape(-1)
        if tags.size and (tags.min() < 1 or tags.max() > num_foreground):
            raise SamWsssError(f'image_tags {tags.tolist()} outside 1..{num_foreground}; tags are '
                               'foreground class ids (LoadImageTags excludes 0 and 255)')
        target[index, torch.as_tensor(tags - 1, device=device)] = 1.0
    return target


def pool_cams(cams: torch.Tensor, pool: str = 'avg', gwrp_decay: float = 0.9,
              lse_r: float = 5.0) -> torch.Tensor:
    """Image-level class scores from CAMs by global pooling.

    Args:
        cams (torch.Tensor): ``(B, K, h, w)`` raw CAMs (logit maps).
        pool (str): ``'avg'`` (CAM, Zhou et al. 2016), ``'max'``, ``'gwrp'`` (global weighted
            rank pooling, SEC) or ``'lse'`` (log-sum-exp). Defaults to ``'avg'``.
        gwrp_decay (float): Rank decay ``d`` of GWRP (weights ``d**rank``). Defaults to 0.9.
        lse_r (float): Sharpness ``r`` of LSE pooling. Defaults to 5.0.

    Returns:
        torch.Tensor: ``(B, K)`` class scores (logits).
    """
    flat = cams.flatten(2)
    if pool == 'avg':
        return flat.mean(dim=2)
    if pool == 'max':
        return flat.amax(dim=2)
    if pool == 'gwrp':
        ranked = flat.sort(dim=2, descending=True).values
        weights = gwrp_decay ** torch.arange(flat.shape[2], device=cams.device, dtype=cams.dtype)
        return (ranked * weights).sum(dim=2) / weights.sum()
    if pool == 'lse':
        count = torch.tensor(float(flat.shape[2]), device=cams.device, dtype=cams.dtype)
        return (torch.logsumexp(lse_r * flat, dim=2) - torch.log(count)) / lse_r
    raise SamWsssError(f"pool={pool!r} is not one of 'avg', 'max', 'gwrp', 'lse'; fix the "
                       'CAMHead config')


def normalize_cams(cams: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """ReLU, then divide each class map by its own maximum (PSA/IRN normalisation).

    Args:
        cams (torch.Tensor): ``(..., K, H, W)`` CAMs.
        eps (float): Added to the maximum so all-zero maps stay zero. Defaults to 1e-5.

    Returns:
        torch.Tensor: Same shape, values in ``[0, 1)``.
    """
    cams = F.relu(cams)
    peak = cams.flatten(-2).amax(dim=-1)[..., None, None]
    return cams / (peak + eps)


def cams_to_pseudo_label(cams: torch.Tensor, class_ids: Sequence[int],
                         bg_thresh: float = 0.15) -> torch.Tensor:
    """The CAM pseudo-label: argmax over foreground CAMs, background where all are below a threshold.

    Args:
        cams (torch.Tensor): ``(K, H, W)`` normalised CAMs in ``[0, 1]``, one per entry of
            ``class_ids`` (usually only the image's tagged classes).
        class_ids (Sequence[int]): ``(K,)`` the class id of each CAM channel.
        bg_thresh (float): A pixel is background (0) where every CAM is ``< bg_thresh``.
            Defaults to 0.15.

    Returns:
        torch.Tensor: ``(H, W) int64`` class ids; 0 where no CAM reaches ``bg_thresh``.
    """
    class_ids = torch.as_tensor(np.asarray(class_ids, dtype=np.int64), device=cams.device)
    if cams.dim() != 3 or cams.shape[0] != class_ids.numel():
        raise SamWsssError(f'cams of shape {tuple(cams.shape)} do not match {class_ids.numel()} '
                           'class ids; pass (K, H, W) CAMs with one class id per channel')
    if class_ids.numel() == 0:
        return torch.zeros(cams.shape[1:], dtype=torch.int64, device=cams.device)
    best_score, best_channel = cams.max(dim=0)
    pseudo_label = class_ids[best_channel]
    pseudo_label[best_score < bg_thresh] = BACKGROUND
    return pseudo_label


def select_tagged_cams(cams: torch.Tensor, image_tags: Sequence[int]
                       ) -> Tuple[torch.Tensor, np.ndarray]:
    """Keep only the CAM channels of the tagged classes.

    Args:
        cams (torch.Tensor): ``(K_all, H, W)`` CAMs of every foreground class (channel k = class k+1).
        image_tags (Sequence[int]): Foreground class ids present in the image.

    Returns:
        tuple: ``(cams (K, H, W), class_ids (K,) int64)`` for the tagged classes, in tag order.
    """
    class_ids = np.asarray(image_tags, dtype=np.int64).reshape(-1)
    if class_ids.size and (class_ids.min() < 1 or class_ids.max() > cams.shape[0]):
        raise SamWsssError(f'image_tags {class_ids.tolist()} outside 1..{cams.shape[0]} (the '
                           'number of CAM channels); check num_classes of the head')
    index = torch.as_tensor(class_ids - 1, device=cams.device)
    return cams.index_select(0, index), class_ids


def multiscale_flip_cams(forward_cams: Callable[[torch.Tensor], torch.Tensor],
                         images: torch.Tensor, scales: Sequence[float] = (1.0,),
                         flip: bool = False, align_corners: bool = False) -> torch.Tensor:
    """Sum the ReLU'd CAMs of several rescaled (and horizontally flipped) copies of the images.

    Each copy's CAMs are flipped back, resized to the input size, ReLU'd and summed; normalise the
    sum with :func:`normalize_cams`.

    Args:
        forward_cams (Callable): Maps ``(B, 3, h, w)`` images to ``(B, K, h', w')`` raw CAMs.
        images (torch.Tensor): ``(B, 3, H, W)`` input images.
        scales (Sequence[float]): Resize factors. Defaults to ``(1.0,)``.
        flip (bool): Also use the horizontally flipped copy of every scale. Defaults to False.
        align_corners (bool): Passed to the bilinear resizes. Defaults to False.

    Returns:
        torch.Tensor: ``(B, K, H, W)`` summed non-negative CAMs.
    """
    if not scales or min(scales) <= 0:
        raise SamWsssError(f'scales {list(scales)} must be a non-empty list of positive factors, '
                           'e.g. --scales 0.5 1.0 1.5 2.0')
    height, width = images.shape[-2:]
    total = None
    for scale in scales:
        size = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
        scaled = images if size == (height, width) else F.interpolate(
            images, size=size, mode='bilinear', align_corners=align_corners)
        copies = [(scaled, False)] + ([(scaled.flip(-1), True)] if flip else [])
        for copy, flipped in copies:
            cams = forward_cams(copy)
            if flipped:
                cams = cams.flip(-1)
            cams = F.relu(F.interpolate(cams, size=(height, width), mode='bilinear',
                                        align_corners=align_corners))
            total = cams if total is None else total + cams
    return total
