"""Hypothesis property tests for every untrusted-file parser of the converters and the mask
store: whatever the bytes, a parser returns or raises :class:`SamWsssError`, never another
exception, and never allocates (as traced by ``tracemalloc``) above a stated bound.

Fixed budgets and ``derandomize=True`` keep the run deterministic and short (about 30 s).
pycocotools allocates in C, outside ``tracemalloc``; it only ever sees checked input.
"""
import io
import json
import os
import os.path as osp
import struct
import tempfile
import tracemalloc
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmseg_sam_wsss.core import weak_label_formats as formats
from mmseg_sam_wsss.core.cityscapes import label_ids_to_train_ids, train_id_lookup
from mmseg_sam_wsss.core.coco import CocoImage, instances_to_label, read_instances
from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import (MAGIC, MaskLimits, MaskSet, decode_mask_set,
                                            encode_mask_set)
from mmseg_sam_wsss.errors import SamWsssError

PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
SMALL = settings(PROPERTY, max_examples=100)
_SCRATCH = tempfile.mkdtemp(prefix='samwsss-hypothesis-')
# Imports are not the parsers' allocations: load Pillow's plugins (it imports them all on the
# first file it cannot identify, about 16 MB) and cityscapesscripts' table up front.
Image.init()
train_id_lookup()


def scratch(name: str, data: bytes) -> str:
    path = osp.join(_SCRATCH, name)
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def call_bounded(bound: int, function, *args, **kwargs):
    """Call ``function``; SamWsssError is an answer, any other exception fails the test, and
    so does a traced peak above ``bound`` bytes. Returns the result or the error."""
    tracemalloc.start()
    try:
        result = function(*args, **kwargs)
    except SamWsssError as error:
        assert '\n' not in str(error)
        result = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= bound, f'{peak} bytes traced, bound {bound}'
    return result


# ------------------------------------------------------------------------------ .samm files
LIMITS = MaskLimits(max_pixels=1 << 14, max_masks=32, max_runs=1 << 12)
SAMM_BOUND = 3 * LIMITS.payload_bytes() + (2 << 20)


def valid_samm(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    num_masks, height, width = int(rng.integers(0, 5)), int(rng.integers(1, 9)), \
        int(rng.integers(1, 9))
    masks = rng.random((num_masks, height, width)) > 0.5
    return encode_mask_set(MaskSet.from_masks(masks, 'oracle', {'seed': seed}),
                           image_id='a', store_uid='u')


def reseal(data: bytearray) -> bytes:
    """Recompute the checksum so a mutation reaches the parser behind it."""
    header = len(MAGIC) + 24
    if len(data) >= header + 4:
        data[header:header + 4] = struct.pack('<I', zlib.crc32(bytes(data[header + 4:])))
    return bytes(data)


def check_samm(data: bytes) -> None:
    result = call_bounded(4 * len(data) + SAMM_BOUND, decode_mask_set, data, 'x.samm', LIMITS)
    if isinstance(result, MaskSet):  # whatever decodes, decodes into its declared shape
        masks = call_bounded(SAMM_BOUND + 8 * len(result) * (LIMITS.max_pixels + 1),
                             result.decode)
        assert masks.shape == (len(result), result.height, result.width)
        assert result.height * result.width <= LIMITS.max_pixels


@PROPERTY
@given(st.binary(max_size=300))
def test_samm_random_bytes(data):
    check_samm(data)
    check_samm(MAGIC + data)
    check_samm(reseal(bytearray(MAGIC + struct.pack('<I', 1) + data)))


@PROPERTY
@given(seed=st.integers(0, 20),
       fields=st.lists(st.tuples(st.integers(1, 6), st.sampled_from(
           [0, 1, 2, 3, 7, 8, 255, 1 << 16, (1 << 31) - 1, (1 << 32) - 1])), max_size=3),
       flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 400)))
def test_samm_mutated_valid_files(seed, fields, flips, cut):
    data = bytearray(valid_samm(seed))
    for index, value in fields:  # header fields: height, width, masks, runs, json length
        offset = len(MAGIC) + 4 * index
        data[offset:offset + 4] = struct.pack('<I', value)
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[:cut]
    check_samm(reseal(data))


@PROPERTY
@given(seed=st.integers(0, 20), payload=st.binary(max_size=200),
       inflate_to=st.integers(0, 1 << 22), record=st.one_of(
           st.binary(max_size=40), st.just(b'{"source": "oracle"}')))
