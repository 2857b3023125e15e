"""Hand-made checks of the three-source loss, the label padding, the ramps and the EMA formula."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_sam_wsss.core.semi_supervision import (assign_sources, balanced_source_losses,
                                                  ema_update, linear_ramp, pad_label,
                                                  sigmoid_ramp, valid_pixels)

IGN = 255


def test_pad_label_pads_bottom_right_with_ignore_like_stack_batch():
    label = torch.tensor([[1, 2, 3], [4, 5, 6]])
    padded = pad_label(label, (3, 5))
    assert padded.tolist() == [[1, 2, 3, IGN, IGN], [4, 5, 6, IGN, IGN], [IGN] * 5]
    assert torch.equal(pad_label(label[None], (2, 3))[0], label)  # leading dims kept
    with pytest.raises(ValueError, match='larger than the pad size'):
        pad_label(label, (1, 5))


def test_priority_weak_then_sam_then_confident_teacher():
    weak = torch.tensor([[[1, IGN, IGN, IGN]]])
    sam = torch.tensor([[[2, 2, IGN, IGN]]])
    # Teacher: class 0 with prob 0.97 (confident) at pixel 2, 0.6 (not) at pixel 3; and
    # a confident class 1 at pixels 0/1, which must lose to weak GT and SAM.
    probs = torch.tensor([[[0.01, 0.01, 0.97, 0.6],
                           [0.98, 0.98, 0.02, 0.3],
                           [0.01, 0.01, 0.01, 0.1]]]).unsqueeze(2)  # (1, 3, 1, 4)
    source, target = assign_sources(weak, sam, probs, conf_thresh=0.95)
    assert source.tolist() == [[[0, 1, 2, -1]]]
    assert target.tolist() == [[[1, 2, 0, IGN]]]
    # Lowering τ lets the teacher label pixel 3 too.
    source, target = assign_sources(weak, sam, probs, conf_thresh=0.5)
    assert source[0, 0, 3] == 2 and target[0, 0, 3] == 0


def test_each_source_is_normalised_by_its_own_count():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 5, requires_grad=True)
    # 1 weak pixel, 9 SAM pixels, no teacher.
    weak = torch.full((1, 2, 5), IGN)
    weak[0, 0, 0] = 2
    sam = torch.ones((1, 2, 5), dtype=torch.long)
    source, target = assign_sources(weak, sam, None, 0.95)
    losses = balanced_source_losses(logits, source, target, dict(gt=1.0, sam=0.5, conf=1.0))
    pixel_ce = F.cross_entropy(logits, target, reduction='none')
    assert losses['loss_gt'].item() == pytest.approx(pixel_ce[0, 0, 0].item(), rel=1e-6)
    sam_mean = pixel_ce[source == 1].mean().item()
    assert losses['loss_sam'].item() == pytest.approx(0.5 * sam_mean, rel=1e-6)
    assert losses['loss_conf'].item() == 0.0
    assert losses['share_gt'].item() == pytest.approx(0.1)
    assert losses['share_sam'].item() == pytest.approx(0.9)
    assert losses['share_conf'].item() == 0.0
    total = losses['loss_gt'] + losses['loss_sam'] + losses['loss_conf']
    total.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_ema_update_follows_the_formula_and_copies_integer_buffers():
    teacher = [torch.tensor([1.0, 2.0]), torch.tensor(3)]
    student = [torch.tensor([3.0, 6.0]), torch.tensor(10)]
    ema_update(teacher, student, momentum=0.75)
    assert teacher[0].tolist() == pytest.approx([0.75 * 1 + 0.25 * 3, 0.75 * 2 + 0.25 * 6])
    assert teacher[1].item() == 10


def test_ramps():
    assert linear_ramp(0, 0, 10, 0.9, 0.7) == pytest.approx(0.9)
    assert linear_ramp(5, 0, 10, 0.9, 0.7) == pytest.approx(0.8)
    assert linear_ramp(50, 0, 10, 0.9, 0.7) == pytest.approx(0.7)
    assert sigmoid_ramp(0, 100) == pytest.approx(np.exp(-5.0))
    assert sigmoid_ramp(50, 100) == pytest.approx(np.exp(-5.0 * 0.25))
    assert sigmoid_ramp(100, 100) == 1.0 and sigmoid_ramp(1000, 100) == 1.0
    values = [sigmoid_ramp(i, 100) for i in range(0, 101, 10)]
    assert values == sorted(values)


def test_padding_is_supervised_by_no_source():
    """A 3x4 crop padded to 5x6 as stack_batch pads it: 255 in both labels and a confident
    teacher everywhere; before the fix the teacher supervised the whole padded border."""
    weak = pad_label(torch.full((1, 3, 4), IGN), (5, 6))
    weak[0, 0, 0] = 1
    sam = pad_label(torch.full((1, 3, 4), IGN), (5, 6))
    sam[0, :, :2] = 2
    probs = torch.zeros(1, 3, 5, 6)
    probs[:, 0] = 1.0  # confident "class 0" on every pixel, padding included
    valid = valid_pixels([(3, 4, 3)], (5, 6))
    assert valid.sum() == 12 and valid[0, :3, :4].all()
    source, target = assign_sources(weak, sam, probs, 0.95, valid)
    assert (source[0, 3:] == -1).all() and (source[0, :, 4:] == -1).all()
    assert (target[~valid] == IGN).all()
    assert (source == 0).sum() == 1 and (source == 1).sum() == 5 and (source == 2).sum() == 6
    losses = balanced_source_losses(torch.zeros(1, 3, 5, 6), source, target,
                                    dict(gt=1.0, sam=1.0, conf=1.0))
    assert losses['share_conf'].item() == pytest.approx(6 / 30)


def test_a_weak_pixel_inside_the_sam_label_counts_once():
    weak = torch.tensor([[[1, IGN, IGN]]])
    sam = torch.tensor([[[1, 2, IGN]]])  # the SeSAM label keeps the weak pixel's class
    source, _ = assign_sources(weak, sam, None, 0.95)
    assert source.tolist() == [[[0, 1, -1]]]


def test_all_pixels_is_plain_cross_entropy_and_per_source_is_not():
    """With every λ = 1 and no teacher, 'all_pixels' is mmseg's default CE of the SeSAM label
    (its weak pixels hold their weak class): the sum over labelled pixels divided by all 10
    pixels (avg_non_ignore=False); 'per_source' weighs the one weak pixel as much as the 7 SAM
    pixels together."""
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 5)
    sam = torch.tensor([[[0, 1, 1, 2, 2], [0, 0, 1, IGN, IGN]]])
    weak = torch.full_like(sam, IGN)
    weak[0, 0, 3] = 2
    source, target = assign_sources(weak, sam, None, 0.95)
    ones = dict(gt=1.0, sam=1.0, conf=1.0)
    plain = F.cross_entropy(logits, sam, ignore_index=IGN, reduction='sum') / sam.numel()
    total = sum(value for key, value in balanced_source_losses(
        logits, source, target, ones, normalize='all_pixels').items() if key.startswith('loss'))
    assert total.item() == pytest.approx(plain.item(), rel=1e-6)
    per_source = balanced_source_losses(logits, source, target, ones)
    pixel_ce = F.cross_entropy(logits, sam, ignore_index=IGN, reduction='none')
    assert per_source['loss_gt'].item() == pytest.approx(pixel_ce[0, 0, 3].item(), rel=1e-6)
    assert (per_source['loss_gt'] + per_source['loss_sam']).item() != pytest.approx(plain.item())
    # λ weighs each pixel, the denominator stays the pixel count (10).
    weighted = balanced_source_losses(logits, source, target, dict(gt=3.0, sam=1.0, conf=1.0),
                                      normalize='all_pixels')
    assert weighted['loss_gt'].item() == pytest.approx(3 * pixel_ce[0, 0, 3].item() / 10,
                                                       rel=1e-6)
    with pytest.raises(ValueError, match='normalize must be one of'):
        balanced_source_losses(logits, source, target, ones, normalize='mean')
