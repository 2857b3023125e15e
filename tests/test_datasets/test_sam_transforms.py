"""LoadSAMMasks + SAMEnhancePseudoLabel in a real mmseg pipeline on voc_mini.

The masks are oracle-like (GT connected components plus a block grid), NOT SAM output.
"""
import os.path as osp

import numpy as np
import pytest
from helpers import GRID_ORACLE_SOURCE as ORACLE_SOURCE
from helpers import grid_oracle_masks

pytest.importorskip('mmcv.ops', reason='mmcv with ops is needed for mmseg transforms')

from mmcv.transforms import Compose  # noqa: E402

import mmseg_sam_wsss.registration  # noqa: E402,F401
from mmseg.registry import TRANSFORMS  # noqa: E402
from mmseg_sam_wsss.core.io import read_label_png  # noqa: E402
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore  # noqa: E402
from mmseg_sam_wsss.core.merge import enhance_label_file  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402

IDS = ['2007_000063', '2007_000068']


@pytest.fixture(scope='module')
def oracle_store(voc_mini, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('store'))
    store = MaskStore(root, create=True, source=ORACLE_SOURCE)
    for image_id in IDS:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, MaskSet.from_masks(grid_oracle_masks(gt, grid=3), ORACLE_SOURCE))
    return store


def results_for(voc_mini, image_id):
    return dict(img_path=osp.join(voc_mini, 'JPEGImages', image_id + '.jpg'),
                seg_map_path=osp.join(voc_mini, 'pseudo_labels', 'transcam', image_id + '.png'),
                reduce_zero_label=False, seg_fields=[])


def test_pipeline_matches_offline_tool_and_follows_geometry(voc_mini, oracle_store, tmp_path):
    load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='LoadSAMMasks', mask_root=oracle_store.root),
            dict(type='SAMEnhancePseudoLabel')]
    pipeline = Compose([TRANSFORMS.build(cfg) for cfg in load])
    geometric = Compose([TRANSFORMS.build(cfg) for cfg in load + [dict(type='RandomResize', scale=(256, 128), ratio_range=(0.5, 2.0),
                                     keep_ratio=True),
                                dict(type='RandomCrop', crop_size=(96, 96), cat_max_ratio=0.75),
                                dict(type='RandomFlip', prob=1.0)]])
    for image_id in IDS:
        enhance_label_file(image_id, osp.join(voc_mini, 'pseudo_labels', 'transcam'),
                           oracle_store.read, str(tmp_path))
        offline = read_label_png(str(tmp_path / (image_id + '.png')))
        results = pipeline(results_for(voc_mini, image_id))
        assert 'sam_masks' not in results
        np.testing.assert_array_equal(results['gt_seg_map'], offline)
        cam = read_label_png(results_for(voc_mini, image_id)['seg_map_path'])
        assert not np.array_equal(offline, cam)
        moved = geometric(results_for(voc_mini, image_id))
        assert moved['gt_seg_map'].shape == moved['img_shape'] == moved['img'].shape[:2]


def test_repr_settings_and_errors(voc_mini, oracle_store):
    enhance = TRANSFORMS.build(dict(type='SAMEnhancePseudoLabel', rule='max_iou',
                                    keep_ignore=True))
    assert "rule='max_iou'" in repr(enhance) and 'keep_ignore=True' in repr(enhance)
    load = TRANSFORMS.build(dict(type='LoadSAMMasks', mask_root=oracle_store.root))
    assert oracle_store.root in repr(load)
    assert "'majority_ratio': 0.5" in repr(enhance)  # the rule's defaults, spelled out
    with pytest.raises(SamWsssError, match='SAMEnhancePseudoLabel: unknown merge rule'):
        TRANSFORMS.build(dict(type='SAMEnhancePseudoLabel', rule='nope'))
    with pytest.raises(SamWsssError, match="rule 'sepl' has no option penalty"):
        TRANSFORMS.build(dict(type='SAMEnhancePseudoLabel', penalty=1.0))
    coverage = TRANSFORMS.build(dict(type='SAMEnhancePseudoLabel', rule='sesam_coverage',
                                     penalty=2.0))
    assert coverage.rule_options == {'penalty': 2.0, 'min_score': 0.0, 'tie_break': None,
                                     'tie_unlabelled': True}
    with pytest.raises(SamWsssError, match='put LoadSAMMasks before'):
        enhance.transform(dict(img_path='x.jpg', gt_seg_map=np.zeros((2, 2), np.uint8)))
    results = results_for(voc_mini, '2007_000121')  # not in the store
    with pytest.raises(SamWsssError, match='2007_000121.samm'):
        load(results)
    wrong_size = dict(img_path='a/2007_000063.jpg', seg_map_path='p/2007_000063.png',
                      gt_seg_map=np.zeros((10, 10), np.uint8))
    with pytest.raises(SamWsssError, match='2007_000063.png.*10x10'):
        enhance(load(wrong_size))
