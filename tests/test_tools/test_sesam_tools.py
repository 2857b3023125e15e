"""make_weak_labels.py and sesam_pseudo_labels.py on real voc_mini images.

The GT-oracle runs measure the SeSAM prompt/selection/painting steps (an upper bound, not SAM);
the random-init SAM run checks the wiring of the SAM path and of two rounds (its labels are
noise, not SAM results).
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool

from mmseg_sam_wsss.core.io import read_ids, read_label_png
from mmseg_sam_wsss.core.metrics import mean_iou
from mmseg_sam_wsss.errors import SamWsssError

NUM_CLASSES = 21


def _write_ids(tmp_path, voc_mini: str, count: int) -> str:
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'))[:count]
    path = tmp_path / f'ids_{count}.txt'
    path.write_text('\n'.join(ids) + '\n')
    return str(path)


def dir_miou(pred_dir: str, gt_dir: str, ids) -> float:
    """Dataset mIoU of the label PNGs of ``pred_dir`` against ``gt_dir`` (core.metrics)."""
    gts = [read_label_png(osp.join(gt_dir, i + '.png'), num_classes=NUM_CLASSES) for i in ids]
    preds = [read_label_png(osp.join(pred_dir, i + '.png'), shape=gt.shape)
             for i, gt in zip(ids, gts)]
    return mean_iou(preds, gts, NUM_CLASSES)


def test_make_weak_labels_tool(repo_root, voc_mini, tmp_path):
    tool = load_tool(repo_root, 'make_weak_labels')
    ids_file = _write_ids(tmp_path, voc_mini, 3)
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    out = str(tmp_path / 'point')
    argv = ['--gt', gt_dir, '--type', 'point', '--out', out, '--ids', ids_file, '--points-json']
    assert tool.main(argv) == 0
    for image_id in read_ids(ids_file):
        gt_label = read_label_png(osp.join(gt_dir, image_id + '.png'))
        weak_label = read_label_png(osp.join(out, image_id + '.png'), shape=gt_label.shape)
        labelled = weak_label != 255
        assert labelled.any() and (weak_label[labelled] == gt_label[labelled]).all()
        with open(osp.join(out, image_id + '.json')) as handle:
            points = json.load(handle)['points']
        assert all(gt_label[y, x] == c for x, y, c in points)
    with open(osp.join(out, 'weak_meta.json')) as handle:
        assert json.load(handle)['options']['radius'] == 2
    stamp = os.stat(osp.join(out, read_ids(ids_file)[0] + '.png')).st_mtime_ns
    assert tool.main(argv) == 0  # rerun: finished outputs are skipped
    assert os.stat(osp.join(out, read_ids(ids_file)[0] + '.png')).st_mtime_ns == stamp
    with pytest.raises(SamWsssError, match='not found'):
        tool.main(['--gt', str(tmp_path / 'none'), '--type', 'coarse', '--out', out])


@pytest.mark.parametrize('weak_type', ['point', 'scribble'])
def test_oracle_sesam_labels_reach_90_miou(repo_root, voc_mini, tmp_path, weak_type):
    make_tool = load_tool(repo_root, 'make_weak_labels')
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    ids_file = _write_ids(tmp_path, voc_mini, 20)
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    weak_dir, out = str(tmp_path / 'weak'), str(tmp_path / 'sesam')
    assert make_tool.main(['--gt', gt_dir, '--type', weak_type, '--out', weak_dir,
                           '--ids', ids_file]) == 0
    assert sesam_tool.main(['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--weak-dir', weak_dir,
                            '--out', out, '--ids', ids_file, '--source', 'oracle',
                            '--gt-dir', gt_dir]) == 0
    ids = read_ids(ids_file)
    weak_miou, sesam_miou = dir_miou(weak_dir, gt_dir, ids), dir_miou(out, gt_dir, ids)
    print(f'{weak_type}: weak labels alone {weak_miou:.4f} mIoU, SeSAM with GT oracle '
          f'{sesam_miou:.4f} mIoU on {len(ids)} voc_mini train ids')
    assert sesam_miou >= 0.90 > weak_miou
    with open(osp.join(out, 'sesam_meta.json')) as handle:
        meta = json.load(handle)
    assert meta['source'] == 'oracle' and 'not SAM' in meta['mask_source']


def test_random_sam_two_round_flow(repo_root, voc_mini, tmp_path):
    make_tool = load_tool(repo_root, 'make_weak_labels')
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    ids_file = _write_ids(tmp_path, voc_mini, 2)
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    weak_dir, out = str(tmp_path / 'weak'), str(tmp_path / 'sesam')
    assert make_tool.main(['--gt', gt_dir, '--type', 'scribble', '--out', weak_dir,
                           '--ids', ids_file]) == 0
    common = ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--weak-dir', weak_dir,
              '--out', out, '--ids', ids_file, '--source', 'sam', '--model-type', 'tiny',
              '--random-init-for-tests', '--prompt-batch-size', '16', '--min-area', '200']
    assert sesam_tool.main(common + ['--round', '1']) == 0
    # Round 2: the real TransCAM labels stand in for a trained model's confident predictions.
    pred_dir = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    assert sesam_tool.main(common + ['--round', '2', '--pred-dir', pred_dir]) == 0
    for image_id in read_ids(ids_file):
        weak_label = read_label_png(osp.join(weak_dir, image_id + '.png'))
        for round_index in (1, 2):
            pseudo_label = read_label_png(
                osp.join(out, f'round_{round_index}', image_id + '.png'),
                num_classes=NUM_CLASSES, shape=weak_label.shape)
            labelled = weak_label != 255
            np.testing.assert_array_equal(pseudo_label[labelled], weak_label[labelled])
    with open(osp.join(out, 'sesam_meta.json')) as handle:
        meta = json.load(handle)
    assert 'not SAM' in meta['mask_source'] and sorted(meta['rounds']) == ['1', '2']
    assert meta['rounds']['2']['pred_dir'] == osp.abspath(pred_dir)
    with pytest.raises(SamWsssError, match='already holds'):
        sesam_tool.main(common[:10] + ['--source', 'oracle', '--gt-dir', gt_dir])
    with pytest.raises(SystemExit):
        sesam_tool.main(common + ['--round', '3'])  # round > 1 without --pred-dir
