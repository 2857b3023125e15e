"""CAM head: per-class activation maps and image-level classification from image tags."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import SampleList

from ..core.cam import (cams_to_pseudo_label, normalize_cams, pool_cams, select_tagged_cams,
                         tags_to_multi_hot)
from ..errors import SamWsssError


@MODELS.register_module()
class CAMHead(BaseDecodeHead):
    """Class Activation Map head, trained as a multi-label classifier from image-level tags.

    This head is the implementation of `CAM <https://arxiv.org/abs/1512.04150>`_ (Zhou et al.,
    CVPR 2016). A bias-free 1x1 conv gives one activation map per FOREGROUND class: with
    ``num_classes=21`` (VOC, background included, as the dataset and ``IoUMetric`` count them)
    the head outputs 20 maps, channel ``k`` for class ``k + 1``; background has no channel and is
    decided by ``bg_thresh``. Global pooling of the maps gives the image scores, trained with a
    multi-label soft margin loss (``loss_decode``, a sigmoid ``CrossEntropyLoss`` averaged over
    classes and images, logged as ``loss_cls``) against the tags in
    ``metainfo['image_tags']`` (see ``LoadImageTags``). The logged ``acc_cls`` is the share of
    (image, class) decisions the scores get right.

    Args:
        pool (str): Global pooling, ``'avg'`` | ``'max'`` | ``'gwrp'`` | ``'lse'``.
            Default: ``'avg'``.
        gwrp_decay (float): Rank decay of ``'gwrp'`` pooling. Default: 0.9.
        lse_r (float): Sharpness of ``'lse'`` pooling. Default: 5.0.
        bg_thresh (float): In the pseudo-label, background wherever every normalised CAM is
            below it. Default: 0.15.
        loss_decode (dict): The classification loss; must be a sigmoid loss on
            ``(B, num_classes - 1)`` scores. Default: ``CrossEntropyLoss(use_sigmoid=True,
            loss_name='loss_cls')``, i.e. ``nn.MultiLabelSoftMarginLoss``.
        **kwargs: ``BaseDecodeHead`` arguments (``in_channels``, ``channels``, ``num_classes``,
            ``in_index``, ``dropout_ratio``, ``norm_cfg``, ...). When ``channels`` differs from
            ``in_channels`` a 1x1 ``ConvModule`` projects the features first.
    """

    def __init__(self, pool: str = 'avg', gwrp_decay: float = 0.9, lse_r: float = 5.0,
                 bg_thresh: float = 0.15,
                 loss_decode: dict = dict(type='CrossEntropyLoss', use_sigmoid=True,
                                          loss_weight=1.0, loss_name='loss_cls'),
                 **kwargs) -> None:
        super().__init__(loss_decode=loss_decode, **kwargs)
        if pool not in ('avg', 'max', 'gwrp', 'lse'):
            raise SamWsssError(f"CAMHead: pool={pool!r} is not one of 'avg', 'max', 'gwrp', "
                               "'lse'; fix model.decode_head.pool in the config")
        losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) \
            else [self.loss_decode]
        for loss in losses:
            if not getattr(loss, 'use_sigmoid', False):
                raise SamWsssError('CAMHead: loss_decode must be a sigmoid (multi-label) loss, '
                                   'e.g. dict(type="CrossEntropyLoss", use_sigmoid=True, '
                                   'loss_name="loss_cls")')
        self.pool = pool
        self.gwrp_decay = gwrp_decay
        self.lse_r = lse_r
        self.bg_thresh = bg_thresh
        self.num_foreground = self.num_classes - 1
        self.project = nn.Identity() if self.channels == self.in_channels else ConvModule(
            self.in_channels, self.channels, 1, conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        # One bias-free map per foreground class (BaseDecodeHead made num_classes channels).
        self.conv_seg = nn.Conv2d(self.channels, self.num_foreground, kernel_size=1, bias=False)

    def forward(self, inputs: Tuple[Tensor]) -> Tensor:
        """Raw CAMs ``(B, num_classes - 1, h, w)`` from the selected backbone features."""
        return self.cls_seg(self.project(self._transform_inputs(inputs)))

    def image_scores(self, cams: Tensor) -> Tensor:
        """Image-level class logits ``(B, num_classes - 1)`` by global pooling of raw CAMs."""
        return pool_cams(cams, self.pool, self.gwrp_decay, self.lse_r)

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples: SampleList) -> dict:
        """Multi-label classification loss of the pooled CAMs against ``image_tags``.

        Args:
            seg_logits (Tensor): ``(B, num_classes - 1, h, w)`` raw CAMs.
            batch_data_samples (list[SegDataSample]): With ``metainfo['image_tags']``.

        Returns:
            dict[str, Tensor]: ``loss_cls`` (or the loss_name of ``loss_decode``) and ``acc_cls``.
        """
        scores = self.image_scores(seg_logits)
        target = tags_to_multi_hot([image_tags_of(sample.metainfo) for sample in
                                    batch_data_samples], self.num_foreground, scores.device)
        losses = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) \
            else [self.loss_decode]
        loss = dict()
        for loss_decode in losses:
            value = loss_decode(scores, target, ignore_index=self.ignore_index)
            loss[loss_decode.loss_name] = loss.get(loss_decode.loss_name, 0) + value
        with torch.no_grad():
            loss['acc_cls'] = ((scores > 0).float() == target).float().mean() * 100
        return loss

    def cams_to_results(self, cams: Tensor, image_tags: Sequence[int] = None
                        ) -> Tuple[Tensor, Tensor, np.ndarray]:
        """Normalised CAMs and the CAM pseudo-label of one image.

        Args:
            cams (Tensor): ``(num_classes - 1, H, W)`` raw or summed CAMs of one image.
            image_tags (Sequence[int], optional): Foreground class ids present; CAMs of other
                classes are suppressed. None: every foreground class is a candidate.

        Returns:
            tuple: ``(all_cams (num_classes - 1, H, W) float`` normalised, zero for untagged
            classes; ``pseudo_label (H, W) int64``; ``class_ids (K,) int64`` the candidates).
        """
        if image_tags is None:
            image_tags = np.arange(1, self.num_classes)
        tagged_cams, class_ids = select_tagged_cams(normalize_cams(cams), image_tags)
        pseudo_label = cams_to_pseudo_label(tagged_cams, class_ids, self.bg_thresh)
        all_cams = torch.zeros_like(cams)
        all_cams[torch.as_tensor(class_ids - 1, device=cams.device)] = tagged_cams
        return all_cams, pseudo_label, class_ids


def image_tags_of(metainfo: dict) -> List[int]:
    """The ``image_tags`` of a data sample's metainfo, or a clear error when they are missing."""
    if metainfo.get('image_tags') is None:
        raise SamWsssError(
            "CAM training needs metainfo['image_tags']: add dict(type='LoadImageTags') after "
            "LoadAnnotations and 'image_tags' to PackSegInputs(meta_keys=...) in the pipeline")
    return metainfo['image_tags']
