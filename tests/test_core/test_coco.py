"""COCO instances -> 81-class labels: category mapping, overlaps, crowd regions, tags, errors."""
import json

import numpy as np
import pytest
from synthetic_trees import CAR, CAT, COCO_SIZE, DOG, PERSON, TOOTHBRUSH, make_coco_tree

from mmseg_sam_wsss.core.coco import (COCO_CLASS_OF_CATEGORY, COCO_CLASSES, CocoImage,
                                      image_tags, instances_to_label, read_instances,
                                      split_images)
from mmseg_sam_wsss.core.io import IGNORE_INDEX
from mmseg_sam_wsss.errors import SamWsssError


@pytest.fixture(scope='module')
def coco_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    return make_coco_tree(str(root))


def test_category_ids_with_gaps_map_to_1_to_80():
    assert len(COCO_CLASSES) == 81 and COCO_CLASSES[0] == 'background'
    assert sorted(COCO_CLASS_OF_CATEGORY.values()) == list(range(1, 81))
    assert COCO_CLASS_OF_CATEGORY[1] == 1 and COCO_CLASS_OF_CATEGORY[13] == 12  # after gap 12
    assert COCO_CLASS_OF_CATEGORY[90] == 80 and COCO_CLASSES[80] == 'toothbrush'
    assert 12 not in COCO_CLASS_OF_CATEGORY and 91 not in COCO_CLASS_OF_CATEGORY


def test_overlaps_crowd_and_rle(coco_tree):
    images = read_instances(coco_tree['train2014'])
    names, left_out = split_images(images)
    assert left_out == 1 and names == ['COCO_train2014_000000000001',
                                       'COCO_train2014_000000000002',
                                       'COCO_train2014_000000000004']
    person, car, cat, dog, toothbrush = (COCO_CLASS_OF_CATEGORY[category] for category in
                                         (PERSON, CAR, CAT, DOG, TOOTHBRUSH))
    label = instances_to_label(images['COCO_train2014_000000000001'])
    assert label.shape == COCO_SIZE and label.dtype == np.uint8
    # The dog (smaller) lies on the person (larger): the smaller keeps the overlap.
    assert label[30, 28] == dog and label[10, 10] == person and label[8, 55] == toothbrush
    assert label[46, 62] == 0 and set(np.unique(label).tolist()) == {0, person, dog, toothbrush}
    # A crowd of people over the right side: ignore where no instance lies, never over the car.
    label = instances_to_label(images['COCO_train2014_000000000002'])
    assert label[20, 45] == car and label[40, 45] == IGNORE_INDEX and label[20, 35] == car
    assert label[40, 10] == 0 and person not in np.unique(label)
    with_class = instances_to_label(images['COCO_train2014_000000000002'], crowd='class')
    assert with_class[40, 45] == person and with_class[20, 45] == car
    # An uncompressed RLE decodes like the mask it encodes.
    label = instances_to_label(images['COCO_train2014_000000000004'])
    assert (label == cat).sum() == 400 and (label[10:30, 20:40] == cat).all()
    # Tags: every annotated category, crowd included.
    assert image_tags(images['COCO_train2014_000000000002']) == sorted([person, car])
    assert image_tags(images['COCO_train2014_000000000003']) == []


def test_bad_instances_files_name_the_file(coco_tree, tmp_path):
    with open(coco_tree['train2014'], encoding='utf-8') as handle:
        raw = json.load(handle)
    with pytest.raises(SamWsssError, match='annotation file not found'):
        read_instances(str(tmp_path / 'missing.json'))
    bad = dict(raw, annotations=raw['annotations'] + [dict(raw['annotations'][0], id=9,
                                                           category_id=12)])
    path = tmp_path / 'unknown_category.json'
    path.write_text(json.dumps(bad))
    with pytest.raises(SamWsssError, match='category id 12') as error:
        read_instances(str(path))
    assert str(path) in str(error.value)
    renamed = dict(raw, categories=[dict(raw['categories'][0], name='human')])
    path = tmp_path / 'renamed.json'
    path.write_text(json.dumps(renamed))
    with pytest.raises(SamWsssError, match="'human', COCO calls it 'person'"):
        read_instances(str(path))
    path = tmp_path / 'not_coco.json'
    path.write_text(json.dumps({'images': []}))
    with pytest.raises(SamWsssError, match='not a COCO instances file'):
        read_instances(str(path))
    image = CocoImage(1, 'a.jpg', 4, 4, [dict(id=5, category_id=1, segmentation='nonsense')])
    with pytest.raises(SamWsssError, match='annotation 5 has a bad segmentation'):
        instances_to_label(image, name='x.json')
