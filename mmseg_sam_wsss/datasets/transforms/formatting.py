"""Pack SeSAM training samples: mmseg's ``PackSegInputs`` plus the weak label."""
from typing import Dict

import numpy as np
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData

from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

from .views import TEACHER_IMG


@TRANSFORMS.register_module()
class PackSemiSegInputs(PackSegInputs):
    """``PackSegInputs`` that also packs ``gt_weak_label`` and the teacher's view.

    Required keys: those of ``PackSegInputs``; ``gt_weak_label`` (optional, from
    :class:`~mmseg_sam_wsss.datasets.transforms.LoadWeakLabel`); ``teacher_img`` (optional,
    from :class:`~mmseg_sam_wsss.datasets.transforms.StudentTeacherViews`).

    Added data-sample fields: ``gt_weak_label`` (``PixelData``, ``(1, H, W) int64``), beside
    ``gt_sem_seg``; ``teacher_img`` (``(3, H, W) uint8`` tensor, packed as ``inputs`` is). The
    data preprocessor pads only ``gt_sem_seg`` and normalises only ``inputs``;
    ``SemiSupervisedSegmentor.loss`` pads the weak label and prepares the teacher's view the
    same way.

    Args:
        meta_keys (Sequence[str]): As ``PackSegInputs``.
    """

    def transform(self, results: Dict) -> Dict:
        packed_results = super().transform(results)
        if 'gt_weak_label' in results:
            weak_label = results['gt_weak_label'][None, ...].astype(np.int64)
            packed_results['data_samples'].gt_weak_label = PixelData(data=to_tensor(weak_label))
        if TEACHER_IMG in results:
            img = results[TEACHER_IMG]
            img = img[..., None] if img.ndim < 3 else img
            packed_results['data_samples'].set_field(
                to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1))), TEACHER_IMG)
        return packed_results
