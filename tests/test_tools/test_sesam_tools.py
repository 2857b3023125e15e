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

from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
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
    # Round 2: the real TransCAM labels stand in for a trained model's predictions. They carry
    # no confidence, so they are refused unless --trust-argmax says to use every pixel.
    pred_dir = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    with pytest.raises(SamWsssError, match='--trust-argmax'):
        sesam_tool.main(common + ['--round', '2', '--pred-dir', pred_dir])
    assert sesam_tool.main(common + ['--round', '2', '--pred-dir', pred_dir,
                                     '--trust-argmax']) == 0
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
    assert meta['rounds']['2']['trust_argmax'] is True
    with pytest.raises(SamWsssError, match='already holds'):
        sesam_tool.main(common[:10] + ['--source', 'oracle', '--gt-dir', gt_dir])
    with pytest.raises(SystemExit):
        sesam_tool.main(common + ['--round', '3'])  # round > 1 without --pred-dir


def _refinement_scene(root):
    """A 48x64 GT with objects A (class 1), B (class 2), C (class 3) on background, a weak
    label that marks only a dot on A and a background patch, and a model prediction that finds
    all three objects (B a little too small) with confidence 0.99 on A and B, 0.6 on C and 0.5
    on the background. Written as GT, weak and prediction PNG folders (+ a .npy softmax)."""
    gt_label = np.zeros((48, 64), np.uint8)
    gt_label[6:18, 6:18] = 1
    gt_label[28:42, 36:52] = 2
    gt_label[6:18, 40:56] = 3
    weak_label = np.full(gt_label.shape, 255, np.uint8)
    weak_label[11:14, 11:14] = 1
    weak_label[40:46, 2:8] = 0
    class_map = gt_label.copy()
    class_map[28:42, 36:52] = 0
    class_map[30:40, 38:50] = 2  # the prediction misses B's rim; the answerer finds it
    confidence = np.full(gt_label.shape, 0.5)
    confidence[class_map == 1] = confidence[class_map == 2] = 0.99
    confidence[class_map == 3] = 0.6
    for name, label in (('gt', gt_label), ('weak', weak_label), ('pred', class_map)):
        write_label_png(str(root / name / 'scene.png'), label)
    write_label_png(str(root / 'pred' / 'scene_conf.png'),
                    np.round(255 * confidence).astype(np.uint8), palette=None)
    write_label_png(str(root / 'argmax' / 'scene.png'), class_map)
    probabilities = np.full((4, ) + gt_label.shape, 0.0)
    for class_id in range(4):
        probabilities[class_id] = np.where(class_map == class_id, confidence,
                                           (1 - confidence) / 3)
    os.makedirs(root / 'npy')
    np.save(root / 'npy' / 'scene.npy', probabilities)
    return gt_label


def test_round_two_uses_exactly_the_confident_predictions(repo_root, tmp_path):
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    gt_label = _refinement_scene(tmp_path)
    common = ['--img-dir', str(tmp_path), '--weak-dir', str(tmp_path / 'weak'), '--source',
              'oracle', '--gt-dir', str(tmp_path / 'gt')]

    def run(out: str, *extra: str) -> np.ndarray:
        assert sesam_tool.main(common + ['--out', str(tmp_path / out)] + list(extra)) == 0
        round_index = extra[extra.index('--round') + 1]
        return read_label_png(str(tmp_path / out / f'round_{round_index}' / 'scene.png'))

    round_1 = run('sesam', '--round', '1')
    assert (round_1[gt_label == 1] == 1).all() and (round_1[gt_label == 0] == 0).all()
    assert (round_1[gt_label >= 2] == 255).all()  # the weak label shows neither B nor C
    pred = ['--round', '2', '--pred-dir', str(tmp_path / 'pred')]
    round_2 = run('sesam', *pred, '--conf-thresh', '0.9')
    # Round 2 adds B, prompted from the confident prediction and painted with the answerer's
    # whole object, and changes nothing else: C (confidence 0.6 < 0.9) is not used.
    np.testing.assert_array_equal(round_2 != round_1, gt_label == 2)
    assert (round_2[gt_label == 2] == 2).all() and (round_2[gt_label == 3] == 255).all()
    # At 0.5, C's pixels pass the threshold too and C is painted.
    round_2_low = run('sesam_low', *pred, '--conf-thresh', '0.5')
    np.testing.assert_array_equal(round_2_low != round_1, gt_label >= 2)
    np.testing.assert_array_equal(round_2_low[gt_label >= 2], gt_label[gt_label >= 2])
    # (C, H, W) softmax .npy predictions give the same labels at the same threshold.
    round_2_npy = run('sesam_npy', '--round', '2', '--pred-dir', str(tmp_path / 'npy'),
                      '--conf-thresh', '0.9')
    np.testing.assert_array_equal(round_2_npy, round_2)
    # Arg-max-only PNGs are refused, or with --trust-argmax used whole (C included).
    argmax = ['--round', '2', '--pred-dir', str(tmp_path / 'argmax')]
    with pytest.raises(SamWsssError, match='arg-max-only.*--trust-argmax'):
        sesam_tool.main(common + ['--out', str(tmp_path / 'sesam_argmax')] + argmax)
    np.testing.assert_array_equal(run('sesam_argmax', *argmax, '--trust-argmax'), round_2_low)
    with open(tmp_path / 'sesam' / 'sesam_meta.json') as handle:
        rounds = json.load(handle)['rounds']
    assert rounds['2']['conf_thresh'] == 0.9 and rounds['2']['trust_argmax'] is False


