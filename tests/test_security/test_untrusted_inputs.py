"""Files are data, never instructions (issue 21, points 1-4 and 7): crafted files, one table per
class, each a case that misbehaved before the fix.

1. A ``cls_labels.npy`` cannot run code; the pickled dicts of PSA/IRN still read.
2. An id cannot put an output outside ``--out``.
3. ``--overwrite`` removes only what the tool wrote, inside ``--out``.
4. Two runs cannot write into one ``--out`` at once.
7. A checkpoint torch will not load with ``weights_only=True`` is one line naming the file.
"""
import json
import os
import os.path as osp
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import last_error, load_tool, run_main

from mmseg_sam_wsss.core.image_tags import read_cls_labels
from mmseg_sam_wsss.core.io import atomic_write, write_label_png
from mmseg_sam_wsss.core.output_paths import (MANIFEST_NAME, check_output_ids, output_path,
                                              read_manifest)
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.provenance import (PROVENANCE_NAME, OutputRecord,
                                             release_output_folders)

IDS = ['2007_000063', '2007_000068']


@pytest.fixture(autouse=True)
def _release():
    yield
    release_output_folders()



# 1. Code execution --------------------------------------------------------------------------


class _Payload:
    """Unpickling this calls ``function(*args)``: what a crafted file does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _crafted_npy(path, payload) -> None:
    """A ``.npy`` whose object array holds ``payload`` (np.save pickles it)."""
    array = np.empty((), dtype=object)
    array[()] = payload
    np.save(path, array, allow_pickle=True)


def _marker_payloads(marker):
    return {
        'open() creates a file': _Payload(open, marker, 'w'),
        'os.system': _Payload(os.system, f'touch {marker}'),
        'eval': _Payload(eval, f'open({marker!r}, "w")'),
        'inside the dict': {'2007_000032': _Payload(open, marker, 'w')},
        'an unknown class': {'2007_000032': [1], 'x': _Payload(shutil.copy, __file__, marker)},
    }


@pytest.mark.parametrize('case', list(_marker_payloads('m')))
def test_a_crafted_cls_labels_npy_runs_no_code(tmp_path, case):
    marker = str(tmp_path / 'ran')
    path = str(tmp_path / 'cls_labels.npy')
    _crafted_npy(path, _marker_payloads(marker)[case])
    with pytest.raises(SamWsssError, match=r'cls_labels\.npy: refused to unpickle') as error:
        read_cls_labels(path, 21)
    assert '\n' not in str(error.value)
    assert not osp.exists(marker)  # np.load(allow_pickle=True) created it


def test_the_pickled_dicts_of_psa_and_irn_still_read(tmp_path):
    multi_hot = np.zeros(20, np.float32)
    multi_hot[[0, 14]] = 1
    path = str(tmp_path / 'cls_labels.npy')
    np.save(path, {'2007_000032': multi_hot, 2007000039: np.array([3]), '2007_000042': [5, 6],
                   '2007_000061': (np.int64(7), ), '2007_000063': []})
    tags = read_cls_labels(path, 21)
    assert {key: value.tolist() for key, value in tags.items()} == {
        '2007_000032': [1, 15], '2007_000039': [3], '2007_000042': [5, 6],
        '2007_000061': [7], '2007_000063': []}
    # a protocol-5 pickle of the same dict (out-of-band buffers rebuilt with _frombuffer)
    array = np.empty((), dtype=object)
    array[()] = {'2007_000032': multi_hot}
    with open(path, 'wb') as handle:
        np.lib.format.write_array_header_1_0(handle, {'descr': '|O', 'fortran_order': False,
                                                      'shape': ()})
        handle.write(pickle.dumps(array, protocol=5))
    assert read_cls_labels(path, 21)['2007_000032'].tolist() == [1, 15]


def test_a_cls_labels_header_cannot_claim_a_huge_array(tmp_path):
    """64 bytes that claim a 60000 x 60000 float64 array are refused before numpy allocates."""
    import io
    import tracemalloc
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f8', 'fortran_order': False,
                                                  'shape': (60000, 60000)})
    path = tmp_path / 'cls_labels.npy'
    path.write_bytes(header.getvalue() + bytes(64))
    tracemalloc.start()
    try:
        with pytest.raises(SamWsssError, match=r'claims \(60000, 60000\) float64'):
            read_cls_labels(str(path), 21)
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


def test_prediction_scores_are_never_unpickled(repo_root, tmp_path):
    """sesam_pseudo_labels reads ``<id>.npy`` softmax scores with ``allow_pickle=False``: an
    object array is one line (it was a ValueError traceback), and never runs."""
    sesam = load_tool(repo_root, 'sesam_pseudo_labels')
    marker = str(tmp_path / 'ran')
    _crafted_npy(str(tmp_path / 'a.npy'), _Payload(open, marker, 'w'))
    with pytest.raises(SamWsssError, match=r'a\.npy: not a readable \.npy array'):
        sesam.read_prediction(str(tmp_path), 'a', (4, 4), 21, 0.9)
    assert not osp.exists(marker)


# 2. Paths that escape --out -------------------------------------------------------------------


ESCAPING_IDS = [
    ('../x', True, r"'\.\.' component"),
    ('city/../../x', True, r"'\.\.' component"),
    ('/tmp/x', True, 'absolute path'),
    ('a\\..\\..\\x', True, 'backslash'),
    ('a\x00b', True, 'control character'),
    ('a\nb', True, 'control character'),
    ('sub/x', False, 'names a sub-folder'),
    ('a/b/c', True, 'nested more than 1 folder deep'),
    ('', False, 'is empty'),
    ('.', False, r"'\.' or '\.\.'"),
    ('x' * 300, False, 'longer than 255 bytes'),
    (MANIFEST_NAME, False, 'keep for themselves'),
    ('link/x', True, 'symbolic link leading outside'),
]


@pytest.mark.parametrize('image_id, nested, message', ESCAPING_IDS)
def test_ids_that_would_escape_out_are_one_line(tmp_path, image_id, nested, message):
    out = tmp_path / 'out'
    out.mkdir()
    (tmp_path / 'elsewhere').mkdir()
    (out / 'link').symlink_to(tmp_path / 'elsewhere')
    suffix = '' if image_id == MANIFEST_NAME else '.png'
    for check in (lambda: output_path(str(out), image_id, suffix, nested),
                  lambda: check_output_ids(str(out), ['ok', image_id], (suffix, ), nested)):
        with pytest.raises(SamWsssError, match=message) as error:
            check()
        assert '\n' not in str(error.value) and 'would not write inside --out' in str(
            error.value)
    assert output_path(str(out), 'city/frame', '.png', nested=True) == str(
        out / 'city' / 'frame.png')


def test_a_crafted_id_list_writes_nothing_outside_out(voc_mini, repo_root, tmp_path, capsys):
    """The probe: with ``../../victim/<id>`` in ``--ids`` the GT reader found
    ``root/data/gt/../../victim/<id>.png`` and the tool wrote ``root/out/../../victim/<id>.png``,
    a folder above ``--out`` (over a user's file of that name)."""
    root = tmp_path / 'root'
    gt = root / 'data' / 'gt'
    gt.mkdir(parents=True)
    (root / 'victim').mkdir()
    for image_id in IDS:
        shutil.copy(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'), gt)
    shutil.copy(gt / f'{IDS[0]}.png', root / 'victim')
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text(f'{IDS[1]}\n../../victim/{IDS[0]}\n')
    tool = load_tool(repo_root, 'make_weak_labels')
    assert run_main(tool, ['--gt', str(gt), '--out', str(root / 'out'), '--ids', str(ids_file),
                           '--type', 'point']) == 2
    assert f"id '../../victim/{IDS[0]}': has an empty, '.' or '..' component" in last_error(
        capsys)
    assert not (tmp_path / 'victim').exists()
    assert not (root / 'out').exists()  # refused before anything was written


# 3. --overwrite deletes only what this tool wrote ---------------------------------------------


def _record(out, seed, outputs=('*.png', )):
    return OutputRecord(str(out), 'tool', {}, {'seed': seed}, outputs=list(outputs))


def _legacy_record(out, patterns):
    """A record as older versions wrote it (format 1, glob patterns, no list of files)."""
    out.mkdir(exist_ok=True)
    (out / PROVENANCE_NAME).write_text(json.dumps(
        {'format': 1, 'tool': 'tool', 'version': '0', 'uid': 'u', 'inputs': {},
         'settings': {'seed': 0}, 'outputs': patterns}))


def _victim(tmp_path):
    victim = tmp_path / 'victim'
    victim.mkdir(exist_ok=True)
    (victim / 'thesis.png').write_text('years of work')
    return victim


OVERWRITE_CASES = {
    # what the record or list says, what must survive, the one line
    'a record pattern outside --out': (
        lambda out, tmp: _legacy_record(out, ['../victim/*', '*.png']),
        'made by an older version that did not list'),
    'an absolute record pattern': (
        lambda out, tmp: _legacy_record(out, [str(tmp / 'victim' / '*.png')]),
        'made by an older version that did not list'),
    'a list naming a file outside': (
        lambda out, tmp: (_record(out, 0).check_or_write(), release_output_folders(),
                          (out / MANIFEST_NAME).write_text('a.png\n../victim/thesis.png\n')),
        r"line 2 '\.\./victim/thesis\.png' has an empty, '\.' or '\.\.' component"),
    'a list naming an absolute path': (
        lambda out, tmp: (_record(out, 0).check_or_write(), release_output_folders(),
                          (out / MANIFEST_NAME).write_text(f'{tmp}/victim/thesis.png\n')),
        'line 1 .* is an absolute path'),
    'a list through a symbolic link': (
        lambda out, tmp: (_record(out, 0).check_or_write(), release_output_folders(),
                          (out / 'link').symlink_to(tmp / 'victim'),
                          (out / MANIFEST_NAME).write_text('link/thesis.png\n')),
        'its folder is a symbolic link leading outside'),
    'a record that is not a record': (
        lambda out, tmp: (out.mkdir(), (out / PROVENANCE_NAME).write_text(
            '{"outputs": "../victim", "settings": []}')),
        'not a provenance record'),
}


@pytest.mark.parametrize('case', list(OVERWRITE_CASES))
def test_overwrite_never_deletes_outside_out(tmp_path, case):
    victim = _victim(tmp_path)
    out = tmp_path / 'out'
    craft, message = OVERWRITE_CASES[case]
    craft(out, tmp_path)
    (out / 'a.png').write_text('an output')
    with pytest.raises(SamWsssError, match=message) as error:
        _record(out, 1).check_or_write(overwrite=True)
    assert '\n' not in str(error.value)
    assert (victim / 'thesis.png').read_text() == 'years of work'
    assert (out / 'a.png').exists()  # a bad list removes nothing at all


def test_overwrite_removes_nested_outputs_and_keeps_the_users_files(tmp_path):
    """Flat patterns (``*.png``) missed ``<dir>/<id>`` outputs, so they survived an overwrite
    under new settings; and they matched the user's own ``figure.png``."""
    out = tmp_path / 'out'
    _record(out, 0).check_or_write()
    for name in ('a.png', 'aachen/frame_1.png', 'aachen/frame_2.png'):
        with atomic_write(str(out / name)) as handle:
            handle.write(b'old settings')
    (out / 'figure.png').write_text('mine')
    assert sorted(read_manifest(str(out))) == ['a.png', 'aachen/frame_1.png',
                                               'aachen/frame_2.png']
    release_output_folders()
    _record(out, 1).check_or_write(overwrite=True)
    assert sorted(os.listdir(out)) == ['.lock', PROVENANCE_NAME, 'figure.png']


def test_overwrite_refuses_outputs_that_no_list_names(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'figure.png').write_text('mine')
    with pytest.raises(SamWsssError, match=r'holds 1 files .* \(figure\.png\) but no record '
                                           'lists them'):
        _record(out, 0).check_or_write(overwrite=True)
    assert (out / 'figure.png').exists()


# 4. Two runs, one --out -----------------------------------------------------------------------


HOLDER = textwrap.dedent('''
    import sys
    from mmseg_sam_wsss.core.io import atomic_write
    from mmseg_sam_wsss.utils.provenance import OutputRecord
    OutputRecord(sys.argv[1], 'make_weak_labels', {}, {'seed': 7}, ['*.png']).check_or_write()
    with atomic_write(sys.argv[1] + '/old_run.png') as handle:
        handle.write(b'an output of the run that will be killed')
    print('locked', flush=True)
    sys.stdin.read()
''')


def _start_holder(out):
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert holder.stdout.readline().strip() == 'locked'
    return holder


def test_a_second_run_into_the_same_out_is_refused(voc_mini, repo_root, tmp_path, capsys):
    out = tmp_path / 'out'
    holder = _start_holder(out)
    try:
        ids_file = tmp_path / 'ids.txt'
        ids_file.write_text('\n'.join(IDS) + '\n')
        argv = ['--gt', osp.join(voc_mini, 'SegmentationClass'), '--out', str(out), '--ids',
                str(ids_file), '--type', 'point', '--overwrite']
        tool = load_tool(repo_root, 'make_weak_labels')
        assert run_main(tool, argv) == 2
        error = last_error(capsys)
        assert 'another run is writing here (make_weak_labels, pid ' in error
        assert f'pid {holder.pid} on ' in error and 'started 20' in error
        assert sorted(name for name in os.listdir(out) if name.endswith('.png')) == [
            'old_run.png']
        # the other ranks of the holder's run do not take the lock: they write along
        OutputRecord(str(out), 'make_weak_labels', {}, {'seed': 7}, ['*.png']).check_or_write(
            rank=1, world_size=2, wait_s=5)
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a killed run leaves no lock behind
        holder.wait()
    assert run_main(tool, argv) == 0
    # the killed run had listed its output before writing it: --overwrite removed it
    assert sorted(name for name in os.listdir(out) if name.endswith('.png')) == [
        f'{image_id}.png' for image_id in IDS]


# 7. Checkpoints torch will not load with weights_only=True ------------------------------------


def _bad_checkpoints(tmp_path):
    import torch
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}}, good)
    cases = {}
    cases['a pickle that is not a state dict'] = pickle.dumps(
        _Payload(open, str(tmp_path / 'ran'), 'w'), protocol=2)
    cases['a pickled class instance'] = pickle.dumps(
        {'model': _Payload(OutputRecord, 'x', 't', {}, {}, [])}, protocol=2)
    cases['a truncated legacy pickle'] = pickle.dumps({'w': list(range(100))}, protocol=2)[:30]
    cases['a truncated archive'] = good.read_bytes()[:-40]
    cases['a text file'] = b'not a checkpoint at all'
    cases['random bytes after a pickle marker'] = b'\x80\x02' + bytes(range(256)) * 4
    paths = {}
    for name, data in cases.items():
        path = tmp_path / (name.replace(' ', '_') + '.pth')
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def _loaders():
    def sam(path):
        from mmseg_sam_wsss.sam.builder import _sam_architecture, load_sam_checkpoint
        load_sam_checkpoint(_sam_architecture('tiny'), path, 'tiny')

    def mmengine_model(path):
        pytest.importorskip('mmseg', reason='mmseg/mmcv not installed')
        import torch

        from mmseg_sam_wsss.utils.mm_tools import load_model_weights
        load_model_weights(torch.nn.Linear(2, 2), path, 'a test model')

    return {'sam.builder.load_sam_checkpoint': sam,
            'utils.mm_tools.load_model_weights': mmengine_model}


