"""tools/train.py, --resume and tools/test.py on voc_mini with the smoke version of the headline
config, ``configs/smoke/deeplabv3_voc_smoke.py`` (``configs/sam_wsss/deeplabv3_voc.py`` with a
half-width ResNet-18 and 128 px crops): TransCAM pseudo-labels enhanced online by LoadSAMMasks +
SAMEnhancePseudoLabel. Its masks come from the GT *oracle* (connected components of the GT), not
from SAM.
"""
import glob
import os.path as osp
import re

import pytest
from helpers import run_tool

from mmseg_sam_wsss.core.io import read_ids, read_label_png
from mmseg_sam_wsss.core.mask_store import MaskStore
from mmseg_sam_wsss.core.metrics import mean_iou
from mmseg_sam_wsss.simulation.mask_oracles import OracleMasks
from mmseg_sam_wsss.utils.mm_tools import schedule_options

CONFIG = 'configs/smoke/deeplabv3_voc_smoke.py'
BASELINE = 'configs/baselines/deeplabv3_r50_voc.py'
NUM_IDS = 8
VAL_IMAGES = 4


@pytest.fixture(scope='module')
def oracle_inputs(voc_mini, tmp_path_factory):
    """An id file of the first train ids and an oracle mask store for them (not SAM)."""
    root = tmp_path_factory.mktemp('headline')
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:NUM_IDS]
    id_file = root / 'train_subset.txt'
    id_file.write_text('\n'.join(ids) + '\n')
    oracle = OracleMasks()
    store = MaskStore(str(root / 'masks'), create=True, source=oracle.source,
                      settings=oracle.settings)
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, oracle.generate(gt_label, image_id))
    return str(id_file), store.root


def headline_options(voc_mini, voc_options, oracle_inputs, max_iters):
    id_file, mask_root = oracle_inputs
    return voc_options(voc_mini, VAL_IMAGES) + schedule_options(
        max_iters, checkpoint_interval=2, log_interval=1) + [
        'train_dataloader.dataset.data_prefix.seg_map_path=pseudo_labels/transcam',
        f'train_dataloader.dataset.ann_file={id_file}',
        f'train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root={mask_root}']


@pytest.mark.slow
def test_train_resume_and_test(repo_root, voc_mini, voc_options, oracle_inputs, tmp_path):
    work_dir = str(tmp_path / 'work')
    # Train 2 iterations (checkpoint at 2), then resume to 4: the second run must start at iter 2.
    # (pipeline.LoadSAMMasks.mask_root points at the oracle store: the shipped default path does
    # not exist, so reading any other store would fail.)
    run_tool(repo_root, ['tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options']
             + headline_options(voc_mini, voc_options, oracle_inputs, 2))
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    resumed = run_tool(repo_root, ['tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
                                   '--cfg-options']
                       + headline_options(voc_mini, voc_options, oracle_inputs, 4))
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 0, iter: 2' in log, log[-3000:]
    assert re.search(r'Iter\(train\) \[3/4\]', log), log[-3000:]
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert 'Unsupported global' not in log
    assert 'from scratch' not in log  # the smoke config sets from_scratch_ok
    # the labels and masks the run trains on, with their makers (LabelSourceHook)
    assert re.search(r'training seg_map_path: \S+transcam \(no \.provenance\.json', log), \
        log[-3000:]
    assert f'training LoadSAMMasks.mask_root: {osp.realpath(oracle_inputs[1])} (made by mask ' \
        f'store; masks: {OracleMasks.source})' in log
    assert f'mask store {oracle_inputs[1]}: ' in log and ' 0 images with 0 masks' in log

    pred_dir = tmp_path / 'pred'
    tested = run_tool(repo_root, ['tools/test.py', CONFIG, osp.join(work_dir, 'iter_4.pth'),
                                  '--work-dir', work_dir, '--out', str(pred_dir),
                                  '--cfg-options'] + voc_options(voc_mini, VAL_IMAGES))
    log = tested.stdout + tested.stderr
    assert 'the loaded model was trained on LoadSAMMasks.mask_root: ' in log
    match = re.search(r'mIoU: ([0-9.]+)', log)
    assert match, log[-3000:]
    # --out wrote one prediction per tested val image, at the GT's size, and the mIoU that
    # tools/test.py printed is the mIoU of exactly those PNGs against the GT.
    val_ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'val.txt'))[:VAL_IMAGES]
    assert sorted(osp.basename(path)[:-4] for path in glob.glob(str(pred_dir / '*.png'))) == \
        sorted(val_ids)
    gts = [read_label_png(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'))
           for image_id in val_ids]
    preds = [read_label_png(str(pred_dir / f'{image_id}.png'), num_classes=21, shape=gt.shape)
             for image_id, gt in zip(val_ids, gts)]
    assert float(match.group(1)) == pytest.approx(100 * mean_iou(preds, gts, 21), abs=0.006)


def test_missing_data_root_is_one_clear_line(repo_root, tmp_path):
    result = run_tool(repo_root, ['tools/train.py', BASELINE, '--work-dir', str(tmp_path),
                                  '--cfg-options',
                                  f'train_dataloader.dataset.data_root={tmp_path}/nowhere'],
                      check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0, result.stderr
    assert 'nowhere' in result.stderr and '--cfg-options' in result.stderr


def test_unknown_component_is_one_clear_line(repo_root, voc_mini, tmp_path):
    result = run_tool(repo_root, ['tools/train.py', BASELINE, '--work-dir', str(tmp_path),
                                  '--cfg-options', 'model.decode_head.type=NoSuchHead',
                                  'train_dataloader.dataset.ann_file=ImageSets/Segmentation/'
                                  'train.txt']
                      + [f'{key}.dataset.data_root={voc_mini}'
                         for key in ('train_dataloader', 'val_dataloader')], check=False)
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert "unknown component 'NoSuchHead'" in last_line and 'custom_imports' in last_line
    assert 'Traceback' not in result.stderr


def test_missing_checkpoint_is_one_clear_line(repo_root, tmp_path):
    result = run_tool(repo_root, ['tools/test.py', BASELINE, str(tmp_path / 'missing.pth')],
                      check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (f'error: {tmp_path}/missing.pth: checkpoint not found; '
                                     'pass the .pth written by tools/train.py '
                                     '(e.g. work_dirs/<config>/iter_<N>.pth)')