def test_confident_label_keeps_every_pixel_at_or_above_the_threshold():
    from mmseg_sam_wsss.core.sesam_select import confident_label
    class_map = np.array([[1, 2, 3, 4]], np.uint8)
    probability = np.array([[0.95, 0.9499, 0.94, 1.0]])
    # predict_labels.py's <id>_conf.png: round(255 * p); p >= 0.95 always survives rounding,
    # p within 1/255 below it may too (0.9499 -> 242), p = 0.94 (240) does not.
    stored = np.round(255 * probability).astype(np.uint8)
    np.testing.assert_array_equal(confident_label(class_map, 0.95, confidence=stored),
                                  [[1, 2, 255, 4]])
    np.testing.assert_array_equal(confident_label(class_map, 0.95, confidence=probability),
                                  [[1, 255, 255, 4]])
    np.testing.assert_array_equal(class_map, [[1, 2, 3, 4]])  # the input stays intact
    with pytest.raises(SamWsssError, match='both be'):
        confident_label(class_map, 0.95, confidence=stored[0])
    with pytest.raises(SamWsssError, match=r'\[0, 1\]'):
        confident_label(class_map, 95, confidence=stored)


def test_pred_dir_outside_a_refinement_round_is_an_error(repo_root, tmp_path):
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    base = ['--img-dir', str(tmp_path), '--weak-dir', str(tmp_path), '--out', str(tmp_path),
            '--source', 'oracle', '--gt-dir', str(tmp_path), '--pred-dir', str(tmp_path)]
    for extra in ([], ['--round', '1']):  # predictions would be silently ignored
        with pytest.raises(SystemExit):
            sesam_tool.parse_args(base + extra)
    with pytest.raises(SystemExit):
        sesam_tool.parse_args(base + ['--round', '2', '--conf-thresh', '95'])


def test_imperfect_oracle_source_and_changed_settings_are_refused(repo_root, voc_mini, tmp_path):
    """--source oracle-imperfect (GT objects with simulated SAM errors, not SAM) sits below the
    perfect oracle; a rerun into the same --out with another setting is refused, not mixed."""
    make_tool = load_tool(repo_root, 'make_weak_labels')
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    ids_file = _write_ids(tmp_path, voc_mini, 6)
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    weak_dir = str(tmp_path / 'weak')
    assert make_tool.main(['--gt', gt_dir, '--type', 'scribble', '--out', weak_dir,
                           '--ids', ids_file]) == 0
    common = ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--weak-dir', weak_dir,
              '--ids', ids_file, '--gt-dir', gt_dir]
    perfect, imperfect = str(tmp_path / 'perfect'), str(tmp_path / 'imperfect')
    assert sesam_tool.main(common + ['--out', perfect, '--source', 'oracle']) == 0
    assert sesam_tool.main(common + ['--out', imperfect, '--source', 'oracle-imperfect']) == 0
    ids = read_ids(ids_file)
    perfect_miou, imperfect_miou = dir_miou(perfect, gt_dir, ids), dir_miou(imperfect, gt_dir, ids)
    assert dir_miou(weak_dir, gt_dir, ids) < imperfect_miou < perfect_miou - 0.02
    with open(osp.join(imperfect, 'sesam_meta.json')) as handle:
        assert 'simulated SAM errors, not SAM' in json.load(handle)['mask_source']
    with pytest.raises(SamWsssError, match=r'penalty: 1\.0 -> 2\.0.*--overwrite'):
        sesam_tool.main(common + ['--out', imperfect, '--source', 'oracle-imperfect',
                                  '--penalty', '2'])
    assert sesam_tool.main(common + ['--out', imperfect, '--source', 'oracle-imperfect',
                                     '--penalty', '2', '--overwrite']) == 0
