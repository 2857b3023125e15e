"""CPU smoke runs of configs/sesam/deeplabv3_voc_{point,scribble,coarse}.py on voc_mini.

Weak labels are synthesised from the GT and SeSAM pseudo-labels come from the GT *oracle*
answerer (not SAM), for 8 train ids. Each config trains one iteration, resumes to two, keeps
its EMA teacher across the resume, and evaluates with tools/test.py.
"""
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

import mmseg_sam_wsss.registration  # noqa: F401  (torch.load allow-list)
from mmseg_sam_wsss.core.io import read_label_png, write_label_png
from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler
from mmseg_sam_wsss.core.rng import image_rng
from mmseg_sam_wsss.simulation.weak_label_synthesis import make_weak_label

NUM_IDS = 8


def run(repo_root, args):
    result = subprocess.run([sys.executable] + args, cwd=repo_root, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f'{args[:2]} failed:\n{result.stdout[-3000:]}\n' \
        f'{result.stderr[-5000:]}'
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def id_file(voc_mini, tmp_path_factory):
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:NUM_IDS]
    path = tmp_path_factory.mktemp('ids') / 'train_subset.txt'
    path.write_text('\n'.join(ids) + '\n')
    return str(path)


def check_teacher_is_ema_of_resumed_state(work_dir):
    """iter_2's teacher must be the EMA of iter_1's teacher and iter_2's student."""
    before = torch.load(osp.join(work_dir, 'iter_1.pth'), weights_only=True)['state_dict']
    after = torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)['state_dict']
    momentum = min(0.999, (1 + 1) / (10 + 1))  # the update after iteration index 1
    checked = 0
    for key, teacher_after in after.items():
        if not key.startswith('teacher.') or not teacher_after.dtype.is_floating_point:
            continue
        student_after = after['student.' + key[len('teacher.'):]]
        expected = momentum * before[key] + (1 - momentum) * student_after
        torch.testing.assert_close(teacher_after, expected, rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked > 50
    # The teacher did move away from iter_1 (it is not a stale copy).
    assert any(not torch.equal(before[key], after[key]) for key in after
               if key.startswith('teacher.') and after[key].dtype.is_floating_point)


def make_weak_and_sesam_labels(voc_mini, ids, weak_type, weak_dir, sesam_dir):
    """Weak labels from GT and SeSAM labels from the GT oracle answerer, in-process (fast)."""
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        weak_label, _ = make_weak_label(gt_label, weak_type, image_rng(0, image_id))
        write_label_png(osp.join(weak_dir, image_id + '.png'), weak_label)
        sesam_label = SeSAMLabeler()(weak_label, OraclePromptAnswerer(gt_label),
                                     rng=image_rng(0, image_id))
        write_label_png(osp.join(sesam_dir, image_id + '.png'), sesam_label)


@pytest.mark.slow
@pytest.mark.parametrize('weak_type', ['point', 'scribble', 'coarse'])
def test_sesam_config_trains_resumes_and_tests(repo_root, voc_mini, small_options, id_file,
                                               weak_type, tmp_path):
    weak_dir, sesam_dir = str(tmp_path / 'weak'), str(tmp_path / 'sesam')
    with open(id_file) as handle:
        make_weak_and_sesam_labels(voc_mini, handle.read().split(), weak_type, weak_dir,
                                   sesam_dir)
    config = f'configs/sesam/deeplabv3_voc_{weak_type}.py'
    work_dir = str(tmp_path / 'work')
    options = [f'train_dataloader.dataset.data_prefix.weak_label_path={weak_dir}',
               f'train_dataloader.dataset.data_prefix.seg_map_path={sesam_dir}',
               f'train_dataloader.dataset.ann_file={id_file}',
               'custom_hooks.0.conf_ramp_iters=1']

    def train(max_iters, resume):
        return run(repo_root, ['tools/train.py', config, '--work-dir', work_dir]
                   + (['--resume'] if resume else []) + ['--cfg-options']
                   + small_options(voc_mini, max_iters=max_iters, val_images=2,
                                   model_prefix='model.segmentor', checkpoint_interval=1,
                                   resize_index=3)
                   + options + ['train_cfg.val_begin=100'])  # tools/test.py evaluates below

    log = train(1, resume=False)
    assert 'decode.loss_gt' in log and 'decode.share_sam' in log and 'conf_thresh' in log
    log = train(2, resume=True)
    assert 'resumed epoch: 0, iter: 1' in log
    check_teacher_is_ema_of_resumed_state(work_dir)
    log = run(repo_root, ['tools/test.py', config, osp.join(work_dir, 'iter_2.pth'),
                          '--work-dir', work_dir, '--cfg-options']
              + small_options(voc_mini, val_images=2, model_prefix='model.segmentor'))
    assert re.search(r'mIoU: [0-9.]+', log), log[-2000:]
