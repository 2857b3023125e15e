"""SemiSupervisedSegmentor and SemiSupervisedHook on a tiny EncoderDecoder (CPU, no weights)."""
import types

from torch.utils.data import Dataset

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import PixelData

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmseg.registry import HOOKS, MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_sam_wsss.registration  # noqa: F401
from mmseg_sam_wsss.errors import SamWsssError

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


def build_model(conf_thresh=0.0, **kwargs):
    return MODELS.build(dict(type='SemiSupervisedSegmentor', segmentor=TINY_SEGMENTOR,
                             semi_loss=dict(type='BalancedSemiLoss', conf_thresh=conf_thresh),
                             **kwargs))


def make_sample(seed, shape=(32, 32)):
    """A packed sample as PackSemiSegInputs makes it: SAM label in gt_sem_seg, weak label in
    gt_weak_label, both ``(1, H, W) int64``."""
    rng = np.random.default_rng(seed)
    sam = rng.integers(0, 3, shape).astype(np.int64)
    sam[:, :8] = 255  # no SAM label: the teacher (τ = 0) supervises these pixels
    weak = np.full(shape, 255, np.int64)
    weak[10, 10:14] = 2
    sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(sam)[None])
    sample.gt_weak_label = PixelData(data=torch.from_numpy(weak)[None])
    return sample


def make_samples():
    return torch.randn(2, 3, 32, 32), [make_sample(seed) for seed in range(2)]


def test_loss_keys_shares_and_gradients_reach_only_the_student():
    model = build_model()
    model.teacher_hooked = True  # what SemiSupervisedHook.before_train does
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


def test_hook_copies_at_start_then_follows_the_ema_formula():
    model = build_model()
    hook = HOOKS.build(dict(type='SemiSupervisedHook', momentum=0.99))
    runner = types.SimpleNamespace(model=model, iter=0,
                                   message_hub=MessageHub.get_instance('test_semi_hook'))
    assert not model.teacher_hooked
    hook.before_train(runner)
    assert model.teacher_hooked
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


def schedule_at(model, hook, iteration):
    """Run the hook's ``before_train_iter`` at ``iteration``; return (τ in effect, conf_scale)."""
    runner = types.SimpleNamespace(model=model, iter=iteration,
                                   message_hub=MessageHub.get_instance('test_semi_schedule'))
    hook.before_train_iter(runner, batch_idx=0)
    logged = runner.message_hub.get_scalar('train/conf_thresh').current()
    assert logged == pytest.approx(model.semi_loss.current_conf_thresh)
    return model.semi_loss.current_conf_thresh, model.semi_loss.conf_scale


def test_the_configured_conf_thresh_is_the_one_the_loss_uses():
    """``semi_loss.conf_thresh`` in the config is τ: without a τ ramp at every iteration, with
    one at its end; the hook never rewrites the configured value."""
    model = build_model(conf_thresh=0.8)
    hook = HOOKS.build(dict(type='SemiSupervisedHook', conf_ramp_iters=100))
    for iteration in (0, 50, 100, 5000):
        assert schedule_at(model, hook, iteration)[0] == pytest.approx(0.8)
    assert schedule_at(model, hook, 50)[1] == pytest.approx(np.exp(-5 * 0.25))
    ramp = HOOKS.build(dict(type='SemiSupervisedHook', conf_thresh_start=0.9,
                            conf_thresh_iters=100))
    assert schedule_at(model, ramp, 0)[0] == pytest.approx(0.9)
    assert schedule_at(model, ramp, 50)[0] == pytest.approx(0.85)
    assert schedule_at(model, ramp, 100)[0] == pytest.approx(0.8)
    assert schedule_at(model, ramp, 5000)[0] == pytest.approx(0.8)
    assert model.semi_loss.conf_thresh == 0.8
    # τ in effect decides which pixels the teacher labels.
    probs = torch.tensor([0.82, 0.18]).view(1, 2, 1, 1)
    none = torch.full((1, 1, 1), 255)
    model.semi_loss.current_conf_thresh = 0.8
    assert model.semi_loss(torch.zeros(1, 2, 1, 1), none, none, probs)['share_conf'] == 1.0
    model.semi_loss.current_conf_thresh = 0.85
    assert model.semi_loss(torch.zeros(1, 2, 1, 1), none, none, probs)['share_conf'] == 0.0
    with pytest.raises(SamWsssError, match='conf_thresh_iters'):
        HOOKS.build(dict(type='SemiSupervisedHook', conf_thresh_start=0.9))


