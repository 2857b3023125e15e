"""CAM segmentor: an EncoderDecoder trained from image tags that predicts CAM pseudo-labels."""
from typing import List

import torch
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptSampleList, SampleList

from ..core.cam import multiscale_flip_cams
from ..errors import SamWsssError
from .cam_head import CAMHead


@MODELS.register_module()
class CAMSegmentor(EncoderDecoder):
    """mmseg's EncoderDecoder around a :class:`CAMHead`: classification training, CAM prediction.

    ``loss`` is EncoderDecoder's (the head reads ``metainfo['image_tags']``). ``predict`` fills
    each data sample with

    - ``pred_sem_seg``: the CAM pseudo-label ``(1, H, W)`` at ``ori_shape`` (argmax over the
      tagged classes' normalised CAMs, background where all are below ``decode_head.bg_thresh``),
      so mmseg's ``IoUMetric`` scores the pseudo-labels;
    - ``seg_logits``: ``(num_classes, H, W)``, channel 0 the constant ``bg_thresh``, channel
      ``c`` the normalised CAM of class ``c`` (zero for classes not in ``image_tags``).

    Without ``image_tags`` in metainfo every foreground class is a candidate.

    ``test_cfg`` takes, besides ``mode='whole'``, ``scales`` (resize factors of the test input,
    default ``(1.0,)``) and ``flip`` (add horizontally flipped copies, default False): the ReLU'd
    CAMs of all copies are summed (:func:`~mmseg_sam_wsss.core.cam.multiscale_flip_cams`).

    Args:
        **kwargs: EncoderDecoder arguments; ``decode_head`` must be a ``CAMHead`` and there is no
            auxiliary head.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(self.decode_head, CAMHead):
            raise SamWsssError(f'CAMSegmentor needs decode_head=dict(type="CAMHead", ...), got '
                               f'{type(self.decode_head).__name__}')
        if self.with_auxiliary_head:
            raise SamWsssError('CAMSegmentor trains from image tags only: remove auxiliary_head '
                               '(set model.auxiliary_head=None)')
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise SamWsssError("CAMSegmentor supports test_cfg.mode='whole' only (CAMs are "
                               'normalised per image); use scales/flip for multi-scale')

    def forward_cams(self, inputs: Tensor) -> Tensor:
        """Raw CAMs ``(B, num_classes - 1, h, w)`` at the head's feature resolution."""
        return self.decode_head(self.extract_feat(inputs))

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Summed ReLU'd CAMs over ``test_cfg.scales`` and ``flip``, ``(B, num_classes - 1, H, W)``
        at the (padded) input size."""
        return multiscale_flip_cams(self.forward_cams, inputs,
                                    scales=tuple(self.test_cfg.get('scales', (1.0,))),
                                    flip=bool(self.test_cfg.get('flip', False)),
                                    align_corners=self.align_corners)

    def postprocess_result(self, seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """Crop padding, undo a pipeline flip, resize to ``ori_shape``, then normalise the CAMs
        and make the pseudo-label (see the class docstring for the fields written)."""
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(ori_shape=seg_logits.shape[2:]))
                            for _ in range(seg_logits.shape[0])]
        height, width = seg_logits.shape[2:]
        for index, data_sample in enumerate(data_samples):
            img_meta = data_sample.metainfo
            left, right, top, bottom = img_meta.get('img_padding_size',
                                                    img_meta.get('padding_size', [0] * 4))
            cams = seg_logits[index:index + 1, :, top:height - bottom, left:width - right]
            if img_meta.get('flip', False):
                cams = cams.flip(dims=(3, ) if img_meta.get('flip_direction') == 'horizontal'
                                 else (2, ))
            cams = resize(cams, size=img_meta['ori_shape'], mode='bilinear',
                          align_corners=self.align_corners, warning=False)[0]
            all_cams, pseudo_label, _ = self.decode_head.cams_to_results(
                cams, img_meta.get('image_tags'))
            background = all_cams.new_full((1, ) + all_cams.shape[1:], self.decode_head.bg_thresh)
            data_sample.set_data({
                'seg_logits': PixelData(data=torch.cat([background, all_cams])),
                'pred_sem_seg': PixelData(data=pseudo_label[None]),
            })
        return data_samples
