"""tools/enhance_pseudo_labels.py and tools/mask_store.py on real voc_mini labels.

The masks are oracle-like (GT connected components plus a block grid), NOT SAM output.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from helpers import GRID_ORACLE_SOURCE as ORACLE_SOURCE
from helpers import grid_oracle_masks, load_tool

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore, write_amg_folder
from mmseg_sam_wsss.core.merge import enhance_pseudo_label

IDS = ['2007_000063', '2007_000068', '2007_000121']


def make_store(voc_mini, root, ids=IDS):
    store = MaskStore(root, create=True, source=ORACLE_SOURCE)
    for image_id in ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, MaskSet.from_masks(grid_oracle_masks(gt), ORACLE_SOURCE))
    return store


def run_main(tool, argv):
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    return exit_info.value.code


@pytest.fixture(scope='module')
def enhance_tool(repo_root):
    return load_tool(repo_root, 'enhance_pseudo_labels')


def test_tool_matches_library_store_and_amg(repo_root, voc_mini, tmp_path, enhance_tool,
                                            capsys):
    pseudo_dir = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    store = make_store(voc_mini, str(tmp_path / 'store'))
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(IDS))
    out = tmp_path / 'out'
    argv = ['--pseudo-dir', pseudo_dir, '--masks', store.root, '--out', str(out),
            '--ids', str(ids_file)]
    assert run_main(enhance_tool, argv) == 0
    meta = json.loads((out / 'enhance_meta.json').read_text())
    assert meta['mask_source'] == ORACLE_SOURCE and meta['mask_kind'] == 'store'
    assert ORACLE_SOURCE in capsys.readouterr().out
    for image_id in IDS:
        pseudo_label = read_label_png(osp.join(pseudo_dir, image_id + '.png'))
        expected = enhance_pseudo_label(pseudo_label, store.read(image_id))
        written = read_label_png(str(out / (image_id + '.png')))
        np.testing.assert_array_equal(written, expected)
        assert not np.array_equal(written, pseudo_label)  # the masks changed something
    # Rerun skips finished outputs.
    mtime = os.path.getmtime(out / (IDS[0] + '.png'))
    assert run_main(enhance_tool, argv) == 0
    assert '0 written, 3 already done' in capsys.readouterr().out
    assert os.path.getmtime(out / (IDS[0] + '.png')) == mtime
    # The amg.py folder layout gives the same labels, with 2 workers.
    amg = tmp_path / 'amg'
    mask_tool = load_tool(repo_root, 'mask_store')
    assert run_main(mask_tool, ['export-amg', store.root, str(amg)]) == 0
    assert run_main(mask_tool, ['verify', store.root]) == 0
    out_amg = tmp_path / 'out_amg'
    assert run_main(enhance_tool, ['--pseudo-dir', pseudo_dir, '--masks', str(amg), '--out',
                                   str(out_amg), '--ids', str(ids_file), '--workers', '2']) == 0
    for image_id in IDS:
        np.testing.assert_array_equal(read_label_png(str(out_amg / (image_id + '.png'))),
                                      read_label_png(str(out / (image_id + '.png'))))
    # Import back into a store: same masks.
    assert run_main(mask_tool, ['import-amg', str(amg), str(tmp_path / 'store2'),
                                '--source', ORACLE_SOURCE]) == 0
    again = MaskStore(str(tmp_path / 'store2'))
    np.testing.assert_array_equal(again.read(IDS[1]).decode(), store.read(IDS[1]).decode())


def test_bad_inputs_exit_2_naming_the_file(voc_mini, tmp_path, enhance_tool, capsys):
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    pseudo_dir = tmp_path / 'pseudo'
    pseudo_dir.mkdir()
    for image_id in IDS[:2]:
        (pseudo_dir / (image_id + '.png')).write_bytes(
            open(osp.join(voc_mini, 'pseudo_labels', 'transcam', image_id + '.png'), 'rb').read())
    store = make_store(voc_mini, str(tmp_path / 'store'), IDS[:2])
    gt = read_label_png(osp.join(gt_dir, IDS[0] + '.png'))
    store.write(IDS[0], MaskSet.from_masks(grid_oracle_masks(gt)[:, :-1], ORACLE_SOURCE))  # 1 px short

    def run(masks, out, *extra):
        return run_main(enhance_tool, ['--pseudo-dir', str(pseudo_dir), '--masks', masks,
                                       '--out', str(out), *extra])

    out = tmp_path / 'out1'
    assert run(store.root, out) == 2
    assert f'{IDS[0]}.png' in capsys.readouterr().err
    assert not list(out.glob('*.png'))
    # --skip-bad: logs, continues, counts, exits 3 (every good input written, bad ones skipped).
    assert run(store.root, out, '--skip-bad') == 3
    assert '1 written, 0 already done (skipped), 1 bad' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['.lock', '.outputs', '.provenance.json', IDS[1] + '.png',
                                       'enhance_meta.json']
    # Missing amg mask folder.
    amg = tmp_path / 'amg'
    write_amg_folder(str(amg), IDS[1], store.read(IDS[1]))
    assert run(str(amg), tmp_path / 'out2') == 2
    assert osp.join(str(amg), IDS[0]) in capsys.readouterr().err
    # Corrupt pseudo-label PNG, then a label value out of range.
    (pseudo_dir / (IDS[0] + '.png')).write_bytes(b'garbage')
    assert run(str(amg), tmp_path / 'out3', '--ids', str(_ids_file(tmp_path, IDS[:1]))) == 2
    assert f'{IDS[0]}.png: cannot read label PNG' in capsys.readouterr().err
    from mmseg_sam_wsss.core.io import write_label_png
    label = read_label_png(str(pseudo_dir / (IDS[1] + '.png'))).copy()
    label[0, 0] = 40
    write_label_png(str(pseudo_dir / (IDS[1] + '.png')), label)
    assert run(str(amg), tmp_path / 'out4', '--ids', str(_ids_file(tmp_path, IDS[1:2]))) == 2
    assert f'{IDS[1]}.png: label values [40]' in capsys.readouterr().err
    assert not list((tmp_path / 'out4').glob('*.png'))
    # A mask source that is neither a store nor a folder.
    assert run(str(tmp_path / 'absent'), tmp_path / 'out5') == 2
    assert 'mask source not found' in capsys.readouterr().err


def _ids_file(tmp_path, ids):
    path = tmp_path / f'ids_{"_".join(ids)}.txt'
    path.write_text('\n'.join(ids))
    return path
