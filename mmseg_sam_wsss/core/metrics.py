"""Dataset-level segmentation metrics from a confusion matrix accumulated over images.

The numbers match mmseg's ``IoUMetric`` (``mmseg/evaluation/metrics/iou_metric.py``):

* Ground-truth pixels equal to ``ignore_index`` (255) are left out.
* A prediction outside ``[0, num_classes)`` (e.g. 255 for a pseudo-label pixel left
  unlabelled) on a valid ground-truth pixel counts as a miss of the ground-truth class: it adds
  to that class's ground-truth area (so it lowers recall and IoU) but is a prediction of no
  class (it changes no class's precision). mmseg gets the same from ``torch.histc``, which drops
  out-of-range values. Such pixels sit in an extra last column of the matrix, and
  :meth:`ConfusionMatrix.coverage` reports their share.
* Per-class IoU is ``TP / (TP + FP + FN)``; a class with neither ground truth nor prediction
  has IoU ``nan``, and mIoU is the mean over the other classes (``np.nanmean``), as in mmseg.
  A class that is predicted but absent from the ground truth counts with IoU 0.

This is dataset mIoU: true positives, predictions and ground truths are summed over all images
before dividing. The SEPL paper's evaluation script sums TP/P/T within each image and averages
per image, which is not dataset mIoU and gives different numbers.

Pure NumPy; no mmseg.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX


class ConfusionMatrix:
    """Pixel counts of (ground-truth class, predicted class) summed over images.

    Args:
        num_classes (int): Number of classes ``C``; class ids are ``0..C-1``.
        ignore_index (int): Ground-truth value left out of every count. Default: 255.

    Attributes:
        matrix (np.ndarray): ``(C, C + 1) int64``; ``matrix[g, p]`` counts valid ground-truth
            pixels of class ``g`` predicted as ``p``; the last column counts those whose
            prediction is outside ``[0, C)`` (unlabelled).
        num_images (int): Number of ``update`` calls.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 1:
            raise SamWsssError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
        self.num_images = 0

    def update(self, pred: np.ndarray, gt: np.ndarray, name: str = '<array>') -> np.ndarray:
        """Add one image's pixels.

        Args:
            pred (np.ndarray): ``(H, W)`` integer predicted class ids; values outside
                ``[0, C)`` count as unlabelled (see the module docstring).
            gt (np.ndarray): ``(H, W)`` integer ground-truth class ids, ``ignore_index`` left out.
            name (str): What to call the image in errors (a file name).

        Returns:
            np.ndarray: this image's own ``(C, C + 1) int64`` counts.
        """
        counts = confusion_counts(pred, gt, self.num_classes, self.ignore_index, name)
        self.matrix += counts
        self.num_images += 1
        return counts

    def merge(self, other: 'ConfusionMatrix') -> None:
        """Add another accumulator's counts (e.g. from another worker)."""
        if other.matrix.shape != self.matrix.shape:
            raise SamWsssError(f'cannot merge a {other.num_classes}-class matrix into a '
                               f'{self.num_classes}-class one; use the same --num-classes')
        self.matrix += other.matrix
        self.num_images += other.num_images

    def coverage(self) -> float:
        """Share of valid ground-truth pixels whose prediction is a class (not unlabelled)."""
        total = self.matrix.sum()
        return float(self.matrix[:, :-1].sum() / total) if total else float('nan')

    def summary(self) -> Dict[str, object]:
        """All metrics of :func:`metrics_from_confusion` for the counts so far."""
        return metrics_from_confusion(self.matrix)


def confusion_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                     ignore_index: int = IGNORE_INDEX, name: str = '<array>') -> np.ndarray:
    """One image's confusion counts, vectorised with ``np.bincount``.

    Args:
        pred (np.ndarray): ``(H, W)`` integer predicted class ids.
        gt (np.ndarray): ``(H, W)`` integer ground-truth class ids.
        num_classes (int): Number of classes ``C``.
        ignore_index (int): Ground-truth value left out. Default: 255.
        name (str): What to call the image in errors.

    Returns:
        np.ndarray: ``(C, C + 1) int64``, last column = prediction outside ``[0, C)``.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise SamWsssError(f'{name}: prediction is {pred.shape} but ground truth is {gt.shape}; '
                           'labels must have the image size')
    for array, what in ((pred, 'prediction'), (gt, 'ground truth')):
        if not np.issubdtype(array.dtype, np.integer):
            raise SamWsssError(f'{name}: {what} has dtype {array.dtype}; expected integer '
                               'class ids')
    gt = gt.ravel().astype(np.int64)
    pred = pred.ravel().astype(np.int64)
    valid = gt != ignore_index
    gt, pred = gt[valid], pred[valid]
    if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
        bad = np.unique(gt[(gt < 0) | (gt >= num_classes)])[:8].tolist()
        raise SamWsssError(f'{name}: ground-truth values {bad} are not class ids < '
                           f'{num_classes} nor {ignore_index} (ignore); check --num-classes')
    pred = np.where((pred < 0) | (pred >= num_classes), num_classes, pred)
    width = num_classes + 1
    counts = np.bincount(gt * width + pred, minlength=num_classes * width)
    return counts.reshape(num_classes, width).astype(np.int64)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with ``nan`` where the denominator is 0."""
    out = np.full(numerator.shape, np.nan, dtype=np.float64)
    nonzero = denominator > 0
    out[nonzero] = numerator[nonzero] / denominator[nonzero]
    return out


