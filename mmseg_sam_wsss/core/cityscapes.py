"""Cityscapes in mmseg's layout: file names, ids, and label ids -> the 19 train ids.

mmseg reads ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` with
``gtFine/<split>/<city>/..._gtFine_labelTrainIds.png`` (made by mmseg's
``tools/dataset_converters/cityscapes.py``). An image's id here is ``<city>/<city>_<seq>_<frame>``,
so ``<dir>/<id><suffix>`` names any of its files. The official coarse annotations
(``gtCoarse/<split>/<city>/..._gtCoarse_labelIds.png``) hold the 34 label ids; the table of
``cityscapesscripts`` (``helpers/labels.py``) maps them to the 19 train ids (road 0 ...
bicycle 18) and 255. Cityscapes has no background class: every train id is a class.

Pure NumPy + cityscapesscripts (its label table); no mmseg.
"""
import os
import os.path as osp
from typing import List

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX

IMG_SUFFIX = '_leftImg8bit.png'
FINE_TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'
COARSE_LABEL_IDS_SUFFIX = '_gtCoarse_labelIds.png'
COARSE_TRAIN_IDS_SUFFIX = '_gtCoarse_labelTrainIds.png'
NUM_CLASSES = 19


def train_id_lookup() -> np.ndarray:
    """``(256,) int16``: label id -> train id (255 for ignored ids, -1 for no Cityscapes id)."""
    from cityscapesscripts.helpers.labels import labels

    lookup = np.full(256, -1, dtype=np.int16)
    lookup[IGNORE_INDEX] = IGNORE_INDEX
    for label in labels:
        if 0 <= label.id < 256:
            lookup[label.id] = label.trainId if 0 <= label.trainId < NUM_CLASSES \
                else IGNORE_INDEX
    return lookup


def label_ids_to_train_ids(label_ids: np.ndarray, name: str = 'label') -> np.ndarray:
    """Map a ``*_labelIds.png`` map (Cityscapes label ids 0..33) to train ids.

    Args:
        label_ids (np.ndarray): ``(H, W)`` integer label ids.
        name (str): The file, for error messages.

    Returns:
        np.ndarray: ``(H, W) uint8`` train ids 0..18, 255 = ignore (void, unlabelled and the
        classes Cityscapes does not evaluate).
    """
    label_ids = np.asarray(label_ids)
    if label_ids.ndim != 2:
        raise SamWsssError(f'{name}: a label must be (H, W), got {label_ids.shape}')
    lookup = train_id_lookup()
    train_ids = lookup[label_ids.astype(np.uint8)]
    if (train_ids < 0).any():
        values = sorted({int(value) for value in np.unique(label_ids[train_ids < 0])})
        raise SamWsssError(f'{name}: values {values[:8]} are not Cityscapes label ids (0..33); '
                           'is this a *_labelIds.png (not a colour or instance PNG)?')
    return train_ids.astype(np.uint8)


def cityscapes_ids(directory: str, suffix: str = IMG_SUFFIX) -> List[str]:
    """Sorted ids ``<city>/<frame>`` of the files ``directory/<city>/<frame><suffix>``."""
    if not osp.isdir(directory):
        raise SamWsssError(f'{directory}: directory not found; expected a Cityscapes split '
                           'folder such as leftImg8bit/train or gtCoarse/train')
    ids = []
    for city in sorted(os.listdir(directory)):
        city_dir = osp.join(directory, city)
        if osp.isdir(city_dir) and not city.startswith('.'):
            ids += [f'{city}/{name[:-len(suffix)]}' for name in sorted(os.listdir(city_dir))
                    if name.endswith(suffix) and not name.startswith('.')]
    if not ids:
        raise SamWsssError(f'{directory}: no <city>/*{suffix} files found; is this a '
                           'Cityscapes split folder?')
    return ids
