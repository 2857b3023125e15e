"""Datasets with weak labels (image tags, points, scribbles, coarse masks) beside pseudo-labels:
generic, PASCAL VOC, Cityscapes and ADE20K."""
import os.path as osp
from typing import Dict, List, Optional, Union

import numpy as np
from mmseg.datasets import (ADE20KDataset, BaseSegDataset, CityscapesDataset,
                            PascalVOCDataset)
from mmseg.registry import DATASETS

from ..core.image_tags import (check_background_index, check_image_tags,
                               image_tags_from_label, read_cls_labels)
from ..core.ade20k import reduce_zero_label
from ..core.io import check_label_values, read_label_png
from ..core.weak_labels import read_points_json
from ..errors import SamWsssError

WEAK_LABEL_TYPES = ('image', 'point', 'scribble', 'coarse')


@DATASETS.register_module()
class WeakLabelDataset(BaseSegDataset):
    """A segmentation dataset whose samples also carry a weak label path and image tags.

    ``data_prefix`` takes ``img_path``, ``seg_map_path`` (SAM/CAM pseudo-labels, or GT) and, for
    point/scribble/coarse, ``weak_label_path``: the weak label of ``<img_dir>/<name><img_suffix>``
    is ``<weak_dir>/<name><weak_label_suffix>``, sub-folders kept and any suffix ending in
    ``.png`` (a label PNG) or ``.json`` (points), so Cityscapes' names work:
    ``weak_label_suffix='_gtCoarse_labelTrainIds.png'`` beside ``img_suffix='_leftImg8bit.png'``.
    Keys added to each data_info: ``weak_label_path`` (str, or None for ``weak_type='image'``;
    loaded by ``LoadWeakLabel``) and ``image_tags`` (``(K,) int64`` class ids present, neither
    ``background_index`` nor 255). Tags come from ``cls_labels`` when given, else from the weak
    label, else (``'image'``) from the ``seg_map_path`` label (reduced first under
    ``reduce_zero_label``): give ``cls_labels`` when that holds pseudo-labels rather than GT.

    Weak labels are read as they are, never reduced: they hold the ids the model predicts (for
    ADE20K the 150 reduced ids, see :class:`WeakADE20KDataset`).

    Args:
        weak_type (str): One of ``'image', 'point', 'scribble', 'coarse'``. Default: 'point'.
        weak_label_suffix (str): After the name: ``'.png'`` (default), ``'.json'`` (points), or
            any ending in one of them, e.g. ``'_gtCoarse_labelTrainIds.png'``.
        cls_labels (str, optional): ``.npy``/``.json`` ``{id: [class ids]}`` image tags.
        background_index (int, optional): The background class, which is never an image tag;
            None for datasets without one. Default: the class's ``BACKGROUND_INDEX`` (0 here,
            as in VOC and COCO-81; None for Cityscapes and ADE20K).
        **kwargs: Passed to ``BaseSegDataset``.
    """

    #: The background class of the dataset (never an image tag), or None.
    BACKGROUND_INDEX: Optional[int] = 0

    def __init__(self, weak_type: str = 'point', weak_label_suffix: str = '.png',
                 cls_labels: Optional[str] = None,
                 background_index: Union[int, None, str] = 'default',
                 **kwargs) -> None:
        if weak_type not in WEAK_LABEL_TYPES:
            raise SamWsssError(f'weak_type must be one of {WEAK_LABEL_TYPES}, got {weak_type!r}')
        if not (isinstance(weak_label_suffix, str) and weak_label_suffix.endswith(
                ('.png', '.json')) and '/' not in weak_label_suffix):
            raise SamWsssError(f'weak_label_suffix={weak_label_suffix!r}: must end with .png '
                               "(label PNGs) or .json (points) and hold no '/', e.g. '.png' or "
                               "'_gtCoarse_labelTrainIds.png'")
        self.weak_type = weak_type
        self.weak_label_suffix = weak_label_suffix
        self.cls_labels = cls_labels
        self.background_index = (self.BACKGROUND_INDEX if background_index == 'default'
                                 else background_index)
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        num_classes = len(self.metainfo['classes'])
        check_background_index(self.background_index, num_classes,
                               f'{type(self).__name__}.background_index')
        img_dir = self.data_prefix.get('img_path', '')
        weak_dir = self.data_prefix.get('weak_label_path')
        if self.weak_type != 'image' and not weak_dir:
            raise SamWsssError(f"weak_type={self.weak_type!r} needs data_prefix=dict(..., "
                               'weak_label_path=<dir of weak labels>)')
        tags_by_id = (read_cls_labels(self.cls_labels, num_classes, self.background_index)
                      if self.cls_labels else None)
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
            return check_image_tags([c for _, _, c in points if c != self.background_index],
                                    num_classes, weak_path, self.background_index)
        label_path = weak_path or data_info.get('seg_map_path')
        if label_path is None:
            raise SamWsssError("weak_type='image' needs cls_labels= or data_prefix.seg_map_path "
                               'to derive image tags')
        if weak_path is None and self.reduce_zero_label:
            label = reduce_zero_label(read_label_png(label_path))
            check_label_values(label, num_classes, f'{label_path} (after reduce_zero_label)')
        else:
            label = read_label_png(label_path, num_classes=num_classes)
        return image_tags_from_label(label, num_classes, background_index=self.background_index)



@DATASETS.register_module()
class WeakVOCDataset(WeakLabelDataset):
    """PASCAL VOC 2012 (21 classes, VOC palette) with weak labels; see :class:`WeakLabelDataset`."""

    METAINFO = PascalVOCDataset.METAINFO

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class WeakCityscapesDataset(WeakLabelDataset):
    """Cityscapes (19 classes, no background) with weak labels; see :class:`WeakLabelDataset`.

    mmseg's layout: ``img_path='leftImg8bit/train'`` with ``<city>/<frame>_leftImg8bit.png``;
    ``seg_map_suffix`` defaults to ``_gtFine_labelTrainIds.png`` (the GT) and is ``'.png'`` for
    labels written by our tools (``<dir>/<city>/<frame>.png``). Every class may be a tag, road (0)
    included.
    """

    METAINFO = CityscapesDataset.METAINFO
    BACKGROUND_INDEX = None

    def __init__(self, img_suffix: str = '_leftImg8bit.png',
                 seg_map_suffix: str = '_gtFine_labelTrainIds.png', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class WeakADE20KDataset(WeakLabelDataset):
    """ADE20K (150 classes, no background) with weak labels; see :class:`WeakLabelDataset`.

    mmseg's ADE20K annotations hold 0 = "other" (not evaluated) and the classes as 1..150;
    ``ADE20KDataset`` loads them with ``reduce_zero_label=True`` (0 -> 255, ``v`` -> ``v - 1``),
    so the model predicts 0..149. Our weak labels and SeSAM labels hold those 150 reduced ids
    (255 = unlabelled), like Cityscapes' train ids: ``tools/make_weak_labels.py
    --reduce-zero-label`` writes them from the GT, ``tools/convert_weak_labels.py --format png
    --ignore-value 0 --value-map 1=0 2=1 ... 150=149`` from Scribbles4All-style PNGs holding raw
    ids. So this dataset reads its label files with ``reduce_zero_label=False`` (the default
    here); validation keeps mmseg's ``ADE20KDataset`` on the raw GT. With
    ``reduce_zero_label=True`` (the raw GT as ``seg_map_path``, e.g. for tags) the weak labels
    are still read as reduced ids.
    """

    METAINFO = ADE20KDataset.METAINFO
    BACKGROUND_INDEX = None

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