def test_samm_crafted_payloads(seed, payload, inflate_to, record):
    """Any header with any zlib stream, including bombs far above the declared size."""
    base = valid_samm(seed)
    header = bytearray(base[len(MAGIC):len(MAGIC) + 24])
    header[20:24] = struct.pack('<I', len(record))
    stream = zlib.compress(payload + bytes(inflate_to))
    check_samm(reseal(bytearray(MAGIC + bytes(header) + bytes(4) + record + stream)))


# -------------------------------------------------------------------------- JSON strategies
numbers = st.one_of(st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=True,
                                                                allow_infinity=True),
                    st.sampled_from([0, 1, 5, 39, 40, 59, 60, 1e300, -0.5, 2 ** 64]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=6))
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children,
                                                     max_size=4)), max_leaves=12)


def maybe(valid, invalid=json_values):
    """The valid strategy three times in four, else anything JSON (one_of would weigh the two
    alike)."""
    return st.integers(0, 3).flatmap(lambda k: invalid if k == 3 else valid)


def rarely(valid, invalid=json_values, odds=10):
    """The valid strategy but one time in ``odds``: for fields whose error stops the whole
    file or image, so that most examples reach the code behind them."""
    return st.integers(1, odds).flatmap(lambda k: invalid if k == odds else valid)


def dump(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


# ------------------------------------------------------------------------------------ COCO
COCO_MAX_PIXELS = 1 << 14
SPECIAL = [float('nan'), float('inf'), float('-inf'), 1e9, -1e300, 2 ** 70, '5', True, None,
           [1], {}]
coords = st.integers(0, 15).flatmap(lambda k: st.sampled_from(SPECIAL) if k == 15 else
                                    st.floats() if k == 14 else st.floats(-3, 12))
polygons = st.lists(rarely(st.lists(coords, min_size=6, max_size=12), st.lists(coords,
                                                                                max_size=5)),
                    min_size=1, max_size=3)


@st.composite
def rle_counts(draw):
    """Counts that add up to 8 x 9 (the small image) as often as not, else anything."""
    counts = draw(st.lists(st.integers(0, 20), max_size=6))
    fix = draw(st.sampled_from(['exact', 'over', 'negative', 'as is', 'string']))
    if fix == 'exact':
        counts.append(max(72 - sum(counts), 0))
    elif fix == 'over':
        counts.append(10 ** draw(st.integers(2, 12)))
    elif fix == 'negative':
        counts.append(-draw(st.integers(1, 5)))
    elif fix == 'string':
        ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x80), max_size=10)
        return draw(st.one_of(ascii_text, st.sampled_from(['0Q0Q', 'o~~~~1', ';'])))
    return counts


rles = st.fixed_dictionaries({'size': maybe(st.sampled_from([[8, 9], [9, 8], [8, 9, 1]])),
                              'counts': rle_counts()})
boxes = rarely(st.lists(st.floats(0, 4), min_size=4, max_size=4),
               st.one_of(st.lists(coords, min_size=4, max_size=4), st.lists(coords, max_size=5)))
coco_annotations = st.fixed_dictionaries({
    'id': st.integers(0, 99), 'image_id': rarely(st.just(1), odds=30),
    'category_id': rarely(st.sampled_from([1, 3, 90]), odds=30),
    'iscrowd': rarely(st.sampled_from([0, 1]), odds=30),
    'segmentation': rarely(st.one_of(polygons, rles), odds=20),
}, optional={'area': rarely(st.floats(0, 100), coords, odds=20),
             'bbox': rarely(boxes, odds=20)})
coco_image = st.fixed_dictionaries({
    'id': st.just(1), 'file_name': rarely(st.sampled_from(['a.jpg', 'x/b.png'])),
    'height': rarely(st.sampled_from([8, 8, 8, 40, 1]),
                     st.sampled_from([0, -3, 10 ** 6, 8.0, 8.5, None])),
    'width': rarely(st.sampled_from([9, 9, 9, 60, 1]), st.sampled_from([0, 2 ** 40, '9', 9.0]))})
coco_documents = rarely(st.fixed_dictionaries({
    'images': rarely(st.lists(coco_image, min_size=1, max_size=1),
                     st.lists(st.one_of(coco_image, json_values), max_size=3)),
    'annotations': rarely(st.lists(coco_annotations, min_size=1, max_size=3)),
    'categories': rarely(st.just([{'id': 1, 'name': 'person'}, {'id': 3, 'name': 'car'},
                                  {'id': 90, 'name': 'toothbrush'}]))}))
