"""Dataset metrics on hand-made labels with known answers, and a cross-check with mmseg's
IoUMetric math."""
import numpy as np
import pytest

from mmseg_sam_wsss.core.metrics import (ConfusionMatrix, confusion_counts, mean_iou,
                                         metrics_from_confusion, metrics_to_json)
from mmseg_sam_wsss.errors import SamWsssError

# Image 1: GT (1, 3) is ignored; prediction 255 at (1, 2) is "unlabelled" (a miss of class 1);
# prediction 2 at the ignored pixel counts nowhere.
GT_1 = np.array([[0, 0, 1, 1], [0, 0, 1, 255]], dtype=np.uint8)
PRED_1 = np.array([[0, 1, 1, 1], [0, 0, 255, 2]], dtype=np.uint8)
# Image 2: class 2 half found; class 0 predicted where GT has no class 0.
GT_2 = np.array([[2, 2]], dtype=np.uint8)
PRED_2 = np.array([[2, 0]], dtype=np.uint8)


def test_single_image_known_answers():
    metrics = metrics_from_confusion(confusion_counts(PRED_1, GT_1, 3))
    np.testing.assert_allclose(metrics['iou'][:2], [3 / 4, 2 / 4])
    assert np.isnan(metrics['iou'][2])  # neither GT nor prediction: left out of the mean
    np.testing.assert_allclose(metrics['precision'][:2], [1.0, 2 / 3])
    np.testing.assert_allclose(metrics['recall'][:2], [3 / 4, 2 / 3])
    assert metrics['miou'] == pytest.approx(0.625)
    assert metrics['pixel_accuracy'] == pytest.approx(5 / 7)
    assert metrics['coverage'] == pytest.approx(6 / 7)
    np.testing.assert_array_equal(metrics['gt_pixels'], [4, 3, 0])
    np.testing.assert_array_equal(metrics['pred_pixels'], [3, 3, 0])


def test_dataset_miou_sums_counts_before_dividing():
    confusion = ConfusionMatrix(3)
    confusion.update(PRED_1, GT_1)
    confusion.update(PRED_2, GT_2)
    metrics = confusion.summary()
    # class 0: TP 3, GT 4, pred 4 -> 3/5; class 1: 2/4; class 2: TP 1, GT 2, pred 1 -> 1/2.
    np.testing.assert_allclose(metrics['iou'], [3 / 5, 1 / 2, 1 / 2])
    assert metrics['miou'] == pytest.approx(1.6 / 3)
    assert mean_iou([PRED_1, PRED_2], [GT_1, GT_2], 3) == pytest.approx(1.6 / 3)
    # The per-image mean (SEPL script style) is a different number: (0.625 + 0.25) / 2.
    per_image = [metrics_from_confusion(confusion_counts(p, g, 3))['miou']
                 for p, g in ((PRED_1, GT_1), (PRED_2, GT_2))]
    assert np.mean(per_image) == pytest.approx(0.4375)
    assert confusion.num_images == 2


def test_merge_equals_one_accumulator():
    first, second, both = ConfusionMatrix(3), ConfusionMatrix(3), ConfusionMatrix(3)
    first.update(PRED_1, GT_1)
    second.update(PRED_2, GT_2)
    both.update(PRED_1, GT_1)
    both.update(PRED_2, GT_2)
    first.merge(second)
    np.testing.assert_array_equal(first.matrix, both.matrix)
    with pytest.raises(SamWsssError, match='same --num-classes'):
        first.merge(ConfusionMatrix(4))


def test_out_of_range_predictions_are_misses_in_the_last_column():
    gt = np.array([[1, 1, 1, 0]], dtype=np.uint8)
    pred = np.array([[1, 7, 255, 0]], dtype=np.uint8)
    counts = confusion_counts(pred, gt, 3)
    assert counts.shape == (3, 4)
    assert counts[1, 3] == 2 and counts[1, 1] == 1 and counts[0, 0] == 1
    metrics = metrics_from_confusion(counts)
    assert metrics['recall'][1] == pytest.approx(1 / 3)
    assert metrics['precision'][1] == pytest.approx(1.0)
    assert metrics['coverage'] == pytest.approx(0.5)


@pytest.mark.parametrize('pred,gt,message', [
    (np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), 'image size'),
    (np.zeros((2, 2), np.uint8), np.full((2, 2), 5, np.uint8), 'check --num-classes'),
    (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8), 'integer class ids'),
])
def test_bad_input_names_the_image(pred, gt, message):
    with pytest.raises(SamWsssError, match=f'img.png.*{message}'):
        ConfusionMatrix(3).update(pred, gt, name='img.png')


def test_json_has_no_nan():
    report = metrics_to_json(metrics_from_confusion(confusion_counts(PRED_1, GT_1, 3)),
                             ['bg', 'a', 'b'])
    assert report['miou'] == pytest.approx(0.625)
    assert report['per_class'][2] == {'class': 2, 'name': 'b', 'iou': None, 'precision': None,
                                      'recall': None, 'gt_pixels': 0, 'pred_pixels': 0}


def test_matches_mmseg_iou_metric_math():
    """Random labels with ignore pixels and out-of-range predictions: same IoU, precision,
    recall, aAcc and mIoU as mmseg's IoUMetric (nan classes left out of the mean)."""
    torch = pytest.importorskip('torch')
    iou_metric = pytest.importorskip('mmseg.evaluation.metrics.iou_metric')
    IoUMetric = iou_metric.IoUMetric
    rng = np.random.default_rng(0)
    num_classes = 6
    confusion = ConfusionMatrix(num_classes)
    totals = [torch.zeros(num_classes, dtype=torch.float64) for _ in range(4)]
    for _ in range(3):
        gt = rng.integers(0, 4, size=(17, 23)).astype(np.uint8)  # classes 4, 5 never in GT
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = rng.integers(0, 5, size=gt.shape).astype(np.uint8)  # class 5 never predicted
        pred[rng.random(gt.shape) < 0.1] = 255
        confusion.update(pred, gt)
        areas = IoUMetric.intersect_and_union(torch.from_numpy(pred.astype(np.int64)),
                                              torch.from_numpy(gt.astype(np.int64)),
                                              num_classes, 255)
        totals = [total + area.double() for total, area in zip(totals, areas)]
    reference = IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU', 'mFscore'])
    ours = confusion.summary()
    np.testing.assert_allclose(ours['iou'], reference['IoU'], equal_nan=True)
    np.testing.assert_allclose(ours['recall'], reference['Recall'], equal_nan=True)
    np.testing.assert_allclose(ours['precision'], reference['Precision'], equal_nan=True)
    assert ours['pixel_accuracy'] == pytest.approx(float(reference['aAcc']))
    assert ours['miou'] == pytest.approx(float(np.nanmean(reference['IoU'])))
    assert np.isnan(ours['iou'][5]) and ours['iou'][4] == 0.0
