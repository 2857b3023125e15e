"""tools/convert_weak_labels.py: real "What's the Point" clicks of voc_mini, ScribbleSup XML
and label PNGs written by the test, resumability and bad input."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image

from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
from mmseg_sam_wsss.core.weak_labels import load_weak_label, read_points_json
from mmseg_sam_wsss.errors import SamWsssError

SCRIBBLE_XML = """<annotation>
  <polygon><tag>aeroplane</tag>
    <point><X>1.2</X><Y>2.9</Y></point><point><X>8.7</X><Y>2.0</Y></point></polygon>
  <polygon><tag>background</tag>
    <point><X>0</X><Y>5</Y></point><point><X>12</X><Y>5</Y></point></polygon>
  <polygon><tag>pottedplant</tag><point><X>11</X><Y>0</Y></point></polygon>
</annotation>
"""


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool(repo_root, 'convert_weak_labels')


def _click_argv(voc_mini: str, out: str, *extra: str) -> list:
    annotations = osp.join(voc_mini, 'annotations')
    return ['--format', 'whats-the-point', osp.join(annotations, 'whats_the_point.json'),
            '--bg', osp.join(annotations, 'whats_the_point_bg.json'),
            '--img-dir', osp.join(voc_mini, 'JPEGImages'), '--out', out, *extra]


def test_real_clicks_of_voc_mini(tool, voc_mini, tmp_path):
    out = str(tmp_path / 'real_point')
    assert tool.main(_click_argv(voc_mini, out)) == 0
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) + read_ids(
        osp.join(voc_mini, 'ImageSets', 'Segmentation', 'val.txt'))
    with open(osp.join(voc_mini, 'annotations', 'whats_the_point.json')) as handle:
        clicks = json.load(handle)
    on_class = on_boundary = total = 0
    for image_id in ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        points = read_points_json(osp.join(out, image_id + '.json'))
        weak = read_label_png(osp.join(out, image_id + '.png'), shape=gt.shape)
        # The PNG is the JSON's points drawn as radius-2 disks.
        np.testing.assert_array_equal(
            weak, load_weak_label(osp.join(out, image_id + '.json'), gt.shape, 21, 2))
        objects = [(x, y, c) for x, y, c in points if c != 0]
        assert len(objects) == len(clicks[image_id])
        total += len(objects)
        on_class += sum(gt[y, x] == c for x, y, c in objects)
        on_boundary += sum(gt[y, x] == 255 for x, y, _ in objects)
    # The README's measurement of the real clicks: 597 clicks, 89 % on their class, 7.5 % on
    # the 255 boundary (pixel = floor of the coordinate).
    assert total == 597 and on_class == 530 and on_boundary == 45
    with open(osp.join(out, 'weak_meta.json')) as handle:
        meta = json.load(handle)
    assert meta['weak_type'] == 'point' and meta['format'] == 'whats-the-point'
    assert meta['src'].endswith('whats_the_point.json') and meta['options'] == {'radius': 2}
    # One background click lies on the image's far edge (y == H): it is the last row's pixel.
    points = read_points_json(osp.join(out, '2007_003786.json'))
    assert any(y == 280 and c == 0 for _, y, c in points)


def test_resume_refuses_other_settings_and_skips_done(tool, voc_mini, tmp_path):
    out = str(tmp_path / 'real_point')
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('2007_000063\n2007_000068\n')
    argv = _click_argv(voc_mini, out, '--ids', str(ids_file))
    assert tool.main(argv) == 0
    stamp = os.stat(osp.join(out, '2007_000063.png')).st_mtime_ns
    assert tool.main(argv) == 0
    assert os.stat(osp.join(out, '2007_000063.png')).st_mtime_ns == stamp
    with pytest.raises(SamWsssError, match='was made by convert_weak_labels from other settings'):
        tool.main(argv + ['--radius', '4'])


def _write_images(img_dir, ids, size=(13, 10)) -> None:
    os.makedirs(img_dir, exist_ok=True)
    for image_id in ids:
        Image.new('RGB', size).save(osp.join(img_dir, image_id + '.jpg'))


def test_bad_clicks_stop_or_are_counted_with_skip_bad(tool, tmp_path):
    img_dir = str(tmp_path / 'images')
    _write_images(img_dir, ['a', 'b'])
    clicks = {'a': [{'x': 2.5, 'y': 3.5, 'cls': 8}], 'b': [{'x': 20.0, 'y': 3.0, 'cls': 8}]}
    src = tmp_path / 'clicks.json'
    src.write_text(json.dumps(clicks))
    argv = ['--format', 'whats-the-point', str(src), '--img-dir', img_dir]
    with pytest.raises(SamWsssError, match=r'clicks.json \[b\] click 0: x = 20.0 is outside'):
        tool.main(argv + ['--out', str(tmp_path / 'stop')])
    out = str(tmp_path / 'skip')
    assert tool.main(argv + ['--out', out, '--skip-bad']) == 3  # bad inputs were skipped
    assert osp.isfile(osp.join(out, 'a.png')) and not osp.isfile(osp.join(out, 'b.png'))
    label = read_label_png(osp.join(out, 'a.png'))
    assert label[3, 2] == 8 and (label == 8).sum() == 13  # a disk of radius 2
    os.remove(osp.join(img_dir, 'a.jpg'))
    with pytest.raises(SamWsssError, match='a.jpg: image not found'):
        tool.main(argv + ['--out', str(tmp_path / 'missing')])


def test_scribblesup_xml(tool, tmp_path):
    src = tmp_path / 'xml'
    src.mkdir()
    (src / 'a.xml').write_text(SCRIBBLE_XML)
    (src / 'b.xml').write_text(SCRIBBLE_XML.replace('aeroplane', 'spaceship'))
    img_dir = str(tmp_path / 'images')
    _write_images(img_dir, ['a', 'b'])
    out = str(tmp_path / 'out')
    argv = ['--format', 'scribblesup', str(src), '--img-dir', img_dir, '--out', out]
    with pytest.raises(SamWsssError, match=r"b.xml: polygon 0: unknown class name 'spaceship'"):
        tool.main(argv)
    assert tool.main(argv + ['--skip-bad']) == 3
    label = read_label_png(osp.join(out, 'a.png'), shape=(10, 13))
    assert set(np.unique(label)) == {0, 1, 16, 255} and (label[5] == 0).all()
    with open(osp.join(out, 'weak_meta.json')) as handle:
        meta = json.load(handle)
    assert meta['weak_type'] == 'scribble' and meta['options']['thickness'] == 3


def test_label_pngs_with_a_value_map(tool, tmp_path):
    src = tmp_path / 'labels'
    write_label_png(str(src / 'a.png'), np.array([[0, 1], [2, 3]], np.uint8), palette=None)
    out = str(tmp_path / 'out')
    argv = ['--format', 'png', str(src), '--out', out, '--weak-type', 'scribble',
            '--ignore-value', '0']
    with pytest.raises(SamWsssError, match=r'a.png: values \[3\] map to no class id'):
        tool.main(argv + ['--num-classes', '3', '--out', str(tmp_path / 'three')])
    assert tool.main(argv + ['--value-map', '3=20']) == 0
    np.testing.assert_array_equal(read_label_png(osp.join(out, 'a.png')), [[255, 1], [2, 20]])
    with pytest.raises(SystemExit):  # argparse: --format png needs --weak-type
        tool.main(['--format', 'png', str(src), '--out', out])
