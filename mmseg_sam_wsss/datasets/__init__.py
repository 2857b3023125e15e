"""Datasets and transforms registered into mmseg (thin wrappers over :mod:`..core`)."""
from . import transforms  # noqa: F401
from .coco import COCO81Dataset  # noqa: F401
from .voc_aug import VOCAugDataset  # noqa: F401
from .weak_dataset import (WeakADE20KDataset, WeakCityscapesDataset,  # noqa: F401
                           WeakLabelDataset, WeakVOCDataset)
