"""CPU smoke runs of configs/sesam/deeplabv3_voc_{point,scribble,coarse}.py on voc_mini, through
their smoke versions configs/smoke/deeplabv3_voc_{point,scribble,coarse}_smoke.py (a half-width
ResNet-18 segmentor, 128 px crops; tests/test_configs/test_smoke_configs.py checks that they
change nothing else).

Weak labels are synthesised from the GT and SeSAM pseudo-labels come from the GT *oracle*
answerer (not SAM), for 8 train ids. The point config trains one iteration, resumes to two,
keeps its EMA teacher across the resume, and evaluates with tools/test.py. The scribble and
coarse configs differ from it only in their label folders (and weak_type); the shipped-config
tests train them as shipped (tests/test_configs/test_shipped_configs.py).
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
from mmseg_sam_wsss.utils.mm_tools import schedule_options

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
@pytest.mark.parametrize('weak_type', ['point'])
def test_sesam_config_trains_resumes_and_tests(repo_root, voc_mini, voc_options, id_file,
                                               weak_type, tmp_path):
    weak_dir, sesam_dir = str(tmp_path / 'weak'), str(tmp_path / 'sesam')
    with open(id_file) as handle:
        make_weak_and_sesam_labels(voc_mini, handle.read().split(), weak_type, weak_dir,
                                   sesam_dir)
    config = f'configs/smoke/deeplabv3_voc_{weak_type}_smoke.py'
    work_dir = str(tmp_path / 'work')
    options = [f'train_dataloader.dataset.data_prefix.weak_label_path={weak_dir}',
               f'train_dataloader.dataset.data_prefix.seg_map_path={sesam_dir}',
               f'train_dataloader.dataset.ann_file={id_file}']

    def train(max_iters, resume):
        return run(repo_root, ['tools/train.py', config, '--work-dir', work_dir]
                   + (['--resume'] if resume else []) + ['--cfg-options']
                   + voc_options(voc_mini, val_images=2)
                   + schedule_options(max_iters, checkpoint_interval=1, log_interval=1)
                   + options + ['train_cfg.val_begin=100'])  # tools/test.py evaluates below

    log = train(1, resume=False)
    assert 'decode.loss_gt' in log and 'decode.share_sam' in log and 'conf_thresh' in log
    log = train(2, resume=True)
    assert 'resumed epoch: 0, iter: 1' in log
    check_teacher_is_ema_of_resumed_state(work_dir)
    log = run(repo_root, ['tools/test.py', config, osp.join(work_dir, 'iter_2.pth'),
                          '--work-dir', work_dir, '--cfg-options']
              + voc_options(voc_mini, val_images=2))
    assert re.search(r'mIoU: [0-9.]+', log), log[-2000:]


def test_shipped_sesam_config_builds_student_and_teacher(repo_root, tmp_path):
    """tools/train.py's model construction, on the config file as shipped (point; scribble and
    coarse change only the dataset): the only override is ``work_dir``. Offline, nothing is
    downloaded: ``Runner.from_cfg`` builds the model but loads the ImageNet backbone
    (``pretrained``) only in ``train()``, which is not called."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'sesam', 'deeplabv3_voc_point.py'))
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'build_{tmp_path.name}'
    model = Runner.from_cfg(cfg).model
    assert type(model).__name__ == 'SemiSupervisedSegmentor'
    for segmentor in (model.student, model.teacher):
        assert type(segmentor).__name__ == 'EncoderDecoder'
        # Each copy got the pretrained backbone once (not "both backbone and segmentor").
        assert segmentor.backbone.init_cfg == dict(type='Pretrained',
                                                   checkpoint='open-mmlab://resnet50_v1c')
    assert model.student is not model.teacher
    assert not any(param.requires_grad for param in model.teacher.parameters())
    assert model.semi_loss.conf_thresh == model.semi_loss.current_conf_thresh == 0.95
    assert [hook['type'] for hook in cfg.custom_hooks] == ['SemiSupervisedHook']
    assert cfg.train_dataloader.dataset.pipeline[-1]['type'] == 'PackSemiSegInputs'
