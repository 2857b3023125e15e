"""A student-teacher wrapper around any mmseg segmentor, for SeSAM's semi-supervised training.

Shaped after mmdet 3.x's ``SemiBaseDetector``: the teacher is a submodule (so ``state_dict`` and
``--resume`` carry it with no extra work), the model owns the losses, and
:class:`~mmseg_sam_wsss.engine.SemiSupervisedHook` only schedules (EMA momentum, ramps).
"""
import copy
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmseg.models.segmentors import BaseSegmentor
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from mmseg.utils import add_prefix

from ..core.semi_supervision import unpack_labels


@MODELS.register_module()
class SemiSupervisedSegmentor(BaseSegmentor):
    """Train a student on weak GT + SAM pseudo-labels + confident labels of an EMA teacher.

    The training labels arrive packed in ``gt_sem_seg`` (see
    :class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel`), so they follow every
    geometric transform. The student's decode head and auxiliary heads are trained with
    ``semi_loss`` on their logits; the teacher, a copy of the student updated by EMA, supplies
    the confident labels and, by default, the predictions at test time.

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
        self.student = MODELS.build(segmentor)
        self.teacher = MODELS.build(copy.deepcopy(segmentor))
        self.teacher.requires_grad_(False)
        self.semi_loss = MODELS.build(semi_loss)
        self.aux_loss_weight = aux_loss_weight
        self.predict_on = predict_on

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
        """Balanced three-source loss on the student's decode and auxiliary heads."""
        packed = torch.stack([sample.gt_sem_seg.data for sample in data_samples]).squeeze(1)
        sam_label, weak_label = unpack_labels(packed)
        label_size = packed.shape[-2:]
        with torch.no_grad():
            teacher_logits = self.teacher.decode_head.forward(self.teacher.extract_feat(inputs))
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
            head_losses = self.semi_loss(seg_logits, weak_label, sam_label, teacher_probs)
            if prefix != 'decode':  # shares are the same for every head; log them once
                head_losses = {key: weight * value for key, value in head_losses.items()
                               if key.startswith('loss_')}
            losses.update(add_prefix(head_losses, prefix))
        return losses

    @staticmethod
    def _resize(seg_logits: Tensor, size, head: nn.Module) -> Tensor:
        return resize(seg_logits, size=size, mode='bilinear',
                      align_corners=getattr(head, 'align_corners', False))
