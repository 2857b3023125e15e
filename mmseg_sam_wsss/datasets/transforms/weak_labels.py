"""Load a weak label (points, scribbles, coarse mask) as its own map, ``gt_weak_label``."""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.weak_labels import load_weak_label
from ...errors import SamWsssError


@TRANSFORMS.register_module()
class LoadWeakLabel(BaseTransform):
    """Read ``weak_label_path`` into ``gt_weak_label`` and add it to ``seg_fields``.

    mmseg's ``Resize`` (so ``RandomResize``), ``RandomCrop`` and ``RandomFlip`` move every map
    in ``seg_fields``, so the weak label follows the image and the pseudo-label in
    ``gt_seg_map``, which keeps plain class ids (``RandomCrop(cat_max_ratio=...)`` counts
    classes). :class:`~mmseg_sam_wsss.datasets.transforms.PackSemiSegInputs` packs it into the
    data sample and ``SemiSupervisedSegmentor`` pads it with the batch. Place it after
    ``LoadAnnotations`` (and ``SAMEnhancePseudoLabel``, if used) and before any geometric
    transform.

    Required keys: ``img_shape`` (``LoadImageFromFile``), ``weak_label_path`` (set by
    ``WeakLabelDataset``; None for tags-only data), ``seg_fields``.

    Added keys: ``gt_weak_label`` (``(H, W) uint8`` class ids, 255 = unlabelled; all 255 when
    ``weak_label_path`` is None).

    Modified keys: ``seg_fields`` (``'gt_weak_label'`` appended).

    Args:
        num_classes (int): Weak label values must be ``< num_classes`` or 255. Default: 21.
    """

    def __init__(self, num_classes: int = 21) -> None:
        self.num_classes = num_classes

    def transform(self, results: Dict) -> Dict:
        if 'img_shape' not in results:
            raise SamWsssError('LoadWeakLabel needs img_shape: put LoadImageFromFile before it')
        shape = tuple(results['img_shape'][:2])
        path = results.get('weak_label_path')
        if path is None:
            weak_label = np.full(shape, 255, dtype=np.uint8)
        else:
            weak_label = load_weak_label(path, shape, num_classes=self.num_classes)
        results['gt_weak_label'] = weak_label
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_weak_label' not in seg_fields:
            seg_fields.append('gt_weak_label')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_classes={self.num_classes})'
