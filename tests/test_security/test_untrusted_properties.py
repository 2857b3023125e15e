"""Property tests (Hypothesis, fixed seed and budget) of the readers of untrusted files: a
``cls_labels`` file, a ``.provenance.json`` record, the ``.outputs`` list and an id.

Each reader either gives its documented result or raises the one-line :class:`SamWsssError`;
any other exception, a multi-line message, a path outside ``--out`` or code run from a file is
a failure.
"""
import io
import json
import os
import os.path as osp
import pickle
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmseg_sam_wsss.core.image_tags import read_cls_labels
from mmseg_sam_wsss.core.output_paths import (MANIFEST_NAME, check_output_ids, output_path,
                                              read_manifest)
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.provenance import (PROVENANCE_NAME, OutputRecord, read_record,
                                             release_output_folders)

PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
NUM_CLASSES = 21


def one_line(error: SamWsssError) -> None:
    assert '\n' not in str(error) and str(error)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# cls_labels ------------------------------------------------------------------------------------


class _Marker:
    """Unpickling it would create ``path``: proof that a file ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


_MARKER_DIR = tempfile.mkdtemp(prefix='hypothesis-marker-')
_MARKER = osp.join(_MARKER_DIR, 'ran')

# Small Python and NumPy values, as a cls_labels pickle may hold them, and some it may not.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=True), st.text(max_size=8), st.binary(max_size=8),
                     st.integers(-5, 30).map(np.int64), st.floats(0, 1).map(np.float32),
                     st.complex_numbers(max_magnitude=10))
_arrays = st.one_of(
    st.lists(st.integers(0, 1), max_size=25).map(lambda v: np.asarray(v, np.float32)),
    st.lists(st.integers(-3, 30), max_size=6).map(lambda v: np.asarray(v, np.int64)),
    st.lists(st.floats(), max_size=4).map(np.asarray),
    st.lists(st.text(max_size=3), max_size=3).map(lambda v: np.asarray(v, dtype=object)))
_forbidden = st.sampled_from([_Marker(_MARKER), os.getcwd, np.load, OutputRecord,
                              frozenset({1}), {1, 2}, range(3), slice(1), Exception('x')])
_values = st.recursive(_scalars | _arrays | _forbidden,
                       lambda children: st.lists(children, max_size=4)
                       | st.tuples(children, children)
                       | st.dictionaries(st.text(max_size=4) | st.integers(), children,
                                         max_size=4),
                       max_leaves=12)


def _npy_of(value) -> bytes:
    array = np.empty((), dtype=object)
    array[()] = value
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _read_tags(data: bytes, suffix: str = '.npy'):
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, 'cls_labels' + suffix)
        with open(path, 'wb') as handle:
            handle.write(data)
        try:
            tags = read_cls_labels(path, NUM_CLASSES)
        except SamWsssError as error:
            one_line(error)
            return None
    assert isinstance(tags, dict)
    for image_id, class_ids in tags.items():
        assert isinstance(image_id, str) and class_ids.dtype == np.int64
        assert ((class_ids > 0) & (class_ids < NUM_CLASSES)).all()
    return tags


@PROPERTY
@given(data=st.binary(max_size=300))
def test_cls_labels_of_random_bytes(data):
    _read_tags(data)
    _read_tags(data, '.json')


_NPY_OBJECT_HEADER = _npy_of(None)[:128]


@PROPERTY
@given(data=st.binary(max_size=300), protocol=st.integers(0, 5))
def test_cls_labels_of_random_bytes_behind_a_valid_object_header(data, protocol):
    """The header passes, so the bytes reach the restricted unpickler."""
    _read_tags(_NPY_OBJECT_HEADER + pickle.PROTO + bytes([protocol]) + data)
    assert not osp.exists(_MARKER)


@PROPERTY
@given(value=_values)
def test_cls_labels_of_random_small_pickles(value):
    _read_tags(_npy_of(value))
    assert not osp.exists(_MARKER)


_TAGS = st.dictionaries(st.from_regex(r'20[01][0-9]_[0-9]{6}', fullmatch=True),
                        st.lists(st.integers(1, NUM_CLASSES - 1), max_size=5), max_size=6)


@PROPERTY
@given(tags=_TAGS, multi_hot=st.booleans(), as_json=st.booleans())
def test_cls_labels_of_random_valid_dicts(tags, multi_hot, as_json):
    expected = {key: sorted(set(value)) for key, value in tags.items()}

    def encode(class_ids):
        if not multi_hot:
            return list(class_ids)
        vector = np.zeros(NUM_CLASSES - 1, np.float32)
        vector[np.asarray(class_ids, np.int64) - 1] = 1
        return vector.tolist() if as_json else vector

    raw = {key: encode(value) for key, value in tags.items()}
    data = json.dumps(raw).encode() if as_json else _npy_of(raw)
    read = _read_tags(data, '.json' if as_json else '.npy')
    assert {key: value.tolist() for key, value in read.items()} == expected


# .provenance.json and .outputs -----------------------------------------------------------------


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=12),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=5),
                     max_leaves=20)
_record_like = st.fixed_dictionaries({}, optional={
    'format': _json | st.just(2), 'tool': _json | st.just('tool'), 'version': _json,
    'uid': _json, 'inputs': _json | st.dictionaries(st.text(max_size=6), _json, max_size=3),
    'settings': _json | st.just({'seed': 0}),
    'outputs': _json | st.lists(st.sampled_from(['*.png', '../x/*', '/abs/*', 'a/*.png']),
                                max_size=3),
    'created': _json})


@PROPERTY
@given(record=_json | _record_like, overwrite=st.booleans())
def test_random_provenance_records(record, overwrite):
    """Reading it, comparing with it, resuming or overwriting: a result or one line, and
    nothing outside ``--out`` is touched."""
    with tempfile.TemporaryDirectory() as root:
        out, outside = osp.join(root, 'out'), osp.join(root, 'x')
        os.makedirs(out)
        os.makedirs(outside)
        with open(osp.join(outside, 'keep.png'), 'w') as handle:
            handle.write('outside')
        with open(osp.join(out, PROVENANCE_NAME), 'w') as handle:
            json.dump(record, handle)
        try:
            read = read_record(out)
            assert isinstance(read, dict)
            OutputRecord(out, 'tool', {}, {'seed': 0}, ['*.png']).check_or_write(overwrite)
        except SamWsssError as error:
            one_line(error)
        finally:
            release_output_folders()
        assert os.listdir(outside) == ['keep.png']


_line = st.one_of(st.text(max_size=20),
                  st.sampled_from(['a.png', 'city/a.png', '../x/keep.png', '/etc/passwd',
                                   'link/keep.png', PROVENANCE_NAME, '.', 'a//b', 'a\\b']),
                  st.binary(max_size=12).map(os.fsdecode))


@PROPERTY
@given(lines=st.lists(_line, max_size=8))
def test_random_lists_of_written_outputs(lines):
    with tempfile.TemporaryDirectory() as root:
        out, outside = osp.join(root, 'out'), osp.join(root, 'x')
        os.makedirs(out)
        os.makedirs(outside)
        os.symlink(outside, osp.join(out, 'link'))
        with open(osp.join(outside, 'keep.png'), 'w') as handle:
            handle.write('outside')
        with open(osp.join(out, MANIFEST_NAME), 'wb') as handle:
            handle.write(b'\n'.join(os.fsencode(line) for line in lines))
        try:
            listed = read_manifest(out)
        except SamWsssError as error:
            one_line(error)
            return
        real_out = osp.realpath(out)
        for relative in listed:  # removing it touches only its folder, which lies inside
            folder = osp.realpath(osp.dirname(osp.join(out, relative)))
            assert _within(folder, real_out) and relative.split('/')[-1] not in (
                PROVENANCE_NAME, MANIFEST_NAME, '.lock')


# ids ---------------------------------------------------------------------------------------------


_id_text = st.lists(st.sampled_from(list('ab./\\_-') + ['..', 'link', '\x00', '\n', 'é',
                                                          '\udcff']),
                    max_size=8).map(''.join)


@PROPERTY
@given(image_id=_id_text | st.text(max_size=12), suffix=st.sampled_from(['', '.png', '_conf.png']),
       nested=st.booleans())
def test_random_ids_name_a_path_inside_out_or_one_line(image_id, suffix, nested):
    with tempfile.TemporaryDirectory() as root:
        out, outside = osp.join(root, 'out'), osp.join(root, 'x')
        os.makedirs(osp.join(out, 'a'))
        os.makedirs(outside)
        os.symlink(outside, osp.join(out, 'link'))
        try:
            path = output_path(out, image_id, suffix, nested)
        except SamWsssError as error:
            one_line(error)
            with pytest.raises(SamWsssError):
                check_output_ids(out, [image_id], (suffix, ), nested)
            return
        check_output_ids(out, [image_id], (suffix, ), nested)
        assert path == osp.join(out, image_id + suffix)
        real_out = osp.realpath(out)
        assert _within(osp.realpath(path), real_out) and osp.realpath(path) != real_out
        assert image_id.count('/') <= (1 if nested else 0)
