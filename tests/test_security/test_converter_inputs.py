"""Converters treat their annotation files as untrusted: every crafted file below gives one
line naming the file (exit 2) or a counted skip under --skip-bad (exit 3), never a segfault, a
traceback, a huge allocation, or an object tagged but silently left unpainted."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image

from mmseg_sam_wsss.core.io import read_label_png

HEIGHT, WIDTH = 40, 60
PERSON = [[5.0, 5.0, 25.0, 5.0, 25.0, 30.0, 5.0, 30.0]]  # x 5..25, y 5..30


def run_main(tool, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def one_line_error(err, path):
    lines = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1 and path in lines[0], err
    assert 'Traceback' not in err
    return lines[0]


# ----------------------------------------------------------------------------------- COCO
def rle_string(counts):
    """pycocotools' compressed RLE string of any counts (its rleToString, in Python)."""
    chars = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            char = value & 0x1f
            value >>= 5
            more = value != -1 if char & 0x10 else value != 0
            chars.append(chr((char | (0x20 if more else 0)) + 48))
    return ''.join(chars)


def coco_file(images=None, annotations=None, **overrides):
    images = images if images is not None else [
        dict(id=1, file_name='COCO_x_000000000001.jpg', height=HEIGHT, width=WIDTH)]
    annotations = annotations if annotations is not None else [
        dict(id=10, image_id=1, category_id=1, segmentation=PERSON, iscrowd=0, area=500.0,
             bbox=[5.0, 5.0, 20.0, 25.0])]
    raw = dict(images=images, annotations=annotations,
               categories=[dict(id=1, name='person'), dict(id=3, name='car')])
    raw.update(overrides)
    return raw


def with_annotation(**fields):
    annotation = dict(id=10, image_id=1, category_id=1, segmentation=PERSON, iscrowd=0,
                      area=500.0, bbox=[5.0, 5.0, 20.0, 25.0])
    annotation.update(fields)
    return coco_file(annotations=[{k: v for k, v in annotation.items() if v is not ...}])


def with_image(**fields):
    image = dict(id=1, file_name='COCO_x_000000000001.jpg', height=HEIGHT, width=WIDTH)
    image.update(fields)
    return coco_file(images=[image])


COCO_REFUSED = [
    ('NaN polygon coordinate', with_annotation(segmentation=[[5, 5, float('nan'), 5, 25, 30]]),
     'NaN or infinite'),
    ('infinite polygon coordinate',
     with_annotation(segmentation=[[5, 5, float('inf'), 5, 25, 30]]), 'NaN or infinite'),
    ('non-numeric area', with_annotation(area='big'), "area 'big'"),
    ('negative height', with_image(height=-5), 'not two positive integers'),
    ('200000x200000-pixel image', with_image(height=200000, width=200000),
     'above the limit'),
    ('string width', with_image(width='60'), 'not two positive integers'),
    ('odd coordinate count', with_annotation(segmentation=[[5, 5, 25, 5, 25, 30, 7]]),
     'odd number'),
    ('polygon far outside', with_annotation(segmentation=[[5, 5, 1e9, 5, 25, 30]]),
     'leaves the 60x40 image'),
    ('string coordinates', with_annotation(segmentation=[['5', '5', '25', '5', '25', '30']]),
     'not a list of numbers'),
    ('RLE runs past the image', with_annotation(
        iscrowd=1, segmentation={'size': [HEIGHT, WIDTH], 'counts': [0, 10 ** 7]}),
     'add up to 10000000'),
    ('RLE of another size', with_annotation(
        iscrowd=1, segmentation={'size': [HEIGHT, 2 * WIDTH], 'counts': [0, 4800]}),
     'RLE size'),
    ('garbage compressed RLE', with_annotation(
        iscrowd=1, segmentation={'size': [HEIGHT, WIDTH], 'counts': '\x01\x02~~'}),
     'bad compressed RLE'),
    ('compressed RLE past the image', with_annotation(
        iscrowd=1, segmentation={'size': [HEIGHT, WIDTH], 'counts': rle_string([0, 10 ** 7])}),
     'add up to 10000000'),
    ('infinite bbox', with_annotation(bbox=[0, 0, float('inf'), 3]), 'bbox'),
    ('bbox outside the image', with_annotation(bbox=[50, 5, 30, 5]), 'not inside'),
    ('iscrowd a string', with_annotation(iscrowd='yes'), 'iscrowd'),
    ('segmentation a number', with_annotation(segmentation=7), 'segmentation is int'),
    ('degenerate polygon and no box', with_annotation(segmentation=[[5, 5, 9, 9]], bbox=...),
     'paints no pixel'),
    ('no segmentation and an empty box', with_annotation(segmentation=..., bbox=[3, 3, 0, 0]),
     'paints no pixel'),
]
COCO_FILE_REFUSED = [
    ('two images with one id', coco_file(images=[
        dict(id=1, file_name='COCO_x_000000000001.jpg', height=HEIGHT, width=WIDTH),
        dict(id=1, file_name='COCO_x_000000000002.jpg', height=HEIGHT, width=WIDTH)]),
     'two images have id 1'),
    ('a top-level list', [1, 2], 'not a COCO instances file'),
    ('images not objects', coco_file(images=[3]), 'image entry'),
    ('file_name not a string', with_image(file_name=5), 'needs an integer "id" and a'),
    ('image_id a list', with_annotation(image_id=[1]), 'which the file does not list'),
    ('category_id a list', with_annotation(category_id=[1]), 'has category id [1]'),
    ('categories not objects', coco_file(categories=['person']), 'a category is'),
]