def metrics_from_confusion(matrix: np.ndarray) -> Dict[str, object]:
    """Per-class IoU, precision and recall, mIoU and pixel accuracy from confusion counts.

    Args:
        matrix (np.ndarray): ``(C, C + 1)`` counts as kept by :class:`ConfusionMatrix`
            (a square ``(C, C)`` matrix is also taken, meaning no unlabelled predictions).

    Returns:
        dict: ``iou``, ``precision``, ``recall`` (``(C,) float64``, ``nan`` where undefined:
        IoU when the class has neither ground truth nor prediction, precision when it is never
        predicted, recall when it has no ground truth), ``miou``, ``mprecision``, ``mrecall``
        (``np.nanmean`` of those, ``nan`` when all are ``nan``), ``pixel_accuracy`` (correct /
        valid ground-truth pixels, mmseg's ``aAcc``), ``coverage`` (share of valid pixels
        predicted as some class), and ``gt_pixels``/``pred_pixels`` (``(C,) int64``).
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    num_classes = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape[1] not in (num_classes, num_classes + 1):
        raise SamWsssError(f'confusion matrix must be (C, C) or (C, C + 1), got {matrix.shape}')
    true_positive = np.diagonal(matrix[:, :num_classes]).astype(np.float64)
    gt_pixels = matrix.sum(axis=1)
    pred_pixels = matrix[:, :num_classes].sum(axis=0)
    union = gt_pixels + pred_pixels - true_positive
    iou = _divide(true_positive, union)
    precision = _divide(true_positive, pred_pixels)
    recall = _divide(true_positive, gt_pixels)
    total = gt_pixels.sum()
    return {
        'iou': iou,
        'precision': precision,
        'recall': recall,
        'miou': _nanmean(iou),
        'mprecision': _nanmean(precision),
        'mrecall': _nanmean(recall),
        'pixel_accuracy': float(true_positive.sum() / total) if total else float('nan'),
        'coverage': float(matrix[:, :num_classes].sum() / total) if total else float('nan'),
        'gt_pixels': gt_pixels,
        'pred_pixels': pred_pixels,
    }


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


def mean_iou(pred_labels: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray],
             num_classes: int, ignore_index: int = IGNORE_INDEX) -> float:
    """Dataset mIoU of paired ``(H, W)`` label maps (a convenience over :class:`ConfusionMatrix`).

    Args:
        pred_labels (Sequence[np.ndarray]): ``(H, W)`` integer predictions, one per image.
        gt_labels (Sequence[np.ndarray]): ``(H, W)`` integer ground truths, same order.
        num_classes (int): Number of classes.
        ignore_index (int): Ground-truth value left out. Default: 255.

    Returns:
        float: mIoU in ``[0, 1]``.
    """
    if len(pred_labels) != len(gt_labels):
        raise SamWsssError(f'{len(pred_labels)} predictions but {len(gt_labels)} ground truths')
    confusion = ConfusionMatrix(num_classes, ignore_index)
    for index, (pred, gt) in enumerate(zip(pred_labels, gt_labels)):
        confusion.update(pred, gt, name=f'image {index}')
    return confusion.summary()['miou']


def metrics_to_json(metrics: Dict[str, object], class_names: Optional[List[str]] = None
                    ) -> Dict[str, object]:
    """``metrics_from_confusion`` output as JSON-ready values (``nan`` -> ``None``).

    Args:
        metrics (dict): The output of :func:`metrics_from_confusion`.
        class_names (List[str], optional): Names for the per-class entries (default: indices).

    Returns:
        dict: scalars as floats and a ``per_class`` list of dicts with ``class``, ``name``,
        ``iou``, ``precision``, ``recall``, ``gt_pixels``, ``pred_pixels``.
    """
    num_classes = len(metrics['iou'])
    names = list(class_names) if class_names is not None else [str(i) for i in
                                                               range(num_classes)]

    def clean(value) -> Optional[float]:
        value = float(value)
        return None if np.isnan(value) else value

    per_class = [{
        'class': index, 'name': names[index],
        'iou': clean(metrics['iou'][index]),
        'precision': clean(metrics['precision'][index]),
        'recall': clean(metrics['recall'][index]),
        'gt_pixels': int(metrics['gt_pixels'][index]),
        'pred_pixels': int(metrics['pred_pixels'][index]),
    } for index in range(num_classes)]
    scalars = {key: clean(metrics[key]) for key in
               ('miou', 'mprecision', 'mrecall', 'pixel_accuracy', 'coverage')}
    return dict(scalars, per_class=per_class)