@pytest.mark.parametrize('loader', list(_loaders()))
def test_bad_checkpoints_are_one_line_naming_the_file_in_every_loader(tmp_path, loader):
    load = _loaders()[loader]
    for name, path in _bad_checkpoints(tmp_path).items():
        with pytest.raises(SamWsssError) as error:
            load(path)
        message = str(error.value)
        assert message.startswith(f'{path}: ') and '\n' not in message, (name, message)
    assert not (tmp_path / 'ran').exists()


def test_generate_sam_masks_names_an_unloadable_checkpoint(voc_mini, repo_root, tmp_path,
                                                           capsys):
    """The probe: a pickle that is not a state dict passes the container check, and
    ``load_sam_checkpoint`` did not catch ``UnpicklingError`` (a 25-line traceback)."""
    images = tmp_path / 'images'
    images.mkdir()
    shutil.copy(osp.join(voc_mini, 'JPEGImages', IDS[0] + '.jpg'), images)
    path = _bad_checkpoints(tmp_path)['a pickle that is not a state dict']
    tool = load_tool(repo_root, 'generate_sam_masks')
    assert run_main(tool, ['--img-dir', str(images), '--out', str(tmp_path / 'masks'),
                           '--checkpoint', path, '--model-type', 'tiny']) == 2
    assert last_error(capsys).startswith(f'error: {path}: cannot load the SAM checkpoint')
    assert not (tmp_path / 'ran').exists()
