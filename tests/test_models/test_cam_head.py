"""CAMHead loss/prediction on hand-made tensors, CAMSegmentor predict, LoadImageTags sources."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmseg_sam_wsss.registration  # noqa: F401  (registers the plugin)
from mmseg.registry import MODELS, TRANSFORMS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules
from mmseg_sam_wsss.errors import SamWsssError

register_all_modules(init_default_scope=True)


def build_head(**kwargs):
    cfg = dict(type='CAMHead', in_channels=8, channels=8, num_classes=4, in_index=0,
               norm_cfg=dict(type='BN'))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def sample_with_tags(tags, shape=(6, 6)):
    return SegDataSample(metainfo=dict(image_tags=np.array(tags, dtype=np.int64),
                                       ori_shape=shape, img_shape=shape, pad_shape=shape))


def test_head_has_one_map_per_foreground_class():
    head = build_head()
    cams = head((torch.rand(2, 8, 5, 7), ))
    assert cams.shape == (2, 3, 5, 7)
    assert head.conv_seg.bias is None
    projected = build_head(channels=4)
    assert projected((torch.rand(1, 8, 5, 5), )).shape == (1, 3, 5, 5)


def test_loss_equals_multilabel_soft_margin():
    head = build_head()
    cams = torch.randn(2, 3, 4, 4)
    samples = [sample_with_tags([1, 3]), sample_with_tags([2])]
    losses = head.loss_by_feat(cams, samples)
    assert set(losses) == {'loss_cls', 'acc_cls'}
    scores = cams.mean(dim=(2, 3))
    target = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    expected = torch.nn.MultiLabelSoftMarginLoss()(scores, target)
    assert losses['loss_cls'].item() == pytest.approx(expected.item(), rel=1e-5)
    accuracy = ((scores > 0).float() == target).float().mean().item() * 100
    assert losses['acc_cls'].item() == pytest.approx(accuracy)
    # max pooling changes the scores the loss sees
    max_losses = build_head(pool='max').loss_by_feat(cams, samples)
    expected_max = torch.nn.MultiLabelSoftMarginLoss()(cams.amax(dim=(2, 3)), target)
    assert max_losses['loss_cls'].item() == pytest.approx(expected_max.item(), rel=1e-5)


def test_loss_needs_tags_and_a_sigmoid_loss():
    head = build_head()
    with pytest.raises(SamWsssError, match='LoadImageTags'):
        head.loss_by_feat(torch.randn(1, 3, 2, 2), [SegDataSample()])
    with pytest.raises(SamWsssError, match='sigmoid'):
        build_head(loss_decode=dict(type='CrossEntropyLoss', loss_name='loss_cls'))
    with pytest.raises(SamWsssError, match='pool'):
        build_head(pool='median')


def test_cams_to_results_suppresses_untagged_classes():
    head = build_head(bg_thresh=0.3)
    cams = torch.zeros(3, 1, 3)
    cams[0] = torch.tensor([[4.0, 0.0, 0.0]])    # class 1: not tagged, strongest
    cams[1] = torch.tensor([[2.0, 1.0, 0.2]])    # class 2: tagged
    all_cams, pseudo_label, class_ids = head.cams_to_results(cams, [2])
    assert class_ids.tolist() == [2]
    assert all_cams[0].abs().sum() == 0 and all_cams[1, 0, 0] == pytest.approx(1.0, abs=1e-4)
    assert pseudo_label.tolist() == [[2, 2, 0]]   # 0.2 / 2 = 0.1 < 0.3 -> background
    _, untagged, _ = head.cams_to_results(cams, None)
    assert untagged.tolist() == [[1, 2, 0]]


def test_segmentor_predict_fills_pseudo_label_and_cams(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sam_wsss/cam_r50_voc.py'))
    model_cfg = cfg.model
    model_cfg.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    model_cfg.decode_head.update(in_channels=512, channels=512, norm_cfg=dict(type='BN'))
    model_cfg.test_cfg.update(scales=(0.5, 1.0), flip=True)
    model = MODELS.build(model_cfg).eval()
    sample = sample_with_tags([5, 12], shape=(40, 56))
    sample.set_metainfo(dict(img_shape=(32, 48), pad_shape=(32, 48), padding_size=[0, 0, 0, 0]))
    with torch.no_grad():
        result = model.predict(torch.rand(1, 3, 32, 48), [sample])[0]
    assert result.pred_sem_seg.data.shape == (1, 40, 56)
    assert set(result.pred_sem_seg.data.unique().tolist()) <= {0, 5, 12}
    seg_logits = result.seg_logits.data
    assert seg_logits.shape == (21, 40, 56)
    assert torch.all(seg_logits[0] == 0.15)
    untagged = [c for c in range(1, 21) if c not in (5, 12)]
    assert seg_logits[untagged].abs().sum() == 0
    assert float(seg_logits[1:].max()) <= 1.0
    # the pseudo-label is the argmax of seg_logits (background channel = bg_thresh)
    agree = (seg_logits.argmax(0) == result.pred_sem_seg.data[0]).float().mean()
    assert agree > 0.99


def test_load_image_tags_sources(tmp_path):
    label = np.array([[0, 3], [255, 15]], dtype=np.uint8)
    transform = TRANSFORMS.build(dict(type='LoadImageTags'))
    assert transform(dict(gt_seg_map=label))['image_tags'].tolist() == [3, 15]
    kept = transform(dict(gt_seg_map=label, image_tags=[7]))['image_tags']
    assert kept.dtype == np.int64 and kept.tolist() == [7]
    assert 'num_classes=21' in repr(transform)

    json_file = tmp_path / 'tags.json'
    json_file.write_text(json.dumps({'2007_000032': [1, 15]}))
    from_json = TRANSFORMS.build(dict(type='LoadImageTags', cls_labels_file=str(json_file)))
    assert from_json(dict(img_path='x/2007_000032.jpg'))['image_tags'].tolist() == [1, 15]
    with pytest.raises(SamWsssError, match='no tags'):
        from_json(dict(img_path='x/2007_000039.jpg'))

    npy_file = str(tmp_path / 'cls_labels.npy')
    multi_hot = np.zeros(20, np.float32)
    multi_hot[[0, 14]] = 1
    np.save(npy_file, {2007000032: multi_hot, '2008_000002': np.eye(20)[3]})
    from_npy = TRANSFORMS.build(dict(type='LoadImageTags', cls_labels_file=npy_file))
    assert from_npy(dict(img_path='2007_000032.jpg'))['image_tags'].tolist() == [1, 15]
    assert from_npy(dict(img_path='2008_000002.jpg'))['image_tags'].tolist() == [4]

    with pytest.raises(SamWsssError, match='foreground'):
        transform(dict(image_tags=[0, 3]))
    with pytest.raises(SamWsssError, match='LoadAnnotations'):
        transform(dict(img_path='a.jpg'))
    with pytest.raises(SamWsssError, match='not found'):
        TRANSFORMS.build(dict(type='LoadImageTags', cls_labels_file=str(tmp_path / 'no.json')))


@pytest.mark.parametrize('backbone, channels', [
    (dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )), 512),
    (dict(type='mmpretrain.VisionTransformer', img_size=64, patch_size=16, out_type='featmap',
          out_indices=[-1], arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                                      feedforward_channels=96)), 48),
])
def test_mmpretrain_backbones_train_a_cam_head(repo_root, backbone, channels):
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sam_wsss/cam_r50_voc.py'))
    # The shipped config names mmseg's ImageNet ResNet-50-V1c; another backbone brings its own
    # weights through its init_cfg (none here), as the config header says.
    cfg.model.backbone = backbone
    cfg.model.pretrained = None
    cfg.model.decode_head.update(in_channels=channels, channels=channels,
                                 norm_cfg=dict(type='BN'))
    model = MODELS.build(cfg.model)
    samples = [sample_with_tags([3], (64, 64)), sample_with_tags([1, 20], (64, 64))]
    losses = model.loss(torch.rand(2, 3, 64, 64), samples)
    assert set(losses) == {'decode.loss_cls', 'decode.acc_cls'}
    losses['decode.loss_cls'].backward()
    assert model.decode_head.conv_seg.weight.grad.abs().sum() > 0
