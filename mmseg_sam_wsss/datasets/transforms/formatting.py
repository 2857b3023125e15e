"""Pack SeSAM training samples: mmseg's ``PackSegInputs`` plus the weak label."""
from typing import Dict

import numpy as np
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData

from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSemiSegInputs(PackSegInputs):
    """``PackSegInputs`` that also packs ``gt_weak_label`` into the ``SegDataSample``.

    Required keys: those of ``PackSegInputs``; ``gt_weak_label`` (optional, from
    :class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel`).

    Added data-sample field: ``gt_weak_label`` (``PixelData``, ``(1, H, W) int64``), beside
    ``gt_sem_seg``. The data preprocessor pads only ``gt_sem_seg``;
    ``SemiSupervisedSegmentor.loss`` pads the weak label to the batch the same way.

    Args:
        meta_keys (Sequence[str]): As ``PackSegInputs``.
    """

    def transform(self, results: Dict) -> Dict:
        packed_results = super().transform(results)
        if 'gt_weak_label' in results:
            weak_label = results['gt_weak_label'][None, ...].astype(np.int64)
            packed_results['data_samples'].gt_weak_label = PixelData(data=to_tensor(weak_label))
        return packed_results
