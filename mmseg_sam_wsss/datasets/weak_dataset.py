"""Datasets with weak labels (image tags, points, scribbles, coarse masks) beside pseudo-labels."""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmseg.datasets import BaseSegDataset, PascalVOCDataset
from mmseg.registry import DATASETS

from ..core.image_tags import check_image_tags, image_tags_from_label, read_cls_labels
from ..core.io import read_label_png
from ..core.weak_labels import read_points_json
from ..errors import SamWsssError

WEAK_LABEL_TYPES = ('image', 'point', 'scribble', 'coarse')


@DATASETS.register_module()
class WeakLabelDataset(BaseSegDataset):
    """A segmentation dataset whose samples also carry a weak label path and image tags.

    ``data_prefix`` takes ``img_path``, ``seg_map_path`` (SAM/CAM pseudo-labels, or GT) and, for
    point/scribble/coarse, ``weak_label_path``: the weak label of ``<img_dir>/<name><img_suffix>``
    is ``<weak_dir>/<name><weak_label_suffix>`` (sub-folders kept, so Cityscapes/ADE layouts
    work). Keys added to each data_info: ``weak_label_path`` (str, or None for
    ``weak_type='image'``; loaded by ``LoadWeakLabel``) and ``image_tags`` (``(K,) int64``
    foreground class ids present, no 0 or 255). Tags come from ``cls_labels`` when given, else
    from the weak label, else (``'image'``) from the ``seg_map_path`` label: give ``cls_labels``
    when that holds pseudo-labels rather than GT.

    Args:
        weak_type (str): One of ``'image', 'point', 'scribble', 'coarse'``. Default: 'point'.
        weak_label_suffix (str): ``'.png'`` or ``'.json'`` (points). Default: '.png'.
        cls_labels (str, optional): ``.npy``/``.json`` ``{id: [class ids]}`` image tags.
        **kwargs: Passed to ``BaseSegDataset``.
    """

    def __init__(self, weak_type: str = 'point', weak_label_suffix: str = '.png',
                 cls_labels: Optional[str] = None, **kwargs) -> None:
        if weak_type not in WEAK_LABEL_TYPES:
            raise SamWsssError(f'weak_type must be one of {WEAK_LABEL_TYPES}, got {weak_type!r}')
        if weak_label_suffix not in ('.png', '.json'):
            raise SamWsssError(f"weak_label_suffix must be '.png' or '.json', got "
                               f'{weak_label_suffix!r}')
        self.weak_type = weak_type
        self.weak_label_suffix = weak_label_suffix
        self.cls_labels = cls_labels
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        num_classes = len(self.metainfo['classes'])
        img_dir = self.data_prefix.get('img_path', '')
        weak_dir = self.data_prefix.get('weak_label_path')
        if self.weak_type != 'image' and not weak_dir:
            raise SamWsssError(f"weak_type={self.weak_type!r} needs data_prefix=dict(..., "
                               'weak_label_path=<dir of weak labels>)')
        tags_by_id = read_cls_labels(self.cls_labels, num_classes) if self.cls_labels else None
        for data_info in data_list:
            name = osp.relpath(data_info['img_path'], img_dir)[:-len(self.img_suffix)]
            weak_path = None
            if self.weak_type != 'image':
                weak_path = osp.join(weak_dir, name + self.weak_label_suffix)
                if not osp.isfile(weak_path):
                    raise SamWsssError(f'{weak_path}: weak label not found; run '
                                       'tools/make_weak_labels.py or fix '
                                       'data_prefix.weak_label_path / weak_label_suffix')
            data_info['weak_label_path'] = weak_path
            data_info['image_tags'] = self._image_tags(name, weak_path, data_info, tags_by_id,
                                                       num_classes)
        return data_list

    def _image_tags(self, name: str, weak_path: Optional[str], data_info: dict,
                    tags_by_id: Optional[Dict[str, np.ndarray]], num_classes: int) -> np.ndarray:
        if tags_by_id is not None:
            image_id = osp.basename(name)
            if image_id not in tags_by_id:
                raise SamWsssError(f'{self.cls_labels}: no tags for image {image_id!r}; '
                                   'regenerate cls_labels for this split')
            return tags_by_id[image_id]
        if weak_path is not None and weak_path.endswith('.json'):
            points = read_points_json(weak_path)
            return check_image_tags([c for _, _, c in points if c != 0], num_classes, weak_path)
        label_path = weak_path or data_info.get('seg_map_path')
        if label_path is None:
            raise SamWsssError("weak_type='image' needs cls_labels= or data_prefix.seg_map_path "
                               'to derive image tags')
        label = read_label_png(label_path, num_classes=num_classes)
        return image_tags_from_label(label, num_classes)


@DATASETS.register_module()
class WeakVOCDataset(WeakLabelDataset):
    """PASCAL VOC 2012 (21 classes, VOC palette) with weak labels; see :class:`WeakLabelDataset`."""

    METAINFO = PascalVOCDataset.METAINFO

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
