"""WeakLabelDataset / WeakVOCDataset built from config dicts on voc_mini."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmseg_sam_wsss.registration  # noqa: F401  (registers the datasets)
from mmseg.registry import DATASETS
from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
from mmseg_sam_wsss.core.rng import image_rng
from mmseg_sam_wsss.core.weak_labels import write_points_json
from mmseg_sam_wsss.simulation.weak_label_synthesis import synthesize_points
from mmseg_sam_wsss.errors import SamWsssError


@pytest.fixture()
def weak_voc(voc_mini, tmp_path):
    """3 voc_mini train ids with point labels as PNG and JSON under tmp_path."""
    init_default_scope('mmseg')
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'))[:3]
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(ids) + '\n')
    weak_dir = tmp_path / 'weak'
    tags = {}
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        weak_label, points = synthesize_points(gt_label, image_rng(0, image_id))
        write_label_png(str(weak_dir / (image_id + '.png')), weak_label)
        write_points_json(str(weak_dir / (image_id + '.json')), points, gt_label.shape)
        tags[image_id] = sorted(set(np.unique(gt_label).tolist()) - {0, 255})
    return dict(root=voc_mini, ids=ids, ids_file=str(ids_file), weak_dir=str(weak_dir), tags=tags,
                tmp_path=tmp_path)


def _config(weak_voc, **overrides):
    config = dict(type='WeakVOCDataset', weak_type='point', data_root=weak_voc['root'],
                  data_prefix=dict(img_path='JPEGImages', seg_map_path='pseudo_labels/transcam',
                                   weak_label_path=weak_voc['weak_dir']),
                  ann_file=weak_voc['ids_file'], pipeline=[])
    config.update(overrides)
    return config


@pytest.mark.parametrize('suffix', ['.png', '.json'])
def test_dataset_yields_weak_label_path_and_tags(weak_voc, suffix):
    dataset = DATASETS.build(_config(weak_voc, weak_label_suffix=suffix))
    assert len(dataset) == 3
    for index, image_id in enumerate(weak_voc['ids']):
        info = dataset.get_data_info(index)
        assert info['weak_label_path'] == osp.join(weak_voc['weak_dir'], image_id + suffix)
        assert info['seg_map_path'].endswith(osp.join('transcam', image_id + '.png'))
        assert info['image_tags'].dtype == np.int64
        # Points label every GT component of >= 16 px, so the tags are the GT's classes here.
        assert info['image_tags'].tolist() == weak_voc['tags'][image_id]
    assert dataset.metainfo['classes'][0] == 'background' and len(dataset.metainfo['classes']) == 21


def test_dataset_runs_a_pipeline(weak_voc):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    dataset = DATASETS.build(_config(weak_voc, pipeline=pipeline))
    results = dataset[0]
    assert results['gt_seg_map'].shape == results['img'].shape[:2]
    assert results['weak_label_path'].endswith('.png') and 'image_tags' in results


def test_image_tags_from_cls_labels_and_image_type(weak_voc):
    cls_path = weak_voc['tmp_path'] / 'cls_labels.json'
    cls_path.write_text(json.dumps({image_id: [7] for image_id in weak_voc['ids']}))
    dataset = DATASETS.build(_config(weak_voc, weak_type='image', cls_labels=str(cls_path)))
    assert dataset.get_data_info(0)['weak_label_path'] is None
    assert dataset.get_data_info(0)['image_tags'].tolist() == [7]
    multi_hot = np.zeros(20)
    multi_hot[[0, 14]] = 1  # aeroplane and person
    npy_path = str(weak_voc['tmp_path'] / 'cls_labels.npy')
    np.save(npy_path, {image_id: multi_hot for image_id in weak_voc['ids']})
    dataset = DATASETS.build(_config(weak_voc, weak_type='image', cls_labels=npy_path))
    assert dataset.get_data_info(1)['image_tags'].tolist() == [1, 15]
    gt_tags = DATASETS.build(_config(weak_voc, weak_type='image', data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClass')))
    assert gt_tags.get_data_info(2)['image_tags'].tolist() == weak_voc['tags'][weak_voc['ids'][2]]


def test_dataset_errors_name_the_file(weak_voc):
    missing = osp.join(weak_voc['weak_dir'], weak_voc['ids'][0] + '.png')
    config = _config(weak_voc)
    config['data_prefix'] = dict(config['data_prefix'], weak_label_path=str(
        weak_voc['tmp_path'] / 'nowhere'))
    with pytest.raises(SamWsssError, match='weak label not found'):
        DATASETS.build(config)
    with pytest.raises(SamWsssError, match='weak_type'):
        DATASETS.build(_config(weak_voc, weak_type='box'))
    no_weak = _config(weak_voc)
    no_weak['data_prefix'] = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
    with pytest.raises(SamWsssError, match='weak_label_path'):
        DATASETS.build(no_weak)
    (weak_voc['tmp_path'] / 'tags.json').write_text(json.dumps({'other': [1]}))
    with pytest.raises(SamWsssError, match='no tags'):
        DATASETS.build(_config(weak_voc, cls_labels=str(weak_voc['tmp_path'] / 'tags.json')))
    assert osp.isfile(missing)
