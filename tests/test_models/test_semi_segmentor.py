"""SemiSupervisedSegmentor and SemiSupervisedHook on a tiny EncoderDecoder (CPU, no weights)."""
import types

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import PixelData

from mmseg.registry import HOOKS, MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_sam_wsss.registration  # noqa: F401
from mmseg_sam_wsss.core.semi_supervision import pack_labels

register_all_modules(init_default_scope=True)

NORM = dict(type='BN', requires_grad=True)
TINY_SEGMENTOR = ConfigDict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
                           size=(32, 32), seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                  out_indices=(2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                  norm_cfg=NORM),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=1, channels=8, num_convs=1,
                     num_classes=3, norm_cfg=NORM),
    auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=0, channels=8, num_convs=1,
                        num_classes=3, norm_cfg=NORM),
    train_cfg=dict(), test_cfg=dict(mode='whole'))


def build_model(**kwargs):
    return MODELS.build(dict(type='SemiSupervisedSegmentor', segmentor=TINY_SEGMENTOR,
                             semi_loss=dict(type='BalancedSemiLoss', conf_thresh=0.0), **kwargs))


def make_samples():
    samples = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        sam = rng.integers(0, 3, (32, 32)).astype(np.uint8)
        sam[:, :8] = 255  # no SAM label: the teacher (τ = 0) supervises these pixels
        weak = np.full((32, 32), 255, np.uint8)
        weak[10, 10:14] = 2
        packed = torch.from_numpy(pack_labels(sam, weak).astype(np.int64))[None]
        sample = SegDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32),
                                             pad_shape=(32, 32)))
        sample.gt_sem_seg = PixelData(data=packed)
        samples.append(sample)
    return torch.randn(2, 3, 32, 32), samples


def test_loss_keys_shares_and_gradients_reach_only_the_student():
    model = build_model()
    model.train()
    assert not model.teacher.training and model.student.training
    inputs, samples = make_samples()
    losses = model.loss(inputs, samples)
    for key in ('decode.loss_gt', 'decode.loss_sam', 'decode.loss_conf', 'aux.loss_gt',
                'aux.loss_sam', 'aux.loss_conf'):
        assert torch.isfinite(losses[key]) and losses[key].item() > 0, key
    assert losses['decode.share_gt'].item() == pytest.approx(4 / 1024)
    # The 4 weak pixels lie inside the SAM-labelled columns 8..31: weak GT wins there.
    assert losses['decode.share_sam'].item() == pytest.approx((24 * 32 - 4) / 1024)
    assert losses['decode.share_conf'].item() == pytest.approx(8 * 32 / 1024)
    assert not any('share' in key for key in losses if key.startswith('aux'))
    sum(value for key, value in losses.items() if 'loss' in key).backward()
    assert all(param.grad is None for param in model.teacher.parameters())
    assert any(param.grad is not None for param in model.student.parameters())


def test_predict_answers_with_the_teacher_by_default():
    model = build_model()
    model.eval()
    inputs, samples = make_samples()
    with torch.no_grad():
        model.teacher.decode_head.conv_seg.bias.fill_(0)
        model.teacher.decode_head.conv_seg.bias[2] = 100.0  # the teacher says "class 2" everywhere
        results = model.predict(inputs, samples)
    assert (results[0].pred_sem_seg.data == 2).all()
    student = build_model(predict_on='student')
    student.eval()
    with torch.no_grad():
        student.student.decode_head.conv_seg.bias.fill_(0)
        student.student.decode_head.conv_seg.bias[1] = 100.0
        assert (student.predict(inputs, samples)[0].pred_sem_seg.data == 1).all()


def test_hook_copies_at_start_then_follows_the_ema_formula_and_schedules():
    model = build_model()
    hook = HOOKS.build(dict(type='SemiSupervisedHook', momentum=0.99, conf_ramp_iters=100,
                            conf_thresh_start=0.9, conf_thresh_end=0.7, conf_thresh_iters=100))
    runner = types.SimpleNamespace(model=model, iter=0,
                                   message_hub=MessageHub.get_instance('test_semi_hook'))
    hook.before_train(runner)
    for teacher, student in zip(model.teacher.parameters(), model.student.parameters()):
        assert torch.equal(teacher, student)
    teacher_before = [param.clone() for param in model.teacher.parameters()]
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(1.0)
    runner.iter = 500
    hook.after_train_iter(runner, batch_idx=0)
    momentum = min(0.99, (1 + 500) / (10 + 500))
    for before, teacher, student in zip(teacher_before, model.teacher.parameters(),
                                        model.student.parameters()):
        torch.testing.assert_close(teacher, momentum * before + (1 - momentum) * student)
    runner.iter = 50
    hook.before_train_iter(runner, batch_idx=0)
    assert model.semi_loss.conf_thresh == pytest.approx(0.8)
    assert model.semi_loss.conf_scale == pytest.approx(np.exp(-5 * 0.25))
    assert runner.message_hub.get_scalar('train/conf_thresh').current() == pytest.approx(0.8)


def test_segmentor_preprocessor_wins_over_the_runner_default():
    """mmengine's Runner passes the config's top-level data_preprocessor (mmseg's 512 px one);
    the wrapped segmentor's own (here 32 px) must stay in charge, so ``model.segmentor.
    data_preprocessor`` overrides take effect."""
    runner_default = dict(type='SegDataPreProcessor', size=(512, 512), seg_pad_val=255)
    model = build_model(data_preprocessor=runner_default)
    assert tuple(model.data_preprocessor.size) == (32, 32)
    segmentor = ConfigDict(TINY_SEGMENTOR)
    segmentor.pop('data_preprocessor')
    model = MODELS.build(dict(type='SemiSupervisedSegmentor', segmentor=segmentor,
                              semi_loss=dict(type='BalancedSemiLoss'),
                              data_preprocessor=runner_default))
    assert tuple(model.data_preprocessor.size) == (512, 512)
