"""Datasets and transforms registered into mmseg (thin wrappers over :mod:`..core`)."""
from . import transforms  # noqa: F401
from .weak_dataset import WeakLabelDataset, WeakVOCDataset  # noqa: F401
