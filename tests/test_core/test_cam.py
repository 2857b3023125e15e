"""CAM core: tags, pooling, normalisation, pseudo-label and multi-scale/flip aggregation."""
import numpy as np
import pytest
import torch

from mmseg_sam_wsss.core.cam import (cams_to_pseudo_label, multiscale_flip_cams, normalize_cams,
                                     pool_cams, select_tagged_cams, tags_to_multi_hot)
from mmseg_sam_wsss.errors import SamWsssError


def test_multi_hot_target():
    target = tags_to_multi_hot([[1, 20], []], num_foreground=20)
    assert target.shape == (2, 20)
    assert target[0].nonzero().flatten().tolist() == [0, 19] and target[1].sum() == 0
    with pytest.raises(SamWsssError):
        tags_to_multi_hot([[21]], num_foreground=20)


def test_pooling_known_values():
    cams = torch.tensor([[[[1., 2.], [3., 6.]]]])
    assert pool_cams(cams, 'avg').item() == pytest.approx(3.0)
    assert pool_cams(cams, 'max').item() == pytest.approx(6.0)
    weights = np.array([1, .5, .25, .125])
    expected = (np.array([6, 3, 2, 1]) * weights).sum() / weights.sum()
    assert pool_cams(cams, 'gwrp', gwrp_decay=0.5).item() == pytest.approx(expected)
    lse = np.log(np.mean(np.exp(2 * np.array([1, 2, 3, 6])))) / 2
    assert pool_cams(cams, 'lse', lse_r=2.0).item() == pytest.approx(lse, rel=1e-5)
    with pytest.raises(SamWsssError, match='pool'):
        pool_cams(cams, 'median')


def test_normalize_cams_relu_and_per_class_max():
    cams = torch.tensor([[[-1., 2.], [4., 0.]], [[0., 0.], [0., -3.]]])
    normed = normalize_cams(cams, eps=1e-12)
    assert torch.allclose(normed[0], torch.tensor([[0., .5], [1., 0.]]))
    assert torch.isfinite(normed).all() and normed[1].abs().sum() == 0


def test_pseudo_label_threshold_and_argmax():
    cams = torch.tensor([[[0.9, 0.1, 0.3]], [[0.2, 0.14, 0.6]]])  # (2, 1, 3) for classes 7, 12
    pseudo_label = cams_to_pseudo_label(cams, [7, 12], bg_thresh=0.15)
    assert pseudo_label.dtype == torch.int64
    assert pseudo_label.tolist() == [[7, 0, 12]]
    # A higher threshold turns the weak third pixel into background too.
    assert cams_to_pseudo_label(cams, [7, 12], bg_thresh=0.7).tolist() == [[7, 0, 0]]
    # No tags: everything is background.
    assert cams_to_pseudo_label(cams[:0], [], bg_thresh=0.15).tolist() == [[0, 0, 0]]
    with pytest.raises(SamWsssError):
        cams_to_pseudo_label(cams, [7], bg_thresh=0.15)


def test_untagged_classes_are_suppressed():
    all_cams = torch.zeros(20, 1, 2)
    all_cams[4] = torch.tensor([[1.0, 0.0]])   # class 5, strongest but not tagged
    all_cams[8] = torch.tensor([[0.5, 0.4]])   # class 9, tagged
    tagged_cams, class_ids = select_tagged_cams(all_cams, [9])
    assert class_ids.tolist() == [9] and tagged_cams.shape == (1, 1, 2)
    assert cams_to_pseudo_label(tagged_cams, class_ids, 0.15).tolist() == [[9, 9]]


def test_multiscale_flip_shapes_and_flip_correctness():
    images = torch.rand(2, 3, 8, 12)

    def forward_cams(batch):  # a CAM equal to the red channel, at half resolution
        return torch.nn.functional.avg_pool2d(batch[:, :1] - 0.5, 2)

    single = multiscale_flip_cams(forward_cams, images, scales=(1.0,), flip=False)
    assert single.shape == (2, 1, 8, 12) and (single >= 0).all()
    flipped = multiscale_flip_cams(forward_cams, images, scales=(1.0,), flip=True)
    # An equivariant CAM model: the flipped copy, flipped back, equals the original one.
    assert torch.allclose(flipped, 2 * single, atol=1e-6)
    multi = multiscale_flip_cams(forward_cams, images, scales=(0.5, 1.0, 1.5), flip=True)
    assert multi.shape == (2, 1, 8, 12)

    # A position-dependent model: a flip that was not undone would move the peak.
    def left_peak(batch):
        cams = torch.zeros(batch.shape[0], 1, *batch.shape[-2:])
        cams[..., 0] = batch[:, :1, :, 0]
        return cams
    wrong = multiscale_flip_cams(left_peak, images, flip=True)
    assert wrong[..., 0].gt(0).all() and wrong[..., -1].gt(0).all()
    with pytest.raises(SamWsssError, match='scales'):
        multiscale_flip_cams(forward_cams, images, scales=())
