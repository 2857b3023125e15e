"""VOCAugDataset: VOC train_aug in mmseg's voc_aug layout, one id list, labels from VOC's GT
folder first and SBD's second, with one clear line when a label or the list is missing."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from synthetic_trees import make_voc_aug_tree

import mmseg_sam_wsss.registration  # noqa: F401  (registers the datasets)
from mmseg.registry import DATASETS, TRANSFORMS
from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.errors import SamWsssError


@pytest.fixture()
def voc_aug(voc_mini, tmp_path):
    init_default_scope('mmseg')
    root = str(tmp_path / 'VOC2012')
    return dict(root=root, ids=make_voc_aug_tree(voc_mini, root))


def build(voc_aug, **overrides):
    config = dict(type='VOCAugDataset', data_root=voc_aug['root'],
                  data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                  ann_file='ImageSets/Segmentation/trainaug.txt', pipeline=[])
    config.update(overrides)
    return DATASETS.build(config)


def test_labels_come_from_voc_first_then_sbd(voc_aug):
    dataset = build(voc_aug)
    ids = voc_aug['ids']
    assert len(dataset) == len(ids['train']) + len(ids['aug'])
    load = TRANSFORMS.build(dict(type='LoadAnnotations'))
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        image_id = osp.splitext(osp.basename(info['img_path']))[0]
        folder = 'SegmentationClassAug' if image_id in ids['aug'] else 'SegmentationClass'
        assert info['seg_map_path'] == osp.join(voc_aug['root'], folder, image_id + '.png')
        loaded = load(dict(info, seg_fields=[]))['gt_seg_map']
        assert np.array_equal(loaded, read_label_png(info['seg_map_path']))
    # train.txt alone: VOC's 1,464-image protocol, every label from SegmentationClass
    train_only = build(voc_aug, ann_file='ImageSets/Segmentation/train.txt')
    assert [osp.dirname(train_only.get_data_info(i)['seg_map_path'])
            for i in range(len(train_only))] == \
        [osp.join(voc_aug['root'], 'SegmentationClass')] * len(voc_aug['ids']['train'])


def test_a_missing_label_names_the_id_and_the_converter(voc_aug):
    missing = voc_aug['ids']['aug'][1]
    os.remove(osp.join(voc_aug['root'], 'SegmentationClassAug', missing + '.png'))
    with pytest.raises(SamWsssError, match=f'{missing}.png.*voc_aug.py'):
        build(voc_aug)


def test_no_fallback_means_every_label_in_seg_map_path(voc_aug):
    with pytest.raises(SamWsssError, match=voc_aug['ids']['aug'][0]):
        build(voc_aug, fallback_seg_map_path=None)


def test_a_missing_trainaug_list_says_where_it_comes_from(voc_aug):
    os.remove(osp.join(voc_aug['root'], 'ImageSets', 'Segmentation', 'trainaug.txt'))
    with pytest.raises(SamWsssError, match=r'trainaug.txt: not found.*voc_aug.py.*train.txt'):
        build(voc_aug)
