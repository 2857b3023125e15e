"""utils/provenance: what counts as the same input, what a refusal says, what --overwrite
removes, and which inputs --out may hold."""
import json
import os
import os.path as osp

import pytest

from mmseg_sam_wsss.core.io import atomic_write
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.provenance import (PROVENANCE_NAME, OutputRecord, check_separate,
                                             describe_differences, input_identity,
                                             release_output_folders)


def make_record(out, inputs=None, **settings):
    return OutputRecord(str(out), 'tool', inputs or {}, settings, outputs=['*.png', 'sub/*.npz'])


def test_files_are_known_by_content_and_folders_by_the_record_that_made_them(tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'weights v1')
    out = tmp_path / 'out'
    make_record(out, {'--checkpoint': str(checkpoint)}).check_or_write()
    moved = tmp_path / 'copy.pth'
    moved.write_bytes(b'weights v1')
    make_record(out, {'--checkpoint': str(moved)}).check_or_write()  # same content: resumes
    checkpoint.write_bytes(b'weights v2')  # retrained in place
    with pytest.raises(SamWsssError, match=r'--checkpoint: .*model.pth changed since'):
        make_record(out, {'--checkpoint': str(checkpoint)}).check_or_write()
    # A folder made by one of our tools carries that record's uid; so does its named subfolder.
    upstream = tmp_path / 'cams'
    first = make_record(upstream).check_or_write()
    (upstream / 'sub').mkdir()
    assert input_identity(str(upstream))['made_by']['uid'] == first.uid
    assert input_identity(str(upstream / 'sub'))['made_by']['uid'] == first.uid
    plain = tmp_path / 'plain'
    plain.mkdir()
    assert input_identity(str(plain)) == {'path': str(plain.resolve())}


def test_differences_put_the_protocol_before_its_options():
    old = {'tool': 't', 'version': '1', 'settings': {'weak_type': 'point', 'seed': 0,
                                                     'options': {'radius': 2}}}
    new = {'tool': 't', 'version': '1', 'settings': {'weak_type': 'coarse', 'seed': 0,
                                                     'options': {'erosion': 5}}}
    assert describe_differences(old, new) == [
        'weak_type: point -> coarse', 'options.erosion: (unset) -> 5',
        'options.radius: 2 -> (unset)']


def test_overwrite_removes_the_recorded_outputs_only(tmp_path):
    """Outputs are what the run wrote (listed in ``.outputs`` by ``atomic_write``), not what a
    pattern matches: the user's own ``figure.png`` survives ``--overwrite``."""
    out = tmp_path / 'out'
    make_record(out, seed=0).check_or_write()
    for name in ('a.png', 'sub/a.npz', 'city/frame.png'):
        with atomic_write(str(out / name)) as handle:
            handle.write(b'old')
    (out / 'notes.txt').write_text('mine')
    (out / 'figure.png').write_bytes(b'mine, matches *.png')
    with pytest.raises(SamWsssError, match=r'\(seed: 0 -> 1\); rerun with --overwrite'):
        make_record(out, seed=1).check_or_write()
    release_output_folders()  # the first run ends
    record = make_record(out, seed=1).check_or_write(overwrite=True)
    # sub/ and city/ were emptied and removed; the user's files stay
    assert sorted(os.listdir(out)) == ['.lock', PROVENANCE_NAME, 'figure.png', 'notes.txt']
    assert json.loads((out / PROVENANCE_NAME).read_text())['uid'] == record.uid
    release_output_folders()


def test_inputs_inside_out(tmp_path):
    out = tmp_path / 'work'
    out.mkdir()
    (out / 'iter_4.pth').write_bytes(b'w')
    # An input file inside --out is fine unless an output pattern would match it.
    check_separate(str(out), {'checkpoint': str(out / 'iter_4.pth')}, outputs=['*.png'])
    with pytest.raises(SamWsssError, match='would overwrite the input checkpoint'):
        check_separate(str(out), {'checkpoint': str(out / 'iter_4.pth')}, outputs=['*.pth'])
    link = tmp_path / 'link'
    link.symlink_to(out)
    with pytest.raises(SamWsssError, match='is the input folder --gt'):
        check_separate(str(link), {'--gt': str(out)})


def test_id_output_patterns_cover_the_folders_ids_name(tmp_path):
    """Cityscapes-style ``<city>/<frame>`` ids: one pattern per city folder (glob characters in
    a folder name match literally), plus the top folder's."""
    from mmseg_sam_wsss.utils.provenance import id_output_patterns
    patterns = id_output_patterns(['b/x', 'a[1]/y', 'z', 'b/w'], ['.png', '.json'])
    assert patterns == ['*.png', '*.json', 'a[[]1]/*.png', 'a[[]1]/*.json', 'b/*.png',
                        'b/*.json']
    for name in ('a[1]/y.png', 'b/x.json', 'z.png', 'other/q.png'):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text('')
    record = OutputRecord(str(tmp_path), 'test', inputs={}, settings={}, outputs=patterns)
    assert [osp.relpath(path, tmp_path) for path in record.existing_outputs()] == \
        ['a[1]/y.png', 'b/x.json', 'z.png']
