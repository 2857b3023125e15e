"""LoadWeakLabel and PackSemiSegInputs: the weak label is its own map and follows the geometry.

A hand-made RandomCrop case where the old packed codes (``sam + 256 * (weak + 1)``) chose a
different crop than the class ids do, and the real SeSAM config pipeline on voc_mini images.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmseg_sam_wsss.registration  # noqa: F401  (registers the transforms and datasets)
from mmseg.registry import DATASETS, TRANSFORMS
from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
from mmseg_sam_wsss.core.rng import image_rng
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.simulation.weak_label_synthesis import make_weak_label

IGN = 255
NUM_IDS = 4


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def test_load_weak_label_adds_its_own_seg_field(tmp_path):
    weak = np.full((3, 4), IGN, np.uint8)
    weak[1, 2] = 7
    write_label_png(str(tmp_path / 'a.png'), weak)
    sam = np.ones((3, 4), np.uint8)
    results = dict(img_shape=(3, 4), gt_seg_map=sam.copy(), seg_fields=['gt_seg_map'],
                   weak_label_path=str(tmp_path / 'a.png'))
    results = TRANSFORMS.build(dict(type='LoadWeakLabel'))(results)
    assert results['seg_fields'] == ['gt_seg_map', 'gt_weak_label']
    np.testing.assert_array_equal(results['gt_seg_map'], sam)  # untouched class ids
    np.testing.assert_array_equal(results['gt_weak_label'], weak)
    assert results['gt_weak_label'].dtype == np.uint8
    tags_only = TRANSFORMS.build(dict(type='LoadWeakLabel'))(
        dict(img_shape=(3, 4), seg_fields=[], weak_label_path=None))
    assert (tags_only['gt_weak_label'] == IGN).all() and tags_only['gt_weak_label'].shape == (3, 4)
    with pytest.raises(SamWsssError, match='LoadImageFromFile'):
        TRANSFORMS.build(dict(type='LoadWeakLabel'))(dict(weak_label_path=None))


def test_random_crop_cat_max_ratio_counts_classes_not_packed_codes(tmp_path, monkeypatch):
    """SAM label: class 1 in columns 0..5, class 2 in 6..7; weak points of class 1 in columns
    0..1. The first 4x4 crop tried (columns 0..3) is all class 1, so ``cat_max_ratio=0.75``
    rejects it and the second (columns 4..7, half 1, half 2) is taken. Packed codes split
    class 1 into two "categories" and accepted the first crop."""
    sam = np.zeros((4, 8), np.uint8)
    sam[:, :6], sam[:, 6:] = 1, 2
    weak = np.full((4, 8), IGN, np.uint8)
    weak[:, :2] = 1
    weak[0, 5] = 1
    write_label_png(str(tmp_path / 'weak.png'), weak)
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(4, 4), cat_max_ratio=0.75))

    def crop_with_offsets(results):
        offsets = iter([0, 4])  # x offsets of the crops tried; y has no margin (always 0)
        monkeypatch.setattr(np.random, 'randint',
                            lambda low, high: 0 if high == 1 else next(offsets))
        return crop(results)

    results = dict(img=np.zeros((4, 8, 3), np.uint8), img_shape=(4, 8), gt_seg_map=sam,
                   seg_fields=['gt_seg_map'], weak_label_path=str(tmp_path / 'weak.png'))
    results = crop_with_offsets(TRANSFORMS.build(dict(type='LoadWeakLabel'))(results))
    assert results['img_shape'] == (4, 4)
    assert results['gt_seg_map'].tolist() == [[1, 1, 2, 2]] * 4
    assert results['gt_weak_label'].tolist() == [[IGN, 1, IGN, IGN]] + [[IGN] * 4] * 3

    packed = sam.astype(np.uint16) + 256 * ((weak.astype(np.uint16) + 1) % 256)
    packed_results = crop_with_offsets(dict(img=np.zeros((4, 8, 3), np.uint8),
                                            gt_seg_map=packed, seg_fields=['gt_seg_map']))
    assert (packed_results['gt_seg_map'] % 256).tolist() == [[1, 1, 1, 1]] * 4


@pytest.fixture()
def coarse_voc(voc_mini, tmp_path):
    """NUM_IDS voc_mini train ids with coarse weak labels synthesised from their GT."""
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'))[:NUM_IDS]
    (tmp_path / 'ids.txt').write_text('\n'.join(ids) + '\n')
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        weak_label, _ = make_weak_label(gt_label, 'coarse', image_rng(0, image_id))
        write_label_png(str(tmp_path / 'weak' / (image_id + '.png')), weak_label)
    return dict(root=voc_mini, ids_file=str(tmp_path / 'ids.txt'),
                weak_dir=str(tmp_path / 'weak'))


def test_sesam_config_pipeline_moves_the_weak_label_with_the_image(repo_root, coarse_voc):
    """The real train pipeline of configs/sesam/deeplabv3_voc_coarse.py, with the GT standing
    in for the SeSAM label so geometry can be checked: the coarse weak label is a subset of
    the GT, so after RandomResize, RandomCrop and RandomFlip every weak pixel must still sit
    on a GT pixel of its class, and every map must have the image's shape."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'sesam', 'deeplabv3_voc_coarse.py'))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=coarse_voc['root'], ann_file=coarse_voc['ids_file'],
                       data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass',
                                        weak_label_path=coarse_voc['weak_dir']))
    dataset = DATASETS.build(dataset_cfg)
    transforms = dataset.pipeline.transforms
    names = [type(transform).__name__ for transform in transforms]
    assert names[2:6] == ['LoadWeakLabel', 'RandomResize', 'RandomCrop', 'RandomFlip']
    assert names[-1] == 'PackSemiSegInputs'
    flips, weak_pixels = set(), 0
    for seed in range(3):
        np.random.seed(seed)
        for index in range(len(dataset)):
            results = dataset.get_data_info(index)
            for transform in transforms[:-1]:
                results = transform(results)
            shape = tuple(results['img_shape'][:2])
            assert shape == results['img'].shape[:2] and max(shape) <= 512
            assert {'gt_seg_map', 'gt_weak_label'} <= set(results['seg_fields'])
            gt_label, weak_label = results['gt_seg_map'], results['gt_weak_label']
            for label in (gt_label, weak_label):
                assert label.shape == shape
                assert set(np.unique(label).tolist()) <= set(range(21)) | {IGN}  # class ids
            labelled = weak_label != IGN
            np.testing.assert_array_equal(weak_label[labelled], gt_label[labelled])
            weak_pixels += int(labelled.sum())
            flips.add(bool(results['flip']))

            packed = transforms[-1](results)
            sample = packed['data_samples']
            assert packed['inputs'].shape[-2:] == shape
            assert sample.gt_weak_label.data.shape == sample.gt_sem_seg.data.shape == (1, ) + shape
            assert sample.gt_weak_label.data.dtype == torch.int64
            assert torch.equal(sample.gt_weak_label.data[0], torch.from_numpy(
                weak_label.astype(np.int64)))
    assert flips == {True, False}  # both branches of RandomFlip were exercised
    assert weak_pixels > 10000


