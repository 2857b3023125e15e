"""CAM stage end to end on voc_mini: tools/train.py, tools/test.py, tools/generate_cams.py.

A CPU-sized classifier (ResNetV1c-18, BN, no weights, 4 iterations): the numbers test the wiring,
not CAM quality. Then the pseudo-labels must be valid label PNGs, and a rerun must skip them.
"""
import glob
import os.path as osp
import re
import numpy as np
import pytest
import torch
from helpers import run_tool

from mmseg_sam_wsss.core.cam import cams_to_pseudo_label
from mmseg_sam_wsss.core.io import read_label_png

CONFIG = 'configs/sam_wsss/cam_r50_voc.py'


def small_cam_options(data_root: str, max_iters: int = 4) -> list:
    """``--cfg-options`` making cam_r50_voc.py a CPU smoke run on ``data_root``."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{loader}.dataset.data_root={data_root}' for loader in loaders]
    for loader in loaders:
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    for loader in ('val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.pipeline.1.scale=(256,128)']
    return options + [
        'val_dataloader.dataset.indices=2',  # the train loop validates at its last iteration
        'train_dataloader.batch_size=2',
        'train_dataloader.dataset.pipeline.3.scale=(256,128)',
        'train_dataloader.dataset.pipeline.4.crop_size=(128,128)',
        'model.data_preprocessor.size=(128,128)',
        'model.backbone.depth=18', 'model.backbone.norm_cfg.type=BN',
        'model.decode_head.in_channels=512', 'model.decode_head.channels=512',
        'model.decode_head.norm_cfg.type=BN',
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
        f'default_hooks.checkpoint.interval={max_iters}', 'default_hooks.logger.interval=1',
    ]


@pytest.mark.slow
def test_train_test_and_generate_cams(repo_root, voc_mini, tmp_path):
    work_dir = str(tmp_path / 'work')
    options = small_cam_options(voc_mini)
    trained = run_tool(repo_root, ['tools/train.py', CONFIG, '--work-dir', work_dir,
                                   '--cfg-options'] + options)
    log = trained.stdout + trained.stderr
    losses = [float(value) for value in re.findall(r'decode\.loss_cls: ([0-9.]+)', log)]
    assert len(losses) == 4 and all(np.isfinite(losses)), log[-3000:]
    assert re.search(r'decode\.acc_cls: [0-9.]+', log)
    checkpoint = osp.join(work_dir, 'iter_4.pth')
    assert osp.isfile(checkpoint)

    tested = run_tool(repo_root, ['tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir,
                                  '--cfg-options'] + options + ['test_dataloader.dataset.indices=2'])
    log = tested.stdout + tested.stderr
    match = re.search(r'Iter\(test\) \[2/2\].*mIoU: ([0-9.]+)', log)
    assert match, log[-3000:]
    assert 0.0 <= float(match.group(1)) <= 100.0

    train_ids = open(osp.join(voc_mini, 'ImageSets/Segmentation/train.txt')).read().split()[:3]
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(train_ids) + '\n')
    out_dir = tmp_path / 'cams'
    generate = ['tools/generate_cams.py', CONFIG, checkpoint, '--out', str(out_dir), '--ids',
                str(ids_file), '--scales', '0.5', '1.0', '--cfg-options'] + options
    log = run_tool(repo_root, generate).stdout
    assert '3 written, 0 already done' in log, log
    for image_id in train_ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'))
        pseudo_label = read_label_png(str(out_dir / 'pseudo_labels' / f'{image_id}.png'),
                                      num_classes=21, shape=gt.shape)
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
    assert len(glob.glob(str(out_dir / '*' / '.tmp-*'))) == 0
    # A rerun skips every finished id.
    assert '0 written, 3 already done' in run_tool(repo_root, generate).stdout


def test_generate_cams_missing_checkpoint_is_one_line(repo_root, tmp_path):
    result = run_tool(repo_root, ['tools/generate_cams.py', CONFIG, str(tmp_path / 'none.pth'),
                                  '--out', str(tmp_path / 'out')], check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0, result.stderr
    assert 'none.pth: checkpoint not found' in result.stderr
