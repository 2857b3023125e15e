"""Image-level tags (the classes present, background excepted) for classification/CAM training."""
import os.path as osp
from typing import Dict, Optional

from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.image_tags import (check_background_index, check_image_tags,
                                image_tags_from_label, read_cls_labels)
from ...errors import SamWsssError


@TRANSFORMS.register_module()
class LoadImageTags(BaseTransform):
    """Set ``image_tags``: the class ids present in the image, background excepted (VOC protocol).

    Sources, in order: an ``image_tags`` already in ``results`` (a weak-label dataset may put it
    in ``data_info``) is validated and kept; else the ``cls_labels_file`` entry of the image
    (see :func:`~mmseg_sam_wsss.core.image_tags.read_cls_labels`); else the classes of
    ``gt_seg_map`` except ``background_index`` and ignore (255). Tags describe the whole image,
    so place this transform after ``LoadAnnotations`` and BEFORE any crop or resize (a crop can
    remove classes), and add ``'image_tags'`` to ``PackSegInputs(meta_keys=...)`` so it reaches
    ``metainfo``.

    Required keys: ``gt_seg_map`` (when neither of the other sources applies), ``img_path``
    (with ``cls_labels_file``).

    Added keys: ``image_tags`` (``(K,) int64`` sorted class ids, never ``background_index``).

    Args:
        num_classes (int): Number of classes, background included when there is one.
            Defaults to 21.
        cls_labels_file (str, optional): A ``.npy``/``.json`` tags file, keyed by image id
            (the ``img_path`` file name without extension). Defaults to None.
        ignore_index (int): Label value that is not a class. Defaults to 255.
        background_index (int, optional): The background class, never a tag; None for a dataset
            without one (Cityscapes, ADE20K). Defaults to 0 (VOC, COCO-81).
    """

    def __init__(self, num_classes: int = 21, cls_labels_file: Optional[str] = None,
                 ignore_index: int = 255, background_index: Optional[int] = 0) -> None:
        check_background_index(background_index, num_classes, 'LoadImageTags.background_index')
        self.num_classes = num_classes
        self.cls_labels_file = cls_labels_file
        self.ignore_index = ignore_index
        self.background_index = background_index
        self.cls_labels = (read_cls_labels(cls_labels_file, num_classes, background_index)
                           if cls_labels_file else None)

    def transform(self, results: Dict) -> Dict:
        if results.get('image_tags') is not None:
            results['image_tags'] = check_image_tags(
                results['image_tags'], self.num_classes, results.get('img_path', 'data_info'),
                self.background_index)
        elif self.cls_labels is not None:
            image_id = osp.splitext(osp.basename(results['img_path']))[0]
            if image_id not in self.cls_labels:
                raise SamWsssError(f'{self.cls_labels_file}: no tags for image {image_id!r}; add '
                                   'it or remove cls_labels_file to derive tags from the labels')
            results['image_tags'] = self.cls_labels[image_id].copy()
        else:
            if 'gt_seg_map' not in results:
                raise SamWsssError('LoadImageTags needs gt_seg_map (put LoadAnnotations before '
                                   'it) or a cls_labels_file')
            results['image_tags'] = image_tags_from_label(
                results['gt_seg_map'], self.num_classes, self.ignore_index,
                self.background_index)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'cls_labels_file={self.cls_labels_file!r}, ignore_index={self.ignore_index}, '
                f'background_index={self.background_index})')
