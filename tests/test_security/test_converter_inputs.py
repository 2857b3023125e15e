"""Converters treat their annotation files as untrusted: every crafted file below gives one
line naming the file (exit 2) or a counted skip under --skip-bad (exit 3), never a segfault, a
traceback, a huge allocation, or an object tagged but silently left unpainted."""
import io
import json
import os.path as osp
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.errors import SamWsssError

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


def header_only_png(width, height, mode_byte=0):
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey) and holds no pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data)))

    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8,
                                                              mode_byte, 0, 0, 0))
            + chunk(b'IEND', b''))


def huge_chunk_png():
    """A tiny grey PNG whose image-data chunk claims 2 GiB (Pillow allocated all of it)."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((HEIGHT, WIDTH), np.uint8)).save(buffer, format='PNG')
    data = buffer.getvalue()
    start = data.index(b'IDAT') - 4
    return data[:start] + (2147483000).to_bytes(4, 'big') + data[start + 4:]


def test_label_png_with_a_huge_chunk_is_refused_before_pillow_allocates(tmp_path):
    path = tmp_path / 'a.png'
    path.write_bytes(huge_chunk_png())
    tracemalloc.start()
    try:
        with pytest.raises(SamWsssError, match='truncated or corrupt'):
            read_label_png(str(path))
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 1 << 20


def write_clicks(path, clicks):
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(clicks, handle)  # NaN and Infinity are written as JSON's extensions
    return str(path)


CLICKS_REFUSED = [
    ('NaN x', {'a': [{'x': float('nan'), 'y': 1, 'cls': 1}]}, 'x = nan is not a number'),
    ('infinite y', {'a': [{'x': 1, 'y': float('inf'), 'cls': 1}]}, 'y = inf is not a number'),
    ('boolean x', {'a': [{'x': True, 'y': 1, 'cls': 1}]}, 'x = True is not a number'),
    ('negative x', {'a': [{'x': -3, 'y': 1, 'cls': 1}]}, 'x = -3 is outside'),
    ('infinite class', {'a': [{'x': 1, 'y': 1, 'cls': float('inf')}]}, 'class inf is not'),
    ('class name', {'a': [{'x': 1, 'y': 1, 'cls': 'person'}]}, "class 'person' is not"),
    ('class 300', {'a': [{'x': 1, 'y': 1, 'cls': 300}]}, 'class 300 is not a class id'),
    ('click a list', {'a': [[1, 1, 1]]}, 'expected {"x", "y", "cls"}'),
    ('top level a list', [{'x': 1}], 'expected {image_id'),
    ('clicks not a list', {'a': {'x': 1}}, 'expected {image_id'),
]


@pytest.mark.parametrize('what,clicks,message', CLICKS_REFUSED,
                         ids=[case[0] for case in CLICKS_REFUSED])
def test_whats_the_point_crafted_clicks_give_one_line(weak_tool, tmp_path, capsys, what,
                                                      clicks, message):
    src = write_clicks(tmp_path / 'clicks.json', clicks)
    code, _, err = run_main(weak_tool, [src, '--format', 'whats-the-point', '--img-dir',
                                        voc_images(tmp_path / 'img'), '--ids',
                                        str(write_ids(tmp_path, ['a'])),
                                        '--out', str(tmp_path / 'out')], capsys)
    assert code == 2, what
    assert message in one_line_error(err, src)


def write_ids(tmp_path, ids):
    path = tmp_path / 'ids.txt'
    path.write_text(''.join(f'{image_id}\n' for image_id in ids))
    return path


@pytest.mark.parametrize('what,data,message', [
    ('nested 100000 deep', b'[' * 100000 + b']' * 100000, 'not valid JSON'),
    ('not UTF-8', b'{"a": "\xff"}', 'not valid JSON'),
], ids=['nested 100000 deep', 'not UTF-8'])
def test_whats_the_point_broken_json_gives_one_line(weak_tool, tmp_path, capsys, what, data,
                                                    message):
    src = tmp_path / 'clicks.json'
    src.write_bytes(data)
    code, _, err = run_main(weak_tool, [str(src), '--format', 'whats-the-point', '--img-dir',
                                        voc_images(tmp_path / 'img'),
                                        '--out', str(tmp_path / 'out')], capsys)
    assert code == 2, what
    assert message in one_line_error(err, str(src))


@pytest.mark.parametrize('size,message', [((100000, 100000), 'cannot read the image header'),
                                          ((5000, 5000), 'above the limit of 16777216 px')],
                         ids=['100000x100000 header', '5000x5000 header'])
def test_image_headers_claiming_huge_sizes_are_refused(weak_tool, tmp_path, capsys, size,
                                                       message):
    images = tmp_path / 'img'
    images.mkdir()
    (images / 'a.jpg').write_bytes(header_only_png(*size))
    src = write_clicks(tmp_path / 'clicks.json', {'a': [{'x': 1, 'y': 1, 'cls': 1}]})
    code, _, err = run_main(weak_tool, [src, '--format', 'whats-the-point', '--img-dir',
                                        str(images), '--out', str(tmp_path / 'out')], capsys)
    assert code == 2
    assert message in one_line_error(err, str(images / 'a.jpg'))


def scribble_xml(points='<point><X>1</X><Y>2</Y></point><point><X>9</X><Y>2</Y></point>',
                 tag='dog', prolog=''):
    return (f'{prolog}<annotation><polygon><tag>{tag}</tag>{points}</polygon>'
            '</annotation>').encode()


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + ''.join(
    f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i else "&lol;") * 10}">' for i in range(9)) + ']>')
ZIGZAG = ''.join(f'<point><X>{0 if i % 2 else WIDTH}</X><Y>{0 if i % 2 else HEIGHT}</Y></point>'
                 for i in range(200))
SCRIBBLES_REFUSED = [
    ('billion laughs', scribble_xml(tag='&lol8;', prolog=BILLION_LAUGHS), 'DOCTYPE or an ENTITY'),
    ('external entity', scribble_xml(tag='&xxe;', prolog='<!DOCTYPE a [<!ENTITY xxe SYSTEM '
                                     '"file:///etc/passwd">]>'), 'DOCTYPE or an ENTITY'),
    ('not XML', b'<annotation><polygon>', 'not valid XML'),
    ('not UTF-8', scribble_xml(tag='dXg').replace(b'dXg', b'd\xffg'), 'not valid XML'),
    ('NaN vertex', scribble_xml('<point><X>nan</X><Y>2</Y></point>'), 'x = nan is not'),
    ('infinite vertex', scribble_xml('<point><X>1</X><Y>1e999</Y></point>'), 'y = inf is not'),
    ('negative vertex', scribble_xml('<point><X>-4</X><Y>2</Y></point>'), 'x = -4.0 is outside'),
    ('missing X', scribble_xml('<point><Y>2</Y></point>'), 'numeric <X> and <Y>'),
    ('unknown class', scribble_xml(tag='unicorn'), "unknown class name 'unicorn'"),
    ('no points', scribble_xml(''), 'has no <point>'),
    ('scribbles 200 image diagonals long', scribble_xml(ZIGZAG), 'px long, more than'),
]


def convert_one_scribblesup(weak_tool, tmp_path, capsys, data: bytes):
    """Convert one ScribbleSup file ``xml/a.xml`` holding ``data``: (exit code, stderr)."""
    src = tmp_path / 'xml'
    src.mkdir()
    (src / 'a.xml').write_bytes(data)
    code, _, err = run_main(weak_tool, [str(src), '--format', 'scribblesup', '--img-dir',
                                        voc_images(tmp_path / 'img'),
                                        '--out', str(tmp_path / 'out')], capsys)
    return code, err


@pytest.mark.parametrize('what,data,message', SCRIBBLES_REFUSED,
                         ids=[case[0] for case in SCRIBBLES_REFUSED])
def test_scribblesup_crafted_xml_gives_one_line(weak_tool, tmp_path, capsys, what, data,
                                                message):
    code, err = convert_one_scribblesup(weak_tool, tmp_path, capsys, data)
    assert code == 2, what
    assert message in one_line_error(err, str(tmp_path / 'xml' / 'a.xml'))


def test_scribblesup_files_over_16_mib_are_not_read(weak_tool, tmp_path, capsys):
    code, err = convert_one_scribblesup(weak_tool, tmp_path, capsys,
                                        scribble_xml() + b' ' * (16 << 20))
    assert code == 2 and 'larger than 16777216 bytes' in one_line_error(err, 'a.xml')


PNGS_REFUSED = [
    ('RGB colours', lambda path: Image.new('RGB', (WIDTH, HEIGHT), (1, 2, 3)).save(path),
     "mode 'RGB'"),
    ('value 77', lambda path: Image.fromarray(np.full((HEIGHT, WIDTH), 77, np.uint8)).save(path),
     'values [77] map to no class id'),
    ('16-bit value 40000', lambda path: Image.fromarray(
        np.full((HEIGHT, WIDTH), 40000, np.uint16)).save(path), 'outside 0..255'),
    ('truncated', lambda path: (Image.fromarray(np.zeros((HEIGHT, WIDTH), np.uint8)).save(path),
                                path.write_bytes(path.read_bytes()[:60])),
     'the file is truncated or corrupt'),
    ('a 2 GiB image-data chunk claimed', lambda path: path.write_bytes(huge_chunk_png()),
     "chunk b'IDAT' claims 2147483000 bytes"),
    ('100000x100000 header', lambda path: path.write_bytes(header_only_png(100000, 100000)),
     'cannot read label PNG'),
    ('5000x5000 of zeros', lambda path: Image.new('L', (5000, 5000)).save(path),
     'above the limit of 16777216 px'),
    ('not a PNG', lambda path: path.write_bytes(b'hello'), 'cannot read label PNG'),
]


@pytest.mark.parametrize('what,make,message', PNGS_REFUSED,
                         ids=[case[0] for case in PNGS_REFUSED])
def test_png_weak_labels_crafted_files_give_one_line(weak_tool, tmp_path, capsys, what, make,
                                                     message):
    src = tmp_path / 'png'
    src.mkdir()
    make(src / 'a.png')
    code, _, err = run_main(weak_tool, [str(src), '--format', 'png', '--weak-type', 'coarse',
                                        '--ignore-value', '0', '--out', str(tmp_path / 'out')],
                            capsys)
    assert code == 2, what
    assert message in one_line_error(err, str(src / 'a.png'))


# ----------------------------------------------------------------------------- Cityscapes
CITY_FRAME = 'aachen/aachen_000000_000019'


def cityscapes_root(tmp_path, image=None, label=None):
    """A one-image Cityscapes tree; ``image``/``label`` write the files (default: good)."""
    root = tmp_path / 'cityscapes'
    for folder in ('leftImg8bit', 'gtCoarse'):
        (root / folder / 'train' / 'aachen').mkdir(parents=True)
    image_path = root / 'leftImg8bit' / 'train' / f'{CITY_FRAME}_leftImg8bit.png'
    label_path = root / 'gtCoarse' / 'train' / f'{CITY_FRAME}_gtCoarse_labelIds.png'
    (image or (lambda path: Image.new('RGB', (WIDTH, HEIGHT)).save(path)))(image_path)
    (label or (lambda path: Image.fromarray(np.full((HEIGHT, WIDTH), 7, np.uint8)).save(
        path)))(label_path)
    return str(root), str(image_path), str(label_path)


CITYSCAPES_REFUSED = [
    ('label id 200', None, lambda path: Image.fromarray(
        np.full((HEIGHT, WIDTH), 200, np.uint8)).save(path), 'not Cityscapes label ids', 1),
    ('colour label', None, lambda path: Image.new('RGB', (WIDTH, HEIGHT)).save(path),
     "mode 'RGB'", 1),
    ('label of another size', None, lambda path: Image.new('L', (WIDTH, 2 * HEIGHT)).save(path),
     'but its image', 1),
    ('truncated label', None, lambda path: path.write_bytes(header_only_png(WIDTH, HEIGHT)),
     'cannot read label PNG', 1),
    ('label claiming a 2 GiB chunk', None, lambda path: path.write_bytes(huge_chunk_png()),
     'truncated or corrupt', 1),
    ('image header of 100000x100000', lambda path: path.write_bytes(
        header_only_png(100000, 100000, 2)), None, 'cannot read the image header', 0),
    ('image header of 5000x5000', lambda path: path.write_bytes(
        header_only_png(5000, 5000, 2)), None, 'above the limit', 0),
]


@pytest.fixture(scope='module')
def cityscapes_tool(repo_root):
    return load_tool(repo_root, 'convert_cityscapes')


@pytest.mark.parametrize('what,image,label,message,named',
                         CITYSCAPES_REFUSED, ids=[case[0] for case in CITYSCAPES_REFUSED])
def test_cityscapes_crafted_files_give_one_line(cityscapes_tool, tmp_path, capsys, what, image,
                                                label, message, named):
    root, image_path, label_path = cityscapes_root(tmp_path, image, label)
    code, _, err = run_main(cityscapes_tool, ['--root', root, '--out', str(tmp_path / 'out')],
                            capsys)
    assert code == 2, what
    assert message in one_line_error(err, (image_path, label_path)[named])


def test_cityscapes_good_tree_converts(cityscapes_tool, tmp_path, capsys):
    root, _, _ = cityscapes_root(tmp_path)
    out = tmp_path / 'out'
    code, _, err = run_main(cityscapes_tool, ['--root', root, '--out', str(out)], capsys)
    assert code == 0, err
    assert (read_label_png(str(out / f'{CITY_FRAME}.png')) == 0).all()  # label id 7 is road
