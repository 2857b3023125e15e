"""PASCAL VOC 2012 train_aug (10,582 images) as one dataset: labels from two GT folders."""
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log

from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from ..core.io import VOC_AUG_HELP, VOC_AUG_ID_LISTS
from ..errors import SamWsssError


@DATASETS.register_module()
class VOCAugDataset(PascalVOCDataset):
    """VOC 2012 with each id's label read from ``SegmentationClass``, else ``SegmentationClassAug``.

    mmseg's ``voc_aug`` converter writes SBD's labels to ``SegmentationClassAug/`` and two id
    lists: ``trainaug.txt`` (10,582: VOC train + SBD - VOC val, the WSSS training set) and
    ``aug.txt`` (9,118: the SBD part). mmseg's voc12aug configs concatenate ``train.txt`` on
    ``SegmentationClass`` with ``aug.txt`` on ``SegmentationClassAug``; this dataset reads one
    list, so ``ann_file`` alone switches between train_aug and the 1,464 ``train.txt`` images
    and the tools that take one dataset (``tools/generate_cams.py --split trainaug``) work.

    Use it where the labels are GT (image tags for CAM training, full supervision). For
    pseudo-labels keep ``PascalVOCDataset``: every id must have its own pseudo-label, and a
    fallback to GT would mix supervision. The dataset logs how many labels each folder gave.

    Args:
        fallback_seg_map_path (str, optional): The folder (under ``data_root`` unless absolute)
            read for ids whose label is not in ``data_prefix['seg_map_path']``; None: no
            fallback. Defaults to 'SegmentationClassAug'.
        **kwargs: Passed to ``PascalVOCDataset`` (``ann_file``, ``data_root``, ...).
    """

    def __init__(self, fallback_seg_map_path: Optional[str] = 'SegmentationClassAug',
                 **kwargs) -> None:
        self.fallback_seg_map_path = fallback_seg_map_path
        super().__init__(**kwargs)

    def _fallback_dir(self) -> Optional[str]:
        if not self.fallback_seg_map_path:
            return None
        if osp.isabs(self.fallback_seg_map_path):
            return self.fallback_seg_map_path
        return osp.join(self.data_root or '', self.fallback_seg_map_path)

    def load_data_list(self) -> List[dict]:
        if self.ann_file and not osp.exists(self.ann_file):
            hint = VOC_AUG_HELP if osp.basename(self.ann_file) in VOC_AUG_ID_LISTS \
                else 'check data_root and ann_file'
            raise SamWsssError(f'{self.ann_file}: not found; {hint}; the 1,464 VOC train images '
                               'are ann_file=ImageSets/Segmentation/train.txt')
        data_list = super().load_data_list()
        primary_dir = self.data_prefix.get('seg_map_path')
        fallback_dir = self._fallback_dir()
        if primary_dir is None:
            return data_list
        from_fallback = 0
        for data_info in data_list:
            path = data_info['seg_map_path']
            if osp.isfile(path):
                continue
            fallback = osp.join(fallback_dir, osp.basename(path)) if fallback_dir else None
            if fallback is None or not osp.isfile(fallback):
                where = f'{path} nor {fallback}' if fallback else path
                raise SamWsssError(
                    f'{self.ann_file}: no label for {osp.basename(path)} (neither {where}); '
                    f'{VOC_AUG_HELP}; or list only the ids that have labels in ann_file')
            data_info['seg_map_path'] = fallback
            from_fallback += 1
        if fallback_dir:
            print_log(f'VOCAugDataset: {len(data_list)} labels of {osp.basename(self.ann_file)}: '
                      f'{len(data_list) - from_fallback} from {primary_dir}, {from_fallback} '
                      f'from {fallback_dir}', logger='current')
        return data_list