@pytest.fixture(scope='module')
def coco_tool(repo_root):
    return load_tool(repo_root, 'convert_coco')


def write_json(path, raw):
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(raw, handle)
    return str(path)


@pytest.mark.parametrize('what,raw,message', COCO_REFUSED + COCO_FILE_REFUSED,
                         ids=[case[0] for case in COCO_REFUSED + COCO_FILE_REFUSED])
def test_coco_crafted_files_give_one_line(coco_tool, tmp_path, capsys, what, raw, message):
    ann = write_json(tmp_path / 'instances.json', raw)
    code, _, err = run_main(coco_tool, ['--ann', ann, '--out', str(tmp_path / 'out')], capsys)
    assert code == 2, what
    assert message in one_line_error(err, ann)


@pytest.mark.parametrize('what,raw,message', COCO_REFUSED, ids=[c[0] for c in COCO_REFUSED])
def test_coco_bad_images_are_counted_and_left_out_under_skip_bad(coco_tool, tmp_path, capsys,
                                                                 what, raw, message):
    good = dict(id=2, file_name='COCO_x_000000000002.jpg', height=HEIGHT, width=WIDTH)
    raw = dict(raw, images=raw['images'] + [good], annotations=raw['annotations'] + [
        dict(id=20, image_id=2, category_id=3, segmentation=PERSON, iscrowd=0, area=500.0)])
    ann, out = write_json(tmp_path / 'instances.json', raw), str(tmp_path / 'out')
    code, stdout, err = run_main(coco_tool, ['--ann', ann, '--out', out, '--skip-bad'], capsys)
    assert code == 3, what
    assert message in err and '1 written' in stdout and '1 bad' in stdout
    with open(osp.join(out, 'cls_labels.json'), encoding='utf-8') as handle:
        assert json.load(handle) == {'COCO_x_000000000002': [3]}  # the bad image is not tagged
    assert not osp.exists(osp.join(out, 'COCO_x_000000000001.png'))


def test_coco_nan_polygon_does_not_crash_the_process(repo_root, tmp_path):
    """pycocotools segfaulted on it: run the tool in its own process."""
    ann = write_json(tmp_path / 'instances.json', COCO_REFUSED[0][1])
    result = subprocess.run([sys.executable, osp.join(repo_root, 'tools', 'convert_coco.py'),
                             '--ann', ann, '--out', str(tmp_path / 'out')],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert 'NaN or infinite' in one_line_error(result.stderr, ann)


@pytest.mark.parametrize('segmentation', [..., [[5, 5, 9, 9]], [[10, 10, 10, 10, 10, 10]]],
                         ids=['bbox only', 'polygon of two points', 'polygon of no area'])
def test_coco_degenerate_objects_are_painted_from_their_box(coco_tool, tmp_path, capsys,
                                                            segmentation):
    raw = with_annotation(segmentation=segmentation, bbox=[10.5, 20.0, 4.0, 2.2])
    ann, out = write_json(tmp_path / 'instances.json', raw), str(tmp_path / 'out')
    code, _, err = run_main(coco_tool, ['--ann', ann, '--out', out], capsys)
    assert code == 0, err
    label = read_label_png(osp.join(out, 'COCO_x_000000000001.png'))
    expected = np.zeros((HEIGHT, WIDTH), np.uint8)
    expected[20:23, 10:15] = 1  # floor(x)..ceil(x + w) - 1, likewise in y
    np.testing.assert_array_equal(label, expected)


# --------------------------------------------------------------------------- weak labels
@pytest.fixture(scope='module')
def weak_tool(repo_root):
    return load_tool(repo_root, 'convert_weak_labels')


def voc_images(directory, ids=('a', ), size=(WIDTH, HEIGHT)):
    directory.mkdir(exist_ok=True)
    for image_id in ids:
        Image.new('RGB', size).save(directory / f'{image_id}.jpg')
    return str(directory)
