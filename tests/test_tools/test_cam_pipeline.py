"""CAM stage end to end on voc_mini: tools/train.py, tools/test.py, tools/generate_cams.py.

The config is ``configs/smoke/cam_r50_voc_smoke.py`` (``configs/sam_wsss/cam_r50_voc.py`` with a
half-width ResNet-18, no weights, 128 px crops), trained 4 iterations: the numbers test the
wiring, not CAM quality. The pseudo-labels must be valid label PNGs of the image's tags, the
two tools must agree on them, and a rerun must skip them.
"""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from helpers import run_tool

from mmseg_sam_wsss.core.cam import cams_to_pseudo_label
from mmseg_sam_wsss.core.io import read_ids, read_label_png
from mmseg_sam_wsss.core.metrics import mean_iou
from mmseg_sam_wsss.utils.mm_tools import schedule_options

CONFIG = 'configs/smoke/cam_r50_voc_smoke.py'
NUM_IDS = 3
SCALES = ('0.5', '1.0')


@pytest.mark.slow
def test_train_test_and_generate_cams(repo_root, voc_mini, voc_options, tmp_path):
    work_dir = str(tmp_path / 'work')
    # The CAM config tests on the train split: its first NUM_IDS images here.
    options = voc_options(voc_mini, val_images=NUM_IDS)
    trained = run_tool(repo_root, ['tools/train.py', CONFIG, '--work-dir', work_dir,
                                   '--cfg-options'] + options
                       + schedule_options(4, log_interval=1))
    log = trained.stdout + trained.stderr
    losses = [float(value) for value in re.findall(r'decode\.loss_cls: ([0-9.]+)', log)]
    assert len(losses) == 4 and all(np.isfinite(losses)), log[-3000:]
    assert re.search(r'decode\.acc_cls: [0-9.]+', log)
    checkpoint = osp.join(work_dir, 'iter_4.pth')
    assert osp.isfile(checkpoint)

    # tools/test.py with generate_cams.py's scales and flip: the same CAM pseudo-labels.
    tested = run_tool(repo_root, ['tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir,
                                  '--cfg-options'] + options
                      + [f'model.test_cfg.scales=({",".join(SCALES)})',
                         'model.test_cfg.flip=True'])
    log = tested.stdout + tested.stderr
    match = re.search(r'Iter\(test\) \[%d/%d\].*mIoU: ([0-9.]+)' % (NUM_IDS, NUM_IDS), log)
    assert match, log[-3000:]

    train_ids = read_ids(osp.join(voc_mini, 'ImageSets/Segmentation/train.txt'))[:NUM_IDS]
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(train_ids) + '\n')
    out_dir = tmp_path / 'cams'
    generate = ['tools/generate_cams.py', CONFIG, checkpoint, '--out', str(out_dir), '--ids',
                str(ids_file), '--scales', *SCALES, '--cfg-options'] + options
    log = run_tool(repo_root, generate).stdout
    assert f'{NUM_IDS} written, 0 already done' in log, log
    gts, pseudo_labels = [], []
    for image_id in train_ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'))
        pseudo_label = read_label_png(str(out_dir / 'pseudo_labels' / f'{image_id}.png'),
                                      num_classes=21, shape=gt.shape)
        gts.append(gt)
        pseudo_labels.append(pseudo_label)
        tags = sorted(set(np.unique(gt).tolist()) - {0, 255})
        assert set(np.unique(pseudo_label).tolist()) <= {0, *tags}
        with np.load(str(out_dir / 'cams' / f'{image_id}.npz')) as stored:
            assert stored['class_ids'].tolist() == tags
            assert stored['cams'].dtype == np.float16
            assert stored['cams'].shape == (len(tags), ) + gt.shape
            assert 0.0 <= float(stored['cams'].min()) and float(stored['cams'].max()) <= 1.0
            # The PNG is the bg_thresh pseudo-label of the stored CAMs.
            expected = cams_to_pseudo_label(torch.from_numpy(stored['cams'].astype(np.float32)),
                                            stored['class_ids'], bg_thresh=0.15).numpy()
            assert (expected == pseudo_label).mean() > 0.99
    # tools/test.py scored exactly these pseudo-labels.
    assert float(match.group(1)) == pytest.approx(100 * mean_iou(pseudo_labels, gts, 21),
                                                  abs=0.006)
    assert len(glob.glob(str(out_dir / '*' / '.tmp-*'))) == 0
    # A rerun skips every finished id.
    assert f'0 written, {NUM_IDS} already done' in run_tool(repo_root, generate).stdout


def test_generate_cams_missing_checkpoint_is_one_line(repo_root, tmp_path):
    result = run_tool(repo_root, ['tools/generate_cams.py', CONFIG, str(tmp_path / 'none.pth'),
                                  '--out', str(tmp_path / 'out')], check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0, result.stderr
    assert 'none.pth: checkpoint not found' in result.stderr