def test_student_teacher_views_share_the_geometry_and_split_the_photometry():
    """After RandomFlip, StudentTeacherViews keeps the flipped clean crop for the teacher and
    distorts only the student's copy; PackSemiSegInputs packs both in the same layout."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (12, 16, 3)).astype(np.uint8)
    label = rng.integers(0, 3, (12, 16)).astype(np.uint8)
    results = dict(img=image.copy(), img_shape=(12, 16), ori_shape=(12, 16),
                   gt_seg_map=label.copy(), seg_fields=['gt_seg_map'])
    pipeline = [TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal')),
                TRANSFORMS.build(dict(type='StudentTeacherViews')),
                TRANSFORMS.build(dict(type='PackSemiSegInputs'))]
    assert 'PhotoMetricDistortion' in repr(pipeline[1])
    np.random.seed(3)  # PhotoMetricDistortion draws from NumPy's global state
    for transform in pipeline[:2]:
        results = transform(results)
    np.testing.assert_array_equal(results['teacher_img'], image[:, ::-1])
    np.testing.assert_array_equal(results['gt_seg_map'], label[:, ::-1])
    assert results['img'].shape == image.shape and not np.array_equal(results['img'],
                                                                      image[:, ::-1])
    packed = pipeline[2](results)
    teacher = packed['data_samples'].teacher_img
    assert teacher.shape == packed['inputs'].shape == (3, 12, 16)
    np.testing.assert_array_equal(teacher.numpy(), image[:, ::-1].transpose(2, 0, 1))
    with pytest.raises(SamWsssError, match='changed the image size'):
        TRANSFORMS.build(dict(type='StudentTeacherViews', student_transforms=[
            dict(type='Resize', scale=(8, 8))]))(dict(img=image.copy(), img_shape=(12, 16)))
