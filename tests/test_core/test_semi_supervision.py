"""Hand-made checks of the three-source loss, the label padding, the ramps and the EMA formula."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg_sam_wsss.core.semi_supervision import (assign_sources, balanced_source_losses,
                                                  ema_update, linear_ramp, pad_label,
                                                  sigmoid_ramp)

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
