"""Image-level tags (the classes present in an image, background excepted): from a label map, or
from a ``cls_labels`` file. The one reader of that format, shared by ``LoadImageTags`` and the
weak-label datasets. Pure NumPy; no mmseg.

Which class is background is a setting, ``background_index``: 0 for PASCAL VOC and COCO-81 (the
default), ``None`` for datasets without one (Cityscapes, ADE20K with ``reduce_zero_label``),
whose tags may then be any class id, 0 included.
"""
import json
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX
from .safe_pickle import load_npy

#: The background class of PASCAL VOC and COCO-81 (and of the CAM labels, which need one).
BACKGROUND = 0


def check_background_index(background_index: Optional[int], num_classes: int,
                           name: str = 'background_index') -> None:
    """Raise unless ``background_index`` is None or a class id below ``num_classes``."""
    if background_index is not None and not (
            isinstance(background_index, (int, np.integer)) and
            0 <= background_index < num_classes):
        raise SamWsssError(f'{name}={background_index!r}: must be a class id in '
                           f'0..{num_classes - 1}, or None for a dataset without background '
                           '(Cityscapes, ADE20K)')


def tag_classes(num_classes: int, background_index: Optional[int] = BACKGROUND) -> np.ndarray:
    """The class ids an image tag may name: every class but the background, ``(K,) int64``."""
    check_background_index(background_index, num_classes)
    class_ids = np.arange(num_classes, dtype=np.int64)
    return class_ids if background_index is None else class_ids[class_ids != background_index]


def image_tags_from_label(label: np.ndarray, num_classes: int,
                          ignore_index: int = IGNORE_INDEX,
                          background_index: Optional[int] = BACKGROUND) -> np.ndarray:
    """The image-level tags of a label map: the class ids present, background and ignore excepted.

    Args:
        label (np.ndarray): ``(H, W)`` integer class ids.
        num_classes (int): Number of classes, background included when there is one.
        ignore_index (int): Ignored value, not a tag. Defaults to 255.
        background_index (int, optional): The background class, not a tag; None when the
            dataset has none. Defaults to 0 (VOC, COCO-81).

    Returns:
        np.ndarray: ``(K,) int64`` sorted class ids.
    """
    check_background_index(background_index, num_classes)
    values = np.unique(np.asarray(label))
    values = values[values != ignore_index]
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise SamWsssError(f'label values {values.tolist()[:8]} are not class ids < '
                           f'{num_classes} nor {ignore_index}; check num_classes or the label')
    if background_index is not None:
        values = values[values != background_index]
    return values.astype(np.int64)


def check_image_tags(image_tags: Sequence[int], num_classes: int, name: str,
                     background_index: Optional[int] = BACKGROUND) -> np.ndarray:
    """Validate image tags and return them as sorted unique ``(K,) int64`` class ids.

    Args:
        image_tags (Sequence[int]): Class ids.
        num_classes (int): Number of classes, background included when there is one.
        name (str): Where the tags come from, for the error message.
        background_index (int, optional): The background class, which is no tag; None when the
            dataset has none. Defaults to 0.
    """
    check_background_index(background_index, num_classes)
    tags = np.unique(np.asarray(image_tags, dtype=np.int64).reshape(-1))
    bad = (tags < 0) | (tags >= num_classes)
    if background_index is not None:
        bad |= tags == background_index
    if bad.any():
        allowed = (f'foreground class ids in 0..{num_classes - 1} except the background '
                   f'{background_index}' if background_index is not None else
                   f'class ids in 0..{num_classes - 1}')
        raise SamWsssError(f'{name}: image tags {tags.tolist()} must be {allowed} (no 255)')
    return tags


def _tag_ids(value, num_classes: int, name: str,
             background_index: Optional[int]) -> np.ndarray:
    """A multi-hot vector over the taggable classes, or a list of class ids, as class ids."""
    try:
        value = np.asarray(value)
        if value.dtype.kind not in 'biuf':
            raise TypeError(f'holds {value.dtype} values')
        value = value.reshape(-1)
        if value.dtype.kind == 'f' and not np.array_equal(value, np.round(value)):
            raise ValueError('holds non-integer numbers')
    except (ValueError, TypeError, OverflowError) as error:
        raise SamWsssError(f'{name}: image tags must be a list of class ids or a multi-hot '
                           f'vector ({error})') from error
    taggable = tag_classes(num_classes, background_index)
    if len(value) == len(taggable) and set(np.unique(value).tolist()) <= {0, 1}:
        value = taggable[np.flatnonzero(value)]  # multi-hot: entry k is the k-th taggable class
    return check_image_tags(value, num_classes, name, background_index)


def _image_id(key) -> str:
    image_id = str(key)
    if isinstance(key, (int, np.integer)) and len(image_id) == 10:
        image_id = f'{image_id[:4]}_{image_id[4:]}'  # IRN's integer-encoded VOC ids
    return image_id


def read_cls_labels(path: str, num_classes: int,
                    background_index: Optional[int] = BACKGROUND) -> Dict[str, np.ndarray]:
    """Read a ``cls_labels`` file into ``{image id: (K,) int64 class ids}``.

    Accepted: ``.json`` ``{"2007_000032": [1, 15], ...}``, or ``.npy``, a pickled dict as in the
    CAM literature (PSA/IRN ``cls_labels.npy``; read by a restricted unpickler that admits only
    containers, strings, numbers and NumPy arrays, so the file cannot run code) whose keys are image ids (``'2007_000032'`` or
    IRN's integer ``2007000032``). Values are lists of class ids, or multi-hot vectors over the
    taggable classes in id order (with background 0: ``num_classes - 1`` entries, entry
    ``c - 1`` is class ``c``; without background: ``num_classes`` entries), in both.

    Args:
        path (str): The file.
        num_classes (int): Number of classes, background included when there is one.
        background_index (int, optional): The background class (no tag); None when the
            dataset has none. Defaults to 0.

    Returns:
        dict: Image id to sorted ``(K,) int64`` class ids.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: cls_labels file not found; fix cls_labels_file / '
                           'cls_labels in the config')
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as handle:
                raw = json.load(handle)
        elif path.endswith('.npy'):
            raw = load_npy(path).item()  # a pickled dict, never code (core/safe_pickle.py)
        else:
            raise SamWsssError(f'{path}: unknown cls_labels format; use .json ({{id: [class '
                               'ids]}}) or .npy (a dict of class ids or multi-hot vectors)')
    except (OSError, ValueError, AttributeError, RecursionError) as error:
        raise SamWsssError(f'{path}: cannot read cls_labels ({error}); expected a dict '
                           '{"<id>": [class ids], ...}') from error
    if not isinstance(raw, dict):
        raise SamWsssError(f'{path}: expected a dict {{"<id>": [class ids], ...}}, got '
                           f'{type(raw).__name__}')
    return {_image_id(key): _tag_ids(value, num_classes, f'{path} [{key}]', background_index)
            for key, value in raw.items()}