COCO_BOUND = 64 * COCO_MAX_PIXELS + (4 << 20)


def convert_coco(path: str):
    images = read_instances(path, COCO_MAX_PIXELS)
    for image in images.values():
        try:
            label = instances_to_label(image, 'ignore', path)
        except SamWsssError:
            continue
        assert label.shape == (image.height, image.width) and label.dtype == np.uint8
        assert image.height * image.width <= COCO_MAX_PIXELS
    return images


@PROPERTY
@given(coco_documents)
def test_coco_random_documents(document):
    call_bounded(COCO_BOUND, convert_coco, scratch('instances.json', dump(document)))


NON_FINITE = [float('nan'), float('inf'), float('-inf'), 1e300, -1e300]


def paint(annotation):
    image = CocoImage(1, 'a.jpg', 8, 9, [dict(annotation, id=1, category_id=1)])
    label = instances_to_label(image, 'ignore', 'x.json')
    assert label.shape == (8, 9)


@PROPERTY
@given(st.lists(st.lists(st.integers(0, 5).flatmap(
    lambda k: st.sampled_from(NON_FINITE) if k == 5 else st.floats() if k == 4 else
    st.floats(-2, 12)), min_size=6, max_size=10), min_size=1, max_size=2))
def test_coco_polygons_of_any_floats(polygons):
    """NaN, inf and huge coordinates never reach pycocotools (it crashes or allocates GiBs)."""
    call_bounded(COCO_BOUND, paint, {'segmentation': polygons, 'bbox': [0, 0, 1, 1]})


@PROPERTY
@given(rle_counts(), st.sampled_from([0, 1]))
def test_coco_rles_of_any_counts(counts, iscrowd):
    """RLE runs that do not add up to the image never reach pycocotools' decode."""
    call_bounded(COCO_BOUND, paint, {'segmentation': {'size': [8, 9], 'counts': counts},
                                     'iscrowd': iscrowd})


@SMALL
@given(st.binary(max_size=200))
def test_coco_random_bytes(data):
    call_bounded(COCO_BOUND, read_instances, scratch('instances.json', data), COCO_MAX_PIXELS)


# ------------------------------------------------------------------------ What's the Point
clicks = st.fixed_dictionaries({'x': maybe(st.floats(-1, 12)), 'y': maybe(st.floats(-1, 9)),
                                'cls': maybe(st.integers(-1, 22))},
                               optional={'rank': json_values})
click_files = st.one_of(json_values, st.dictionaries(
    st.text(max_size=4), maybe(st.lists(maybe(clicks), max_size=5)), max_size=3))


def convert_clicks(path: str, shape):
    for image_clicks in formats.read_click_file(path).values():
        try:
            points = formats.clicks_to_points(image_clicks, shape, 21, path)
        except SamWsssError:
            continue
        for x, y, class_id in points:
            assert 0 <= x < shape[1] and 0 <= y < shape[0] and 0 <= class_id < 21


@PROPERTY
@given(click_files, st.tuples(st.integers(1, 9), st.integers(1, 12)))
def test_whats_the_point_random_json(document, shape):
    call_bounded(1 << 20, convert_clicks, scratch('clicks.json', dump(document)), shape)


@SMALL
@given(st.binary(max_size=200))
def test_whats_the_point_random_bytes(data):
    call_bounded(1 << 20, convert_clicks, scratch('clicks.json', data), (4, 4))


# ------------------------------------------------------------------------------ ScribbleSup
xml_text = st.one_of(st.sampled_from(['1', '2.5', '0', '12', '-1', 'nan', 'inf', '1e999', '',
                                      'dog', 'background', '&amp;', '<', 'potted plant']),
                     st.text(max_size=5))
xml_names = st.sampled_from(['annotation', 'polygon', 'tag', 'point', 'X', 'Y', 'junk'])
xml_elements = st.recursive(
    st.builds(lambda name, text: f'<{name}>{text}</{name}>', xml_names, xml_text),
    lambda children: st.builds(lambda name, parts: f'<{name}>{"".join(parts)}</{name}>',
                               xml_names, st.lists(children, max_size=4)), max_leaves=14)
xml_prologs = st.sampled_from(['', '<?xml version="1.0"?>',
                               '<?xml version="1.0" encoding="latin-1"?>',
                               '<!DOCTYPE a [<!ENTITY e "x">]>', '<!doctype a>',
                               '<?xml version="1.0" encoding="bogus"?>'])
CLASS_IDS = formats.class_name_map()


