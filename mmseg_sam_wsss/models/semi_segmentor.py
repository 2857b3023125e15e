"""A student-teacher wrapper around any mmseg segmentor, for SeSAM's semi-supervised training.

Shaped after mmdet 3.x's ``SemiBaseDetector``: the teacher is a submodule (so ``state_dict`` and
``--resume`` carry it with no extra work), the model owns the losses, and
:class:`~mmseg_sam_wsss.engine.SemiSupervisedHook` only schedules (EMA momentum, ramps).
"""
import copy
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.models.segmentors import BaseSegmentor
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from mmseg.utils import add_prefix

from ..core.semi_supervision import pad_label, valid_pixels
from ..datasets.transforms.views import TEACHER_IMG
from ..errors import SamWsssError

HOOK_FIX = "add custom_hooks = [dict(type='SemiSupervisedHook')] to the config"


@MODELS.register_module()
class SemiSupervisedSegmentor(BaseSegmentor):
    """Train a student on weak GT + SAM pseudo-labels + confident labels of an EMA teacher.

    Each training sample carries the SAM pseudo-label in ``gt_sem_seg`` and the weak label in
    ``gt_weak_label`` (see :class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel` and
    :class:`~mmseg_sam_wsss.datasets.transforms.PackSemiSegInputs`); the weak label is padded
    here to the batch's padded size with 255, as mmseg's ``stack_batch`` pads ``gt_sem_seg``.
    Pixels outside each sample's ``img_shape`` (the padding) are supervised by no source. With
    :class:`~mmseg_sam_wsss.datasets.transforms.StudentTeacherViews` in the pipeline the
    teacher sees each crop's clean view (``teacher_img``, normalised and padded here as the
    data preprocessor does ``inputs``) and the student the strong one; without it both see
    ``inputs``. The student's decode head and auxiliary heads are trained with ``semi_loss`` on their
    logits; the teacher, a copy of the student updated by EMA, supplies the confident labels
    and, by default, the predictions at test time. Only
    :class:`~mmseg_sam_wsss.engine.SemiSupervisedHook` moves the teacher, so ``loss`` refuses
    to run until that hook's ``before_train`` has set ``teacher_hooked``.

    Args:
        segmentor (dict): Any mmseg segmentor config with ``extract_feat`` and decode heads
            whose ``forward`` returns logits (EncoderDecoder and its kin).
        semi_loss (dict): The loss, e.g. ``dict(type='BalancedSemiLoss')``.
        aux_loss_weight (float): Weight of ``semi_loss`` on each auxiliary head. Default: 0.4.
        predict_on (str): ``'teacher'`` or ``'student'`` answers ``predict``. Default: 'teacher'.
        data_preprocessor (dict, optional): Used only when ``segmentor`` has none. The
            segmentor's own wins because mmengine's Runner fills this argument from the
            config's top-level ``data_preprocessor``, so ``model.segmentor.data_preprocessor``
            overrides (e.g. ``size``) must not be silently replaced.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, segmentor: ConfigType, semi_loss: ConfigType, aux_loss_weight: float = 0.4,
                 predict_on: str = 'teacher', data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if predict_on not in ('teacher', 'student'):
            raise ValueError(f"predict_on must be 'teacher' or 'student', got {predict_on!r}")
        segmentor = copy.deepcopy(segmentor)
        inner_preprocessor = segmentor.pop('data_preprocessor', None)
        super().__init__(data_preprocessor=inner_preprocessor or data_preprocessor,
                         init_cfg=init_cfg)
        # Each build gets its own copy: EncoderDecoder writes ``pretrained`` into the backbone
        # config it is given, and a second build from that config would then fail its
        # "both backbone and segmentor set pretrained weight" assertion.
        self.student = MODELS.build(copy.deepcopy(segmentor))
        self.teacher = MODELS.build(copy.deepcopy(segmentor))
        self.teacher.requires_grad_(False)
        self.semi_loss = MODELS.build(semi_loss)
        self.aux_loss_weight = aux_loss_weight
        self.predict_on = predict_on
        self.teacher_hooked = False

    @property
    def predictor(self) -> BaseSegmentor:
        return self.teacher if self.predict_on == 'teacher' else self.student

    def train(self, mode: bool = True) -> 'SemiSupervisedSegmentor':
        """The teacher always runs in eval mode (BN running statistics, no dropout)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        return self.predictor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_data_samples: SampleList) -> Tensor:
        return self.predictor.encode_decode(inputs, batch_data_samples)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        return self.predictor.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        return self.predictor._forward(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Balanced three-source loss on the student's decode and auxiliary heads.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` padded batch.
            data_samples (list[SegDataSample]): With ``gt_sem_seg`` (SAM pseudo-label, padded
                to ``(H, W)`` by the data preprocessor), ``gt_weak_label``, ``img_shape``
                (before padding) and optionally ``teacher_img``.

        Returns:
            dict: ``decode.loss_*``, ``decode.share_*`` and ``aux*.loss_*``.
        """
        if not self.teacher_hooked:
            raise SamWsssError('SemiSupervisedSegmentor: no SemiSupervisedHook updates the '
                               f'teacher, so it would never move; {HOOK_FIX}')
        sam_label = torch.stack([sample.gt_sem_seg.data for sample in data_samples])
        sam_label = sam_label.squeeze(1).long()
        label_size = sam_label.shape[-2:]
        weak_label = torch.stack([self._weak_label(sample, label_size)
                                  for sample in data_samples])
        valid = valid_pixels([sample.metainfo.get('img_shape', label_size)
                              for sample in data_samples], label_size, device=sam_label.device)
        teacher_inputs = self._teacher_inputs(inputs, data_samples)
        with torch.no_grad():
            teacher_logits = self.teacher.decode_head.forward(
                self.teacher.extract_feat(teacher_inputs))
            teacher_probs = self._resize(teacher_logits, label_size,
                                         self.teacher.decode_head).softmax(dim=1)
        features = self.student.extract_feat(inputs)
        losses = {}
        heads = [('decode', self.student.decode_head, 1.0)]
        if self.student.with_auxiliary_head:
            aux_heads = self.student.auxiliary_head
            if isinstance(aux_heads, nn.ModuleList):
                heads += [(f'aux_{index}', head, self.aux_loss_weight)
                          for index, head in enumerate(aux_heads)]
            else:
                heads.append(('aux', aux_heads, self.aux_loss_weight))
        for prefix, head, weight in heads:
            seg_logits = self._resize(head.forward(features), label_size, head)
            head_losses = self.semi_loss(seg_logits, weak_label, sam_label, teacher_probs, valid)
            if prefix != 'decode':  # shares are the same for every head; log them once
                head_losses = {key: weight * value for key, value in head_losses.items()
                               if key.startswith('loss_')}
            losses.update(add_prefix(head_losses, prefix))
        return losses

    def _teacher_inputs(self, inputs: Tensor, data_samples: SampleList) -> Tensor:
        """The teacher's batch: each sample's ``teacher_img`` prepared as the data preprocessor
        prepares ``inputs`` (BGR to RGB, normalisation, bottom/right padding), else ``inputs``."""
        has_view = [TEACHER_IMG in sample for sample in data_samples]
        if not any(has_view):
            return inputs
        if not all(has_view):
            raise SamWsssError('SemiSupervisedSegmentor: only some samples carry teacher_img; '
                               "put dict(type='StudentTeacherViews') in every train pipeline or "
                               'in none')
        preprocessor = self.data_preprocessor
        images = []
        for sample in data_samples:
            image = sample.get(TEACHER_IMG).to(inputs.device)
            img_shape = tuple(sample.metainfo.get('img_shape', image.shape[-2:])[:2])
            if tuple(image.shape[-2:]) != img_shape:
                raise SamWsssError(f'SemiSupervisedSegmentor: teacher_img {tuple(image.shape)} '
                                   f'does not match img_shape {img_shape}; put '
                                   'StudentTeacherViews after every geometric transform')
            if getattr(preprocessor, 'channel_conversion', False) and image.size(0) == 3:
                image = image[[2, 1, 0], ...]
            image = image.float()
            if getattr(preprocessor, '_enable_normalize', False):
                image = (image - preprocessor.mean) / preprocessor.std
            height, width = inputs.shape[-2:]
            image = F.pad(image, (0, width - image.shape[-1], 0, height - image.shape[-2]),
                          value=getattr(preprocessor, 'pad_val', 0))
            images.append(image)
        return torch.stack(images)

    @staticmethod
    def _weak_label(data_sample: SegDataSample, size: Sequence[int]) -> Tensor:
        """The sample's ``(H, W) int64`` weak label, padded bottom/right to ``size`` with 255."""
        if 'gt_weak_label' not in data_sample:
            raise SamWsssError('SemiSupervisedSegmentor: a training sample has no '
                               "gt_weak_label; put dict(type='LoadWeakLabel') after "
                               "LoadAnnotations and end the train pipeline with "
                               "dict(type='PackSemiSegInputs') (configs/sesam/"
                               '_base_sesam_deeplabv3_voc.py)')
        weak_label = data_sample.gt_weak_label.data.squeeze(0).long()
        img_shape = data_sample.metainfo.get('img_shape')
        if img_shape is not None and tuple(weak_label.shape) != tuple(img_shape[:2]):
            raise SamWsssError(f'SemiSupervisedSegmentor: gt_weak_label {tuple(weak_label.shape)} '
                               f'does not match img_shape {tuple(img_shape[:2])} of '
                               f"{data_sample.metainfo.get('img_path')}; a geometric transform "
                               "did not move it: use mmseg's Resize/RandomResize/RandomCrop/"
                               'RandomFlip, which move every map in seg_fields')
        return pad_label(weak_label, size)

    @staticmethod
    def _resize(seg_logits: Tensor, size: Sequence[int], head: nn.Module) -> Tensor:
        return resize(seg_logits, size=size, mode='bilinear',
                      align_corners=getattr(head, 'align_corners', False))
