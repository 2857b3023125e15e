"""Image tags from label maps, and the one cls_labels reader (JSON and the CAM literature's .npy)."""
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
