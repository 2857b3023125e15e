"""Image tags from label maps (with or without a background class), and the one cls_labels
reader (JSON and the CAM literature's .npy)."""
import json

import numpy as np
import pytest

from mmseg_sam_wsss.core.image_tags import (check_image_tags, image_tags_from_label,
                                            read_cls_labels)
from mmseg_sam_wsss.errors import SamWsssError


def test_image_tags_exclude_background_and_ignore():
    label = np.array([[0, 0, 15], [255, 3, 15]], dtype=np.uint8)
    tags = image_tags_from_label(label, num_classes=21)
    assert tags.dtype == np.int64 and tags.tolist() == [3, 15]
    assert image_tags_from_label(np.zeros((2, 2), np.uint8), 21).tolist() == []
    with pytest.raises(SamWsssError, match='num_classes'):
        image_tags_from_label(np.array([[30]]), num_classes=21)
    with pytest.raises(SamWsssError, match='foreground'):
        check_image_tags([0, 4], 21, 'x.json')


def test_json_and_npy_give_the_same_tags_in_either_value_form(tmp_path):
    multi_hot = np.zeros(20, np.float32)
    multi_hot[[0, 14]] = 1  # classes 1 and 15
    json_path = tmp_path / 'tags.json'
    json_path.write_text(json.dumps({'2007_000032': [15, 1], '2007_000039': []}))
    # IRN's cls_labels.npy: integer-encoded ids, multi-hot values; id lists work in .npy too
    npy_path = str(tmp_path / 'tags.npy')
    np.save(npy_path, {2007000032: multi_hot, '2007_000039': []})
    from_json = read_cls_labels(str(json_path), 21)
    from_npy = read_cls_labels(npy_path, 21)
    for tags in (from_json, from_npy):
        assert sorted(tags) == ['2007_000032', '2007_000039']
        assert tags['2007_000032'].tolist() == [1, 15]
        assert tags['2007_000039'].tolist() == []
    # a multi-hot vector in JSON is read like the .npy one
    json_path.write_text(json.dumps({'a': multi_hot.astype(int).tolist()}))
    assert read_cls_labels(str(json_path), 21)['a'].tolist() == [1, 15]


@pytest.mark.parametrize('content, match', [
    ('{"a": [0, 3]}', 'foreground'),
    ('{"a": [21]}', 'foreground'),
    ('[1, 2]', 'expected a dict'),
    ('{not json', 'cannot read'),
])
def test_bad_cls_labels_name_the_file(tmp_path, content, match):
    path = tmp_path / 'tags.json'
    path.write_text(content)
    with pytest.raises(SamWsssError, match=match) as error:
        read_cls_labels(str(path), 21)
    assert str(path) in str(error.value)
    with pytest.raises(SamWsssError, match='not found'):
        read_cls_labels(str(tmp_path / 'missing.json'), 21)
    with pytest.raises(SamWsssError, match='unknown cls_labels format'):
        (tmp_path / 'tags.txt').write_text('a 1')
        read_cls_labels(str(tmp_path / 'tags.txt'), 21)


def test_background_is_a_setting_and_none_makes_every_class_a_tag(tmp_path):
    label = np.array([[0, 0, 7], [255, 3, 18]], dtype=np.uint8)  # Cityscapes: road is class 0
    assert image_tags_from_label(label, 19, background_index=None).tolist() == [0, 3, 7, 18]
    assert image_tags_from_label(label, 19, background_index=3).tolist() == [0, 7, 18]
    assert check_image_tags([0, 18], 19, 'x', background_index=None).tolist() == [0, 18]
    with pytest.raises(SamWsssError, match='background 3'):
        check_image_tags([3], 19, 'x', background_index=3)
    with pytest.raises(SamWsssError, match='background_index=19'):
        image_tags_from_label(label, 19, background_index=19)
    # Without background a multi-hot vector has one entry per class, entry c for class c.
    multi_hot = np.zeros(19, np.int64)
    multi_hot[[0, 13]] = 1
    path = tmp_path / 'tags.json'
    path.write_text(json.dumps({'aachen_000000_000019': multi_hot.tolist(), 'b': [0, 5]}))
    tags = read_cls_labels(str(path), 19, background_index=None)
    assert tags['aachen_000000_000019'].tolist() == [0, 13] and tags['b'].tolist() == [0, 5]
    with pytest.raises(SamWsssError, match='foreground'):
        read_cls_labels(str(path), 19)  # with background 0, class 0 is no tag


def test_load_image_tags_takes_the_background_setting():
    from mmseg_sam_wsss.datasets.transforms import LoadImageTags
    label = np.array([[0, 2], [2, 255]], np.uint8)
    voc = LoadImageTags(num_classes=21)
    cityscapes = LoadImageTags(num_classes=19, background_index=None)
    assert voc(dict(gt_seg_map=label))['image_tags'].tolist() == [2]
    assert cityscapes(dict(gt_seg_map=label))['image_tags'].tolist() == [0, 2]
    assert 'background_index=None' in repr(cityscapes)
    with pytest.raises(SamWsssError, match='LoadImageTags.background_index=21'):
        LoadImageTags(num_classes=21, background_index=21)
