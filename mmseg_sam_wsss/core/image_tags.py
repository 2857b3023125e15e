"""Image-level tags (the foreground classes present in an image): from a label map, or from a
``cls_labels`` file. The one reader of that format, shared by ``LoadImageTags`` and the weak-label
datasets. Pure NumPy; no mmseg.
"""
import json
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX

BACKGROUND = 0


def image_tags_from_label(label: np.ndarray, num_classes: int,
                          ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """The image-level tags of a label map: foreground class ids present (VOC protocol).

    Args:
        label (np.ndarray): ``(H, W)`` integer class ids.
        num_classes (int): Number of classes including background.
        ignore_index (int): Ignored value, not a tag. Defaults to 255.

    Returns:
        np.ndarray: ``(K,) int64`` sorted class ids in ``1..num_classes-1``.
    """
    values = np.unique(np.asarray(label))
    values = values[(values != BACKGROUND) & (values != ignore_index)]
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise SamWsssError(f'label values {values.tolist()[:8]} are not class ids < '
                           f'{num_classes} nor {ignore_index}; check num_classes or the label')
    return values.astype(np.int64)


def check_image_tags(image_tags: Sequence[int], num_classes: int, name: str) -> np.ndarray:
    """Validate image tags and return them as sorted unique ``(K,) int64`` foreground class ids."""
    tags = np.unique(np.asarray(image_tags, dtype=np.int64).reshape(-1))
    if tags.size and (tags.min() < 1 or tags.max() >= num_classes):
        raise SamWsssError(f'{name}: image tags {tags.tolist()} must be foreground class ids in '
                           f'1..{num_classes - 1} (no background 0, no 255)')
    return tags


def _tag_ids(value, num_classes: int, name: str) -> np.ndarray:
    """A multi-hot vector over the foreground classes, or a list of class ids, as class ids."""
    value = np.asarray(value).reshape(-1)
    if len(value) == num_classes - 1 and set(np.unique(value).tolist()) <= {0, 1}:
        value = np.flatnonzero(value) + 1  # multi-hot: entry c - 1 is class c
    return check_image_tags(value, num_classes, name)


def _image_id(key) -> str:
    image_id = str(key)
    if isinstance(key, (int, np.integer)) and len(image_id) == 10:
        image_id = f'{image_id[:4]}_{image_id[4:]}'  # IRN's integer-encoded VOC ids
    return image_id


def read_cls_labels(path: str, num_classes: int) -> Dict[str, np.ndarray]:
    """Read a ``cls_labels`` file into ``{image id: (K,) int64 foreground class ids}``.

    Accepted: ``.json`` ``{"2007_000032": [1, 15], ...}``, or ``.npy``, a pickled dict as in the
    CAM literature (PSA/IRN ``cls_labels.npy``) whose keys are image ids (``'2007_000032'`` or
    IRN's integer ``2007000032``). Values are lists of foreground class ids or multi-hot vectors
    over the ``num_classes - 1`` foreground classes (entry ``c - 1`` is class ``c``), in both.

    Args:
        path (str): The file.
        num_classes (int): Number of classes including background.

    Returns:
        dict: Image id to sorted ``(K,) int64`` class ids in ``1..num_classes-1``.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: cls_labels file not found; fix cls_labels_file / '
                           'cls_labels in the config')
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as handle:
                raw = json.load(handle)
        elif path.endswith('.npy'):
            raw = np.load(path, allow_pickle=True).item()
        else:
            raise SamWsssError(f'{path}: unknown cls_labels format; use .json ({{id: [class '
                               'ids]}}) or .npy (a dict of class ids or multi-hot vectors)')
    except (OSError, ValueError, AttributeError) as error:
        raise SamWsssError(f'{path}: cannot read cls_labels ({error}); expected a dict '
                           '{"<id>": [class ids], ...}') from error
    if not isinstance(raw, dict):
        raise SamWsssError(f'{path}: expected a dict {{"<id>": [class ids], ...}}, got '
                           f'{type(raw).__name__}')
    return {_image_id(key): _tag_ids(value, num_classes, f'{path} [{key}]')
            for key, value in raw.items()}
