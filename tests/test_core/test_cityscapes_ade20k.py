"""Cityscapes label ids -> train ids (cityscapesscripts' table), ids of a city layout, and
ADE20K's reduce_zero_label."""
import numpy as np
import pytest

from mmseg_sam_wsss.core import ade20k, cityscapes
from mmseg_sam_wsss.errors import SamWsssError


def test_label_ids_map_to_the_19_train_ids():
    label_ids = np.array([[7, 8, 11, 26], [0, 1, 9, 33], [23, 24, 255, 4]], np.uint8)
    train_ids = cityscapes.label_ids_to_train_ids(label_ids, 'x.png')
    assert train_ids.dtype == np.uint8
    assert train_ids.tolist() == [[0, 1, 2, 13], [255, 255, 255, 18], [10, 11, 255, 255]]
    with pytest.raises(SamWsssError, match=r'x.png: values \[34, 200\] are not Cityscapes'):
        cityscapes.label_ids_to_train_ids(np.array([[34, 200]], np.uint8), 'x.png')


def test_cityscapes_ids_walk_the_city_folders(tmp_path):
    for name in ('b/b_0_2_leftImg8bit.png', 'a/a_0_1_leftImg8bit.png', 'a/notes.txt'):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b'')
    assert cityscapes.cityscapes_ids(str(tmp_path)) == ['a/a_0_1', 'b/b_0_2']
    with pytest.raises(SamWsssError, match='no <city>/'):
        cityscapes.cityscapes_ids(str(tmp_path), '_gtCoarse_labelIds.png')


def test_reduce_zero_label_matches_mmseg(tmp_path):
    from PIL import Image

    from mmseg.datasets.transforms import LoadAnnotations  # the reference
    raw = np.array([[0, 1, 2], [150, 255, 3]], np.uint8)
    assert ade20k.reduce_zero_label(raw).tolist() == [[255, 0, 1], [149, 255, 2]]
    Image.fromarray(raw).save(tmp_path / 'raw.png')
    results = LoadAnnotations()(dict(seg_map_path=str(tmp_path / 'raw.png'),
                                     reduce_zero_label=True, seg_fields=[]))
    assert ade20k.reduce_zero_label(raw).tolist() == results['gt_seg_map'].tolist()
    assert ade20k.reduced_value_map(3) == ['1=0', '2=1', '3=2']
