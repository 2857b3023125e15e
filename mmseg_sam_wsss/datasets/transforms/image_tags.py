"""Image-level tags (the foreground classes present) for classification/CAM training."""
import json
import os.path as osp
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.cam import check_image_tags, image_tags_from_label
from ...errors import SamWsssError


def load_cls_labels(path: str, num_classes: int = 21) -> Dict[str, np.ndarray]:
    """Read a ``cls_labels`` file into ``{image id: (K,) int64 foreground class ids}``.

    Two formats are accepted:

    - ``.npy``: a pickled dict as in the CAM literature (PSA/IRN ``cls_labels.npy``), keys are
      image ids (``'2007_000032'``, or IRN's integer ``2007000032``), values multi-hot vectors
      over the ``num_classes - 1`` foreground classes (entry ``c - 1`` is class ``c``).
    - ``.json``: ``{"2007_000032": [1, 15], ...}``, values lists of foreground class ids.

    Args:
        path (str): The file.
        num_classes (int): Number of classes including background. Defaults to 21.

    Returns:
        dict: Image id to sorted ``(K,) int64`` class ids in ``1..num_classes-1``.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: cls_labels file not found; fix LoadImageTags.cls_labels_file')
    if path.endswith('.json'):
        try:
            with open(path) as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as error:
            raise SamWsssError(f'{path}: cannot read JSON ({error}); write '
                               '{"<id>": [class ids], ...}') from error
        if not isinstance(raw, dict):
            raise SamWsssError(f'{path}: expected a JSON object {{"<id>": [class ids]}}')
        return {str(key): check_image_tags(value, num_classes, f'{path} [{key}]')
                for key, value in raw.items()}
    if path.endswith('.npy'):
        try:
            raw = np.load(path, allow_pickle=True).item()
        except (OSError, ValueError) as error:
            raise SamWsssError(f'{path}: cannot read a pickled dict ({error}); save it with '
                               'np.save(path, {id: multi_hot})') from error
        tags = {}
        for key, multi_hot in raw.items():
            multi_hot = np.asarray(multi_hot).reshape(-1)
            if multi_hot.size != num_classes - 1:
                raise SamWsssError(f'{path} [{key}]: multi-hot vector of length {multi_hot.size},'
                                   f' expected {num_classes - 1} (foreground classes only)')
            image_id = str(key)
            if isinstance(key, (int, np.integer)) and len(image_id) == 10:
                image_id = f'{image_id[:4]}_{image_id[4:]}'  # IRN's integer-encoded VOC ids
            tags[image_id] = np.flatnonzero(multi_hot > 0).astype(np.int64) + 1
        return tags
    raise SamWsssError(f'{path}: unknown cls_labels format; use .npy (dict of multi-hot vectors) '
                       'or .json ({id: [class ids]})')


@TRANSFORMS.register_module()
class LoadImageTags(BaseTransform):
    """Set ``image_tags``: the foreground class ids present in the image (VOC protocol).

    Sources, in order: an ``image_tags`` already in ``results`` (a weak-label dataset may put it
    in ``data_info``) is validated and kept; else the ``cls_labels_file`` entry of the image
    (see :func:`load_cls_labels`); else the classes of ``gt_seg_map`` except background (0)
    and ignore (255). Tags describe the whole image, so place this transform after
    ``LoadAnnotations`` and BEFORE any crop or resize (a crop can remove classes), and add
    ``'image_tags'`` to ``PackSegInputs(meta_keys=...)`` so it reaches ``metainfo``.

    Required keys: ``gt_seg_map`` (when neither of the other sources applies), ``img_path``
    (with ``cls_labels_file``).

    Added keys: ``image_tags`` (``(K,) int64`` sorted class ids in ``1..num_classes-1``).

    Args:
        num_classes (int): Number of classes including background. Defaults to 21.
        cls_labels_file (str, optional): A ``.npy``/``.json`` tags file, keyed by image id
            (the ``img_path`` file name without extension). Defaults to None.
        ignore_index (int): Label value that is not a class. Defaults to 255.
    """

    def __init__(self, num_classes: int = 21, cls_labels_file: Optional[str] = None,
                 ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.cls_labels_file = cls_labels_file
        self.ignore_index = ignore_index
        self.cls_labels = (load_cls_labels(cls_labels_file, num_classes)
                           if cls_labels_file else None)

    def transform(self, results: Dict) -> Dict:
        if results.get('image_tags') is not None:
            results['image_tags'] = check_image_tags(
                results['image_tags'], self.num_classes, results.get('img_path', 'data_info'))
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
                results['gt_seg_map'], self.num_classes, self.ignore_index)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'cls_labels_file={self.cls_labels_file!r}, ignore_index={self.ignore_index})')