def test_weak_label_is_padded_with_the_batch():
    """Through the real SegDataPreProcessor: a 24x32 sample is padded to 32x32; its weak label
    is padded like its gt_sem_seg (bottom rows 255), so the weak pixels keep their place."""
    model = build_model()
    model.teacher_hooked = True
    small, full = make_sample(0, shape=(24, 32)), make_sample(1)
    data = dict(inputs=[torch.zeros(3, 24, 32, dtype=torch.uint8),
                        torch.zeros(3, 32, 32, dtype=torch.uint8)],
                data_samples=[small, full])
    data = model.data_preprocessor(data, training=True)
    assert data['inputs'].shape == (2, 3, 32, 32)
    losses = model.loss(**data)
    assert losses['decode.share_gt'].item() == pytest.approx(8 / 2048)
    # SAM: columns 8..31 of 24 rows and of 32 rows; the teacher (τ = 0) labels columns 0..7 of
    # the image rows only: the 8 padded rows of the small sample are supervised by no source.
    assert losses['decode.share_sam'].item() == pytest.approx((24 * 24 + 24 * 32 - 8) / 2048)
    assert losses['decode.share_conf'].item() == pytest.approx((24 * 8 + 32 * 8) / 2048)
    padded = model._weak_label(small, (32, 32))
    assert (padded[24:] == 255).all() and (padded[10, 10:14] == 2).all()

    bad = make_sample(2, shape=(24, 32))
    bad.set_metainfo(dict(img_shape=(24, 30)))
    with pytest.raises(SamWsssError, match='does not match img_shape'):
        model.loss(torch.zeros(1, 3, 24, 32), [bad])
    del bad.gt_weak_label
    with pytest.raises(SamWsssError, match='PackSemiSegInputs'):
        model.loss(torch.zeros(1, 3, 24, 32), [bad])


def test_the_teacher_sees_the_clean_view_prepared_like_the_inputs():
    """With teacher_img in the samples (StudentTeacherViews), the teacher's batch is that view,
    channel-swapped, normalised and padded as the data preprocessor prepares ``inputs``."""
    segmentor = ConfigDict(TINY_SEGMENTOR)
    segmentor.data_preprocessor = dict(type='SegDataPreProcessor', mean=[10, 20, 30],
                                       std=[2, 4, 8], bgr_to_rgb=True, size=(32, 32),
                                       seg_pad_val=255)
    model = MODELS.build(dict(type='SemiSupervisedSegmentor', segmentor=segmentor,
                              semi_loss=dict(type='BalancedSemiLoss')))
    model.teacher_hooked = True
    samples = [make_sample(0, shape=(24, 32)), make_sample(1)]
    clean = [torch.randint(0, 255, (3, 24, 32), dtype=torch.uint8),
             torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)]
    for sample, image in zip(samples, clean):
        sample.teacher_img = image
    strong = [torch.zeros(3, 24, 32, dtype=torch.uint8), torch.zeros(3, 32, 32, dtype=torch.uint8)]
    data = model.data_preprocessor(dict(inputs=strong, data_samples=samples), training=True)
    seen = []
    extract = model.teacher.extract_feat
    model.teacher.extract_feat = lambda inputs: seen.append(inputs) or extract(inputs)
    model.loss(**data)
    mean = torch.tensor([10.0, 20.0, 30.0]).view(3, 1, 1)
    std = torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1)
    expected = (clean[0][[2, 1, 0]].float() - mean) / std
    torch.testing.assert_close(seen[0][0, :, :24], expected)
    assert (seen[0][0, :, 24:] == 0).all()  # padded as stack_batch pads (pad_val 0)
    torch.testing.assert_close(seen[0][1], (clean[1][[2, 1, 0]].float() - mean) / std)
    # Without teacher_img the teacher sees the student's inputs, as before.
    packed = data['data_samples']
    del packed[0].teacher_img
    with pytest.raises(SamWsssError, match='only some samples carry teacher_img'):
        model.loss(**data)
    del packed[1].teacher_img
    seen.clear()
    model.loss(**data)
    assert torch.equal(seen[0], data['inputs'])


