"""Load a weak label and pack it with the (SAM) pseudo-label into ``gt_seg_map``."""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.semi_supervision import pack_labels
from ...core.weak_labels import load_weak_label
from ...errors import SamWsssError


@TRANSFORMS.register_module()
class LoadWeakLabel(BaseTransform):
    """Read ``weak_label_path`` and pack it into ``gt_seg_map`` next to the pseudo-label.

    mmcv's ``Resize``/``RandomFlip`` and mmseg's batch padding move only ``gt_seg_map``, so the
    weak label rides inside it (``sam + 256 * ((weak + 1) % 256)``, uint16; see
    :func:`~mmseg_sam_wsss.core.semi_supervision.pack_labels`) and every geometric transform
    moves both maps together. ``SemiSupervisedSegmentor`` unpacks them. Place it after
    ``LoadAnnotations`` (and ``SAMEnhancePseudoLabel``, if used) and before any geometric
    transform.

    Required keys: ``gt_seg_map`` (the SAM pseudo-label, uint8, 255 = none),
    ``weak_label_path`` (set by ``WeakLabelDataset``; None for tags-only data).

    Modified keys: ``gt_seg_map`` (packed, uint16).

    Args:
        num_classes (int): Weak label values must be ``< num_classes`` or 255. Default: 21.
    """

    def __init__(self, num_classes: int = 21) -> None:
        self.num_classes = num_classes

    def transform(self, results: Dict) -> Dict:
        if 'gt_seg_map' not in results:
            raise SamWsssError('LoadWeakLabel needs gt_seg_map: put LoadAnnotations before it')
        sam_label = results['gt_seg_map']
        path = results.get('weak_label_path')
        if path is None:
            weak_label = np.full(sam_label.shape, 255, dtype=np.uint8)
        else:
            weak_label = load_weak_label(path, sam_label.shape, num_classes=self.num_classes)
        results['gt_seg_map'] = pack_labels(sam_label, weak_label)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_classes={self.num_classes})'