def convert_scribbles(data, shape):
    scribbles = formats.parse_scribblesup_xml(data, CLASS_IDS, 'a.xml')
    label = formats.scribbles_to_label(scribbles, shape, 3, 'a.xml')
    assert label.shape == tuple(shape) and label.dtype == np.uint8


SCRIBBLE_BOUND = 8 << 20


@PROPERTY
@given(xml_prologs, xml_elements, st.tuples(st.integers(1, 9), st.integers(1, 12)),
       st.booleans())
def test_scribblesup_random_xml(prolog, element, shape, as_bytes):
    text = prolog + element
    data = text.encode('utf-8', 'surrogatepass') if as_bytes else text
    call_bounded(SCRIBBLE_BOUND, convert_scribbles, data, shape)


@SMALL
@given(st.one_of(st.binary(max_size=200), st.text(max_size=60)))
def test_scribblesup_random_bytes(data):
    call_bounded(SCRIBBLE_BOUND, convert_scribbles, data, (5, 5))


# ------------------------------------------------------------------ PNG labels, Cityscapes
PNG_MODES = ['L', 'P', 'RGB', 'RGBA', 'I;16', '1', 'LA']  # Pillow writes no 32-bit PNG
PNG_MAX_PIXELS = 1 << 10


@st.composite
def small_pngs(draw) -> bytes:
    mode = draw(st.sampled_from(PNG_MODES))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    value_range = draw(st.sampled_from([(0, 256), (0, 21), (0, 34), (250, 256)]
                                       + ([(0, 65536), (250, 300)] if mode == 'I;16' else [])))
    values = rng.integers(*value_range, size=(height, width))
    if mode == 'I;16':
        image = Image.fromarray(values.astype(np.uint16))
    else:
        image = Image.fromarray(values.astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    data = bytearray(buffer.getvalue())
    for position, value in draw(st.lists(st.tuples(st.integers(0, 10 ** 6),
                                                   st.integers(0, 255)), max_size=2)):
        data[position % len(data)] = value
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data[:cut])


def convert_png(path, shape, ignore_value, value_map, num_classes):
    label = read_label_png(path, shape=shape, max_pixels=PNG_MAX_PIXELS)
    weak_label = formats.remap_label(label, value_map, ignore_value, num_classes, path)
    assert weak_label.dtype == np.uint8 and weak_label.ndim == 2
    assert ((weak_label < num_classes) | (weak_label == 255)).all()


@PROPERTY
@given(small_pngs(), st.one_of(st.none(), st.tuples(st.integers(1, 40), st.integers(1, 40))),
       st.one_of(st.none(), st.integers(0, 255)),
       st.dictionaries(st.integers(0, 255), st.integers(0, 255), max_size=3),
       st.integers(2, 255))
def test_png_weak_labels_random_pngs(data, shape, ignore_value, value_map, num_classes):
    call_bounded(2 << 20, convert_png, scratch('label.png', data), shape, ignore_value,
                 value_map, num_classes)


def convert_cityscapes(path, shape):
    label = read_label_png(path, shape=shape, max_pixels=PNG_MAX_PIXELS)
    train_ids = label_ids_to_train_ids(label, path)
    assert ((train_ids < 19) | (train_ids == 255)).all()


@PROPERTY
@given(small_pngs(), st.one_of(st.none(), st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_cityscapes_random_pngs(data, shape):
    call_bounded(2 << 20, convert_cityscapes, scratch('coarse.png', data), shape)


@SMALL
@given(st.binary(max_size=120), st.integers(1, 1 << 20), st.integers(1, 1 << 20))
def test_png_headers_claiming_any_size(tail, width, height):
    """Header-only PNGs: nothing is decoded unless the claimed size is within the cap."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack(
            '>I', zlib.crc32(kind + data))
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0,
                                                              0, 0, 0)) + tail
    path = scratch('header.png', data)
    call_bounded(2 << 20, read_label_png, path, max_pixels=PNG_MAX_PIXELS)
    call_bounded(2 << 20, formats.image_shape, path, PNG_MAX_PIXELS)


def teardown_module():
    for name in os.listdir(_SCRATCH):
        os.remove(osp.join(_SCRATCH, name))
    os.rmdir(_SCRATCH)


def test_the_hypothesis_settings_are_fixed():
    """CI stays fast and deterministic: a fixed budget, a fixed seed, no example database."""
    assert PROPERTY.max_examples <= 200 and PROPERTY.derandomize and PROPERTY.database is None
    assert SMALL.max_examples <= PROPERTY.max_examples and SMALL.derandomize