class TinySemiDataset(Dataset):
    """Two packed samples (28x32 and 32x32) as the SeSAM train pipeline would yield them."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        shape = (28, 32) if index == 0 else (32, 32)
        inputs = torch.from_numpy(np.random.default_rng(index).integers(
            0, 255, (3, ) + shape).astype(np.uint8))
        return dict(inputs=inputs, data_samples=make_sample(index, shape))


class RecordTeacherHook(Hook):
    """Keeps a copy of the teacher as it is when the first iteration starts."""

    priority = 'LOWEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.teacher = {key: param.detach().clone()
                        for key, param in runner.model.teacher.named_parameters()}


def make_runner(tmp_path, name, custom_hooks):
    return Runner(
        model=dict(type='SemiSupervisedSegmentor', segmentor=TINY_SEGMENTOR,
                   semi_loss=dict(type='BalancedSemiLoss', conf_thresh=0.8)),
        work_dir=str(tmp_path / name), experiment_name=f'{name}_{tmp_path.name}',
        train_dataloader=dict(dataset=TinySemiDataset(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=False, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=None), log_processor=dict(by_epoch=False),
        custom_hooks=custom_hooks, default_scope='mmseg')


def test_runner_refuses_to_train_without_the_hook_and_trains_with_it(tmp_path):
    runner = make_runner(tmp_path, 'no_hook', custom_hooks=None)
    with pytest.raises(SamWsssError, match=r"custom_hooks = \[dict\(type='SemiSupervisedHook'\)\]"):
        runner.train()

    record = RecordTeacherHook()
    runner = make_runner(tmp_path, 'hook', custom_hooks=[dict(type='SemiSupervisedHook'), record])
    model = runner.model
    runner.train()
    assert runner.iter == 1 and model.teacher_hooked
    # The teacher moved: the EMA of its start and the trained student, with the warm-up
    # momentum min(0.999, 1 / 10) after iteration 0.
    student = dict(model.student.named_parameters())
    moved = 0
    for key, teacher in model.teacher.named_parameters():
        torch.testing.assert_close(teacher, 0.1 * record.teacher[key] + 0.9 * student[key])
        moved += not torch.equal(teacher, record.teacher[key])
    assert moved > 0
    assert runner.message_hub.get_scalar('train/conf_thresh').current() == pytest.approx(0.8)
    assert model.semi_loss.current_conf_thresh == pytest.approx(0.8)
    assert runner.message_hub.get_scalar('train/decode.loss_gt').current() > 0


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


def test_warm_up_reaches_the_configured_momentum_only_after_warmup_iters():
    """min(m, (1 + i) / (10 + i)): 0.98 from iteration 440, 0.99 from 890, so the demo's
    450-iteration run with momentum=0.99 ends at 0.98 (its config comment says so)."""
    for momentum, first in ((0.98, 440), (0.99, 890), (0.999, 8990)):
        hook = HOOKS.build(dict(type='SemiSupervisedHook', momentum=momentum))
        assert hook.warmup_iters() == first
        assert hook.current_momentum(first - 1) < momentum == hook.current_momentum(first)
    demo = HOOKS.build(dict(type='SemiSupervisedHook', momentum=0.99))
    assert demo.current_momentum(449) == pytest.approx(450 / 459)
    assert HOOKS.build(dict(type='SemiSupervisedHook', warmup=False)).warmup_iters() == 0


def test_all_pixels_equals_the_plain_ce_of_the_baselines():
    """'all_pixels' with λ = 1 and no teacher is mmseg's CrossEntropyLoss as the demo's and
    VOC's plain configs use it (avg_non_ignore=False), padding and 255 included."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    sam = torch.randint(0, 3, (2, 8, 8))
    sam[:, :, 6:] = 255
    weak = torch.full_like(sam, 255)
    weak[0, 2, 2] = sam[0, 2, 2]
    plain = MODELS.build(dict(type='CrossEntropyLoss'))(logits, sam, ignore_index=255)
    for normalize, equal in (('all_pixels', True), ('per_source', False)):
        loss = MODELS.build(dict(type='BalancedSemiLoss', normalize=normalize))
        total = sum(value for key, value in loss(logits, weak, sam).items() if 'loss' in key)
        assert (total.item() == pytest.approx(plain.item(), rel=1e-5)) is equal
    with pytest.raises(ValueError, match='normalize must be one of'):
        MODELS.build(dict(type='BalancedSemiLoss', normalize='mean'))
