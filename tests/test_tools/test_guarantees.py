"""What the tools guarantee (README, "What the tools guarantee"), tool by tool.

1. A rerun resumes only into outputs made from the same inputs and settings (``.provenance.json``);
   anything else is refused with one line, ``--overwrite`` replaces the old outputs.
2. ``--out`` may not be an input folder, lie in one, or hold one.
3. Every numeric option and merge-rule option has a range, checked at parse time.
4. Bad files, bad checkpoints, unwritable outputs and a bad torchrun environment are one line
   and exit 2, never a traceback or a hang.
5. Mask files know their image and store; temporaries of killed runs are removed; outputs follow
   the umask; id lists keep inner spaces; eval names the file of the wrong size; ``--skip-bad``
   exits 3 in every tool.

The masks here are GT oracles (``--source oracle``) or hand-made: NOT SAM output.
"""
import errno
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from helpers import GRID_ORACLE_SOURCE, grid_oracle_masks, last_error, load_tool, run_main

from mmseg_sam_wsss.core import io as core_io
from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore, encode_mask_set
from mmseg_sam_wsss.core.merge import merge_rule_options
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.cli import (EXIT_SKIPPED_BAD, check_checkpoint_file, dist_rank_world,
                                      unranged_numeric_options)
from mmseg_sam_wsss.utils.provenance import PROVENANCE_NAME, OutputRecord

IDS = ['2007_000063', '2007_000068']
NUMPY_TOOLS = ('make_weak_labels', 'enhance_pseudo_labels', 'generate_sam_masks',
               'eval_pseudo_labels', 'mask_store', 'make_synthetic_dataset',
               'sesam_pseudo_labels', 'convert_weak_labels')


@pytest.fixture(scope='module')
def tools(repo_root):
    return {name: load_tool(repo_root, name) for name in NUMPY_TOOLS}



@pytest.fixture
def ids_file(tmp_path):
    path = tmp_path / 'ids.txt'
    path.write_text('\n'.join(IDS) + '\n')
    return str(path)


def weak_argv(voc_mini, out, ids_file, *extra):
    return ['--gt', osp.join(voc_mini, 'SegmentationClass'), '--out', str(out), '--ids',
            ids_file, *extra]


# 1. Stale outputs under new settings -------------------------------------------------------


def test_weak_labels_refuse_other_settings_and_overwrite_replaces(voc_mini, tools, tmp_path,
                                                                  ids_file, capsys):
    tool, out = tools['make_weak_labels'], tmp_path / 'W'
    assert run_main(tool, weak_argv(voc_mini, out, ids_file, '--type', 'point')) == 0
    points = {i: read_label_png(str(out / f'{i}.png')) for i in IDS}
    meta = (out / 'weak_meta.json').read_text()
    capsys.readouterr()
    # The probe of the issue: another protocol and seed into the same --out.
    assert run_main(tool, weak_argv(voc_mini, out, ids_file, '--type', 'coarse', '--seed',
                                    '3')) == 2
    error = last_error(capsys)
    assert 'seed: 0 -> 3' in error and 'weak_type: point -> coarse' in error
    assert '--overwrite' in error and 'new --out' in error
    assert (out / 'weak_meta.json').read_text() == meta  # still says point, as the files are
    for option in (['--radius', '3'], ['--points-json']):
        assert run_main(tool, weak_argv(voc_mini, out, ids_file, '--type', 'point',
                                        *option)) == 2
    other_gt = tmp_path / 'gt2'
    shutil.copytree(osp.join(voc_mini, 'SegmentationClass'), other_gt)
    assert run_main(tool, ['--gt', str(other_gt), '--out', str(out), '--ids', ids_file,
                           '--type', 'point']) == 2
    assert '--gt: ' in last_error(capsys)
    # The same settings resume (here with one more id); --overwrite replaces every output the
    # old run wrote, and only those: the user's own figure.png (it matches *.png) stays.
    more_ids = tmp_path / 'more_ids.txt'
    more_ids.write_text('\n'.join(IDS + ['2007_000042']) + '\n')
    assert run_main(tool, weak_argv(voc_mini, out, str(more_ids), '--type', 'point')) == 0
    assert '1 written, 2 already done' in capsys.readouterr().out
    (out / 'figure.png').write_bytes((out / f'{IDS[0]}.png').read_bytes())
    assert run_main(tool, weak_argv(voc_mini, out, ids_file, '--type', 'scribble',
                                    '--overwrite')) == 0
    assert '2 written, 0 already done' in capsys.readouterr().out
    assert not (out / '2007_000042.png').exists()  # an output of the old run: removed
    assert (out / 'figure.png').exists()
    assert json.loads((out / 'weak_meta.json').read_text())['weak_type'] == 'scribble'
    assert not np.array_equal(read_label_png(str(out / f'{IDS[0]}.png')), points[IDS[0]])


def test_outputs_without_a_record_are_not_resumed(voc_mini, tools, tmp_path, ids_file, capsys):
    out = tmp_path / 'W'
    out.mkdir()
    write_label_png(str(out / f'{IDS[0]}.png'), np.zeros((4, 4), np.uint8))  # made by hand
    assert run_main(tools['make_weak_labels'],
                    weak_argv(voc_mini, out, ids_file, '--type', 'point')) == 2
    assert 'holds 1 output files (*.png, *.json) but no record' in last_error(capsys)


def oracle_store_argv(voc_mini, out, ids_file, *extra):
    return ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--gt-dir',
            osp.join(voc_mini, 'SegmentationClass'), '--source', 'oracle', '--out', str(out),
            '--ids', ids_file, *extra]


def test_a_store_regenerated_in_place_invalidates_its_enhanced_labels(voc_mini, tools, tmp_path,
                                                                      ids_file, capsys):
    store, out = tmp_path / 'store', tmp_path / 'enhanced'
    generate, enhance = tools['generate_sam_masks'], tools['enhance_pseudo_labels']
    assert run_main(generate, oracle_store_argv(voc_mini, store, ids_file)) == 0
    enhance_argv = ['--pseudo-dir', osp.join(voc_mini, 'pseudo_labels', 'transcam'),
                    '--masks', str(store), '--out', str(out), '--ids', ids_file]
    assert run_main(enhance, enhance_argv) == 0
    uid = MaskStore(str(store)).uid
    capsys.readouterr()
    # Other mask settings into the same store are refused; --overwrite regenerates it.
    assert run_main(generate, oracle_store_argv(voc_mini, store, ids_file,
                                                '--oracle-imperfect')) == 2
    assert 'source: oracle (GT components, not SAM) -> oracle-imperfect' in last_error(capsys)
    assert run_main(generate, oracle_store_argv(voc_mini, store, ids_file, '--oracle-imperfect',
                                                '--overwrite')) == 0
    assert MaskStore(str(store)).uid != uid
    capsys.readouterr()
    assert run_main(enhance, enhance_argv) == 2
    error = last_error(capsys)
    assert f'--masks: {osp.realpath(store)} changed since (other content)' in error
    assert 'mask_source: oracle (GT components, not SAM) -> oracle-imperfect' in error
    # Other rule options are refused too; --overwrite makes labels of the new store.
    assert run_main(enhance, enhance_argv + ['--overwrite']) == 0
    assert run_main(enhance, enhance_argv + ['--rule-options', 'coverage_ratio=0.9']) == 2
    assert 'rule_options.coverage_ratio: 0.85 -> 0.9' in last_error(capsys)
    meta = json.loads((out / 'enhance_meta.json').read_text())
    assert meta['mask_source'].startswith('oracle-imperfect')


def test_mask_store_import_and_synthetic_dataset_refuse_other_sources(tools, tmp_path, capsys):
    amg = tmp_path / 'amg'
    masks = np.zeros((2, 6, 8), bool)
    masks[0, :3], masks[1, 3:] = True, True
    from mmseg_sam_wsss.core.mask_store import write_amg_folder
    write_amg_folder(str(amg), 'a', MaskSet.from_masks(masks, 'x'))
    other = tmp_path / 'amg2'
    shutil.copytree(amg, other)
    store = tmp_path / 'store'
    tool = tools['mask_store']
    assert run_main(tool, ['import-amg', str(amg), str(store)]) == 0
    assert run_main(tool, ['import-amg', str(other), str(store)]) == 2
    assert 'SRC: ' in last_error(capsys)
    assert run_main(tool, ['import-amg', str(other), str(store), '--overwrite']) == 0
    dataset = tools['make_synthetic_dataset']
    argv = ['--out', str(tmp_path / 'shapes'), '--num-train', '2', '--num-val', '1', '--size',
            '32']
    assert run_main(dataset, argv) == 0
    assert run_main(dataset, argv + ['--seed', '1']) == 2
    assert 'seed: 0 -> 1' in last_error(capsys)
    assert run_main(dataset, argv[:-1] + ['40']) == 2  # another --size


def test_ranks_wait_for_rank_0_and_refuse_what_it_refuses(tmp_path):
    out = str(tmp_path / 'out')

    def record(seed):
        return OutputRecord(out, 'tool', inputs={}, settings={'seed': seed}, outputs=['*.png'])

    with pytest.raises(SamWsssError, match='rank 0 wrote no record within 0 s'):
        record(0).check_or_write(rank=1, world_size=2, wait_s=0)
    record(0).check_or_write(rank=0, world_size=2)
    assert record(0).check_or_write(rank=1, world_size=2).uid == record(0).check_or_write().uid
    with pytest.raises(SamWsssError, match='seed: 0 -> 1'):
        record(1).check_or_write(rank=1, world_size=2)
    with pytest.raises(SamWsssError, match='--overwrite with WORLD_SIZE=2'):
        record(1).check_or_write(overwrite=True, rank=0, world_size=2)
    # Outputs without a record: every rank refuses at once (none waits for rank 0 in vain).
    legacy = tmp_path / 'legacy'
    legacy.mkdir()
    (legacy / 'a.png').write_bytes(b'made by hand')
    for rank in (0, 1):
        with pytest.raises(SamWsssError, match='holds 1 output files'):
            OutputRecord(str(legacy), 'tool', {}, {}, ['*.png']).check_or_write(
                rank=rank, world_size=2, barrier=lambda: None)


# 2. --out equal to, inside or around an input folder ---------------------------------------


def test_out_may_not_be_an_input_folder(voc_mini, tools, tmp_path, ids_file, capsys):
    gt = osp.join(voc_mini, 'SegmentationClass')
    pseudo = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    images = osp.join(voc_mini, 'JPEGImages')
    store = tmp_path / 'store'
    MaskStore(str(store), create=True, source='oracle')
    cases = [
        ('make_weak_labels', ['--gt', gt, '--type', 'point', '--out', gt], 'is the input folder'),
        ('make_weak_labels', ['--gt', gt, '--type', 'point', '--out', osp.join(gt, 'weak')],
         'lies inside the input folder --gt'),
        ('make_weak_labels', ['--gt', gt, '--type', 'point', '--out', osp.dirname(voc_mini)],
         'contains the input folder --gt'),
        ('enhance_pseudo_labels', ['--pseudo-dir', pseudo, '--masks', str(store), '--out',
                                   pseudo], 'is the input folder --pseudo-dir'),
        ('enhance_pseudo_labels', ['--pseudo-dir', pseudo, '--masks', str(store), '--out',
                                   str(store / 'labels')], 'lies inside the input folder --masks'),
        ('generate_sam_masks', ['--img-dir', images, '--source', 'superpixel', '--ids',
                                ids_file, '--out', osp.join(images, 'masks')],
         'lies inside the input folder --img-dir'),
        ('eval_pseudo_labels', ['--pred', pseudo, '--gt', gt, '--show', '2', pseudo],
         '--show OUTDIR ' + pseudo + ' is the input folder --pred'),
        ('eval_pseudo_labels', ['--pred', pseudo, '--gt', gt, '--out',
                                osp.join(gt, 'eval.json')], 'lies inside the input folder --gt'),
        ('mask_store', ['export-amg', str(store), str(store)], 'DST'),
        ('mask_store', ['import-amg', str(tmp_path), str(tmp_path / 'new_store')],
         'STORE'),
    ]
    for name, argv, message in cases:
        assert run_main(tools[name], argv) == 2, (name, argv)
        error = last_error(capsys)
        assert message in error and 'choose a separate' in error, (name, error)
    assert not osp.exists(osp.join(gt, 'weak')) and not osp.exists(osp.join(images, 'masks'))


# 3. Ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize('name', NUMPY_TOOLS)
def test_every_numeric_option_has_a_documented_range(repo_root, tools, name):
    parser = tools[name].build_parser()
    assert unranged_numeric_options(parser) == []
    if name != 'mask_store':
        assert '(range: ' in parser.format_help()


@pytest.mark.parametrize('name, argv, message', [
    ('make_weak_labels', ['--type', 'coarse', '--erosion', '100000'],
     '--erosion: 100000 is outside its range 0..64'),
    ('make_weak_labels', ['--type', 'coarse', '--erosion', '-1'], '--erosion: -1 is outside'),
    ('make_weak_labels', ['--type', 'point', '--points-per-component', '0'],
     '--points-per-component: 0 is outside its range 1..100'),
    ('make_weak_labels', ['--type', 'point', '--radius', '-2'], '--radius: -2 is outside'),
    ('make_weak_labels', ['--type', 'point', '--radius', '100000'], '--radius: 100000'),
    ('make_weak_labels', ['--type', 'scribble', '--thickness', '-1'], '--thickness: -1'),
    ('make_weak_labels', ['--type', 'scribble', '--fraction', '0'], '--fraction: 0.0'),
    ('make_weak_labels', ['--type', 'point', '--workers', '0'], '--workers: 0 is outside its '
     'range 1..64'),
    ('make_weak_labels', ['--type', 'point', '--workers', '-4'], '--workers: -4'),
    ('make_weak_labels', ['--type', 'point', '--workers', '1000'], '--workers: 1000'),
    ('make_weak_labels', ['--type', 'point', '--seed', '-1'], '--seed: -1'),
    ('make_weak_labels', ['--type', 'point', '--num-classes', '300'], '--num-classes: 300'),
    ('make_weak_labels', ['--type', 'point', '--min-area', 'many'],
     "--min-area: 'many' is not an integer"),
])
def test_absurd_numbers_are_refused_at_parse_time(tools, name, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tools[name].parse_args(['--gt', 'G', '--out', 'O'] + argv)
    assert exit_info.value.code == 2
    assert f'error: argument {message}' in last_error(capsys)


@pytest.mark.parametrize('name, argv, message', [
    ('generate_sam_masks', ['--source', 'superpixel', '--sp-segments', '0'], '--sp-segments: 0'),
    ('generate_sam_masks', ['--source', 'superpixel', '--sp-scale', '-3'], '--sp-scale: -3.0'),
    ('generate_sam_masks', ['--random-init-for-tests', '--points-per-batch', '0'],
     '--points-per-batch: 0'),
    ('generate_sam_masks', ['--random-init-for-tests', '--pred-iou-thresh', '1.5'],
     '--pred-iou-thresh: 1.5'),
    ('enhance_pseudo_labels', ['--pseudo-dir', 'P', '--masks', 'M', '--num-classes', '1'],
     '--num-classes: 1'),
    ('eval_pseudo_labels', ['--pred', 'P', '--gt', 'G', '--show', '0', 'D'], '--show N: 0'),
    ('make_synthetic_dataset', ['--size', '8'], '--size: 8 is outside its range 32..2048'),
])
def test_absurd_numbers_of_other_tools(tools, name, argv, message, capsys):
    prefix = {'generate_sam_masks': ['--img-dir', 'I', '--out', 'O'],
              'make_synthetic_dataset': ['--out', 'O']}.get(name, [])
    with pytest.raises(SystemExit) as exit_info:
        tools[name].parse_args(prefix + argv)
    assert exit_info.value.code == 2
    assert f'error: argument {message}' in last_error(capsys)


@pytest.mark.parametrize('options, message', [
    (['majority_ratio=-5'], "majority_ratio=-5 of rule 'sepl' is outside its range 0.0..1.0"),
    (['coverage_ratio=1e9'], 'coverage_ratio=1000000000.0 of rule'),
    (['majority_ratio=True'], 'majority_ratio=True of rule \'sepl\' is not a number'),
    (['majority_ratio=nan'], "is not a number, bool or other Python literal"),
])
def test_rule_options_have_ranges(tools, tmp_path, options, message, capsys):
    argv = ['--pseudo-dir', str(tmp_path), '--masks', str(tmp_path), '--out',
            str(tmp_path / 'out'), '--rule-options', *options]
    assert run_main(tools['enhance_pseudo_labels'], argv) == 2
    assert message in last_error(capsys)
    assert not (tmp_path / 'out').exists()


def test_rule_option_ranges_are_declared_for_every_rule():
    from mmseg_sam_wsss.core.merge import MERGE_RULE_RANGES, MERGE_RULES
    for rule in ('sepl', 'max_iou', 'sesam_coverage'):
        numeric = {key for key, value in merge_rule_options(rule).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
        assert set(MERGE_RULE_RANGES[rule]) == numeric, rule
    with pytest.raises(SamWsssError, match='tie_unlabelled=1 of rule .* must be True or False'):
        merge_rule_options('sesam_coverage', {'tie_unlabelled': 1}, where='X')
    with pytest.raises(SamWsssError, match="tie_break='big' of rule .* is not one of None, "):
        merge_rule_options('sesam_coverage', {'tie_break': 'big'}, where='X')
    with pytest.raises(SamWsssError, match=r'penalty=-1 of rule .* outside its range 0.0..100'):
        merge_rule_options('sesam_coverage', {'penalty': -1}, where='X')
    assert merge_rule_options('sesam_coverage', {'min_score': -5})['min_score'] == -5
    assert set(MERGE_RULES) >= set(MERGE_RULE_RANGES)


# 4. One line, not a traceback or a hang ------------------------------------------------------


def test_checkpoints_that_are_not_checkpoints(tmp_path, tools, capsys):
    import torch
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}}, good)
    check_checkpoint_file(str(good))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:-40])
    for path, message in ((tmp_path / 'text.pth', 'is not a PyTorch checkpoint'),
                          (truncated, 'is not a PyTorch checkpoint'),
                          (tmp_path / 'none.pth', 'not found')):
        with pytest.raises(SamWsssError, match=message):
            check_checkpoint_file(str(path))
        assert run_main(tools['generate_sam_masks'], [
            '--img-dir', str(tmp_path), '--out', str(tmp_path / 'masks'), '--checkpoint',
            str(path), '--model-type', 'tiny']) == 2
        expected = f'{path} does not exist' if message == 'not found' else f'{path}: --checkpoint '
        assert expected in last_error(capsys)


@pytest.mark.parametrize('env, message', [
    ({'RANK': '0', 'WORLD_SIZE': '2'}, 'WORLD_SIZE=2 but MASTER_ADDR and MASTER_PORT not set'),
    ({'RANK': '3', 'WORLD_SIZE': '2', 'MASTER_ADDR': 'localhost', 'MASTER_PORT': '1'},
     'RANK=3 with WORLD_SIZE=2: RANK must be in 0..WORLD_SIZE-1'),
    ({'RANK': 'x'}, "RANK='x' is not a non-negative integer"),
    ({'WORLD_SIZE': '0'}, 'RANK=0 with WORLD_SIZE=0'),
])
def test_a_bad_torchrun_environment_is_one_line_not_a_hang(tools, tmp_path, monkeypatch, env,
                                                           message, capsys):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SamWsssError, match=message.replace('(', r'\(')):
        dist_rank_world(rendezvous=True)
    assert run_main(tools['generate_sam_masks'], ['--img-dir', str(tmp_path), '--out',
                                                  str(tmp_path / 'm'), '--source',
                                                  'superpixel']) == 2
    assert message in last_error(capsys)


@pytest.mark.parametrize('error_number', [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_unwritable_out_is_one_line_even_with_skip_bad(voc_mini, tools, tmp_path, ids_file,
                                                          monkeypatch, capsys, error_number):
    def failing(*args, **kwargs):
        raise OSError(error_number, os.strerror(error_number))

    monkeypatch.setattr(core_io.tempfile, 'mkstemp', failing)
    out = tmp_path / 'W'
    assert run_main(tools['make_weak_labels'], weak_argv(voc_mini, out, ids_file, '--type',
                                                         'point', '--skip-bad')) == 2
    error = last_error(capsys)
    assert error.startswith('error: ') and 'cannot write' in error
    assert os.strerror(error_number) in error


def test_label_files_of_the_wrong_size_name_the_wrong_one(voc_mini, tools, tmp_path, capsys):
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    gt.mkdir()
    pred.mkdir()
    image_id = IDS[0]
    true_gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'))
    write_label_png(str(pred / f'{image_id}.png'), true_gt)
    write_label_png(str(gt / f'{image_id}.png'), true_gt[:-4])  # the GT is the wrong one
    argv = ['--pred', str(pred), '--gt', str(gt), '--img-dir',
            osp.join(voc_mini, 'JPEGImages')]
    assert run_main(tools['eval_pseudo_labels'], argv) == 2
    error = last_error(capsys)
    assert f'{gt / image_id}.png is 371x500 (HxW) but its image is 375x500' in error
    assert str(pred) not in error
    assert run_main(tools['eval_pseudo_labels'], argv[:4]) == 2  # no image to tell: both named
    error = last_error(capsys)
    assert str(gt / image_id) in error and str(pred / image_id) in error


# 5. Integrity and hygiene --------------------------------------------------------------------


def test_mask_files_know_their_image_and_store(tmp_path, tools, capsys):
    masks = np.zeros((2, 6, 8), bool)
    masks[0, :3], masks[1, 3:] = True, True
    store = MaskStore(str(tmp_path / 'store'), create=True, source=GRID_ORACLE_SOURCE)
    other = MaskStore(str(tmp_path / 'other'), create=True, source=GRID_ORACLE_SOURCE)
    for target in (store, other):
        target.write('a', MaskSet.from_masks(masks, GRID_ORACLE_SOURCE))
        target.write('b', MaskSet.from_masks(masks[::-1], GRID_ORACLE_SOURCE))
    assert store.read('a').image_id == 'a' and store.read('a').store_uid == store.uid
    shutil.copy(store.path('a'), store.path('c'))  # copied under another id
    with pytest.raises(SamWsssError, match=r"c.samm: holds the masks of image 'a', not 'c'"):
        store.read('c')
    shutil.copy(other.path('b'), store.path('b'))  # copied from another store
    with pytest.raises(SamWsssError, match=r'b.samm: written into another store'):
        store.read('b')
    with pytest.raises(SamWsssError, match='cannot go into a store of'):
        store.write('d', MaskSet.from_masks(masks, 'sam-vit_h'))
    assert run_main(tools['mask_store'], ['verify', store.root]) == 1
    assert '3 files, 2 masks, 2 problems' in capsys.readouterr().out
    # A file of an older version (no image id recorded) is still read, and verify says so.
    old = MaskSet.from_masks(masks, GRID_ORACLE_SOURCE)
    for name in ('b', 'c'):
        with open(store.path(name), 'wb') as handle:
            handle.write(encode_mask_set(old))
    assert store.read('c').image_id is None
    assert run_main(tools['mask_store'], ['verify', store.root]) == 0
    assert '2 files of an older version record no image id' in capsys.readouterr().out


def test_reruns_remove_stale_temporaries_only(voc_mini, tools, tmp_path, ids_file):
    import subprocess
    import sys
    import time
    out = tmp_path / 'W'
    argv = weak_argv(voc_mini, out, ids_file, '--type', 'point')
    assert run_main(tools['make_weak_labels'], argv) == 0
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    tag = core_io._HOST_TAG
    names = {'dead': f'.tmp-{tag}-{dead}-abc{IDS[0]}.png',  # a SIGKILLed writer of this host
             'alive': f'.tmp-{tag}-{os.getpid()}-abc{IDS[0]}.png',  # a writer still running
             'old': '.tmp-xyz_old.png', 'young': '.tmp-xyz_young.png'}  # unnamed: by age
    for name in names.values():
        (out / name).write_bytes(b'half')
    old_time = time.time() - 2 * core_io.STALE_TEMP_AGE_S
    os.utime(out / names['old'], (old_time, old_time))
    assert run_main(tools['make_weak_labels'], argv) == 0
    left = {key for key, name in names.items() if (out / name).exists()}
    assert left == {'alive', 'young'}


def test_outputs_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        write_label_png(str(tmp_path / 'a.png'), np.zeros((2, 2), np.uint8))
        assert os.stat(tmp_path / 'a.png').st_mode & 0o777 == 0o640
        os.umask(0o002)
        write_label_png(str(tmp_path / 'b.png'), np.zeros((2, 2), np.uint8))
        assert os.stat(tmp_path / 'b.png').st_mode & 0o777 == 0o664
    finally:
        os.umask(previous)


def test_id_lists_keep_inner_spaces(tmp_path):
    path = tmp_path / 'ids.txt'
    path.write_bytes(b'2007_000063\r\nmy image 1\n\n  \nlast')
    assert read_ids(str(path)) == ['2007_000063', 'my image 1', 'last']
    path.write_text('\n \n')
    with pytest.raises(SamWsssError, match='the id list is empty'):
        read_ids(str(path))


def test_skip_bad_exits_3_in_every_tool(voc_mini, tools, tmp_path, capsys):
    gt = tmp_path / 'gt'
    gt.mkdir()
    for image_id in IDS:
        shutil.copy(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'), gt)
    (gt / 'broken.png').write_bytes(b'not a png')
    ids = tmp_path / 'ids.txt'
    ids.write_text('\n'.join(IDS + ['broken']))
    amg = tmp_path / 'amg'
    from mmseg_sam_wsss.core.mask_store import write_amg_folder
    for image_id in IDS:
        write_amg_folder(str(amg), image_id, MaskSet.from_masks(
            grid_oracle_masks(read_label_png(str(gt / f'{image_id}.png'))), 'x'))
    (amg / 'broken').mkdir()
    runs = {
        'make_weak_labels': ['--gt', str(gt), '--type', 'point', '--out', str(tmp_path / 'w')],
        'eval_pseudo_labels': ['--pred', str(gt), '--gt', str(gt)],
        'enhance_pseudo_labels': ['--pseudo-dir', str(gt), '--masks', str(amg), '--out',
                                  str(tmp_path / 'e')],
        'mask_store': ['import-amg', str(amg), str(tmp_path / 'store'), '--ids', str(ids)],
    }
    for name, argv in runs.items():
        if name != 'mask_store':
            argv = argv + ['--ids', str(ids)]
        assert run_main(tools[name], argv) == 2, name  # without --skip-bad: stops
        capsys.readouterr()
        assert run_main(tools[name], argv + ['--skip-bad']) == EXIT_SKIPPED_BAD, name
        assert '1 bad' in capsys.readouterr().out, name


def test_the_record_says_what_made_the_outputs(voc_mini, tools, tmp_path, ids_file):
    out = tmp_path / 'W'
    assert run_main(tools['make_weak_labels'], weak_argv(voc_mini, out, ids_file, '--type',
                                                         'point')) == 0
    record = json.loads((out / PROVENANCE_NAME).read_text())
    assert record['tool'] == 'make_weak_labels' and len(record['uid']) == 32
    assert record['inputs']['--gt']['path'] == osp.realpath(osp.join(voc_mini,
                                                                     'SegmentationClass'))
    assert record['settings']['weak_type'] == 'point' and record['outputs'] == ['*.png', '*.json']


# The mmseg tools (need mmcv): generate_cams.py and the label check of training pipelines ------

CAM_CONFIG = 'configs/smoke/cam_r50_voc_smoke.py'


@pytest.fixture(scope='module')
def cam_setup(repo_root, voc_mini, tmp_path_factory):
    """A VOC-layout root with IDS and a corrupt JPEG 'broken', and a random-init CAMSegmentor
    checkpoint of the smoke config saved WITHOUT 'meta' (a bare state_dict)."""
    pytest.importorskip('mmcv.ops')
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseg_sam_wsss.registration  # noqa: F401  (registers the plugin)
    from mmseg.apis import init_model
    root = tmp_path_factory.mktemp('cam_voc')
    for folder in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        (root / folder).mkdir(parents=True)
    for image_id in IDS:
        shutil.copy(osp.join(voc_mini, 'JPEGImages', f'{image_id}.jpg'), root / 'JPEGImages')
        shutil.copy(osp.join(voc_mini, 'SegmentationClass', f'{image_id}.png'),
                    root / 'SegmentationClass')
    jpeg = (root / 'JPEGImages' / f'{IDS[0]}.jpg').read_bytes()
    (root / 'JPEGImages' / 'broken.jpg').write_bytes(jpeg[:len(jpeg) // 3])  # truncated
    shutil.copy(root / 'SegmentationClass' / f'{IDS[0]}.png', root / 'SegmentationClass' /
                'broken.png')
    (root / 'ImageSets/Segmentation/train.txt').write_text('\n'.join(IDS + ['broken']) + '\n')
    cfg = Config.fromfile(osp.join(repo_root, CAM_CONFIG))
    init_default_scope('mmseg')
    model = init_model(cfg, None, device='cpu')
    checkpoint = root / 'cam.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return root, str(checkpoint)


def cam_argv(root, checkpoint, out, *extra):
    return [CAM_CONFIG, checkpoint, '--out', str(out), '--scales', '0.5', '--no-flip',
            '--cfg-options', f'test_dataloader.dataset.data_root={root}', *extra]


@pytest.mark.slow
def test_generate_cams_one_line_errors_and_reruns(repo_root, cam_setup, tmp_path, capsys):
    root, checkpoint = cam_setup
    tool = load_tool(repo_root, 'generate_cams')
    # --local-rank is set by the launcher; it comes with utils/mm_tools.add_config_args.
    assert unranged_numeric_options(tool.build_parser()) in ([], ['--local_rank/--local-rank'])
    out = tmp_path / 'cams'
    ids = tmp_path / 'ids.txt'
    ids.write_text('\n'.join(IDS) + '\n')
    # No 'meta' in the checkpoint: loads (mmseg's init_model raised KeyError: 'meta').
    assert run_main(tool, cam_argv(root, checkpoint, out, '--ids', str(ids))) == 0
    assert '2 written, 0 already done' in capsys.readouterr().out
    assert sorted(os.listdir(out / 'pseudo_labels')) == [f'{i}.png' for i in IDS]
    # Another --bg-thresh or scale is refused; the same settings resume.
    assert run_main(tool, cam_argv(root, checkpoint, out, '--ids', str(ids), '--bg-thresh',
                                   '0.3')) == 2
    assert 'bg_thresh: 0.15 -> 0.3' in last_error(capsys)
    assert run_main(tool, cam_argv(root, checkpoint, out, '--ids', str(ids))) == 0
    assert '0 written, 2 already done' in capsys.readouterr().out
    # The corrupt JPEG: one line naming it; --skip-bad skips it (exit 3).
    assert run_main(tool, cam_argv(root, checkpoint, out)) == 2
    error = last_error(capsys)
    assert error.startswith(f'error: {root / "JPEGImages" / "broken.jpg"}: cannot read'), error
    assert run_main(tool, cam_argv(root, checkpoint, out, '--skip-bad')) == EXIT_SKIPPED_BAD
    assert '0 written, 2 already done (skipped), 1 bad' in capsys.readouterr().out
    # An empty id list, a file that is not a checkpoint, one of another model.
    (tmp_path / 'empty.txt').write_text('\n')
    assert run_main(tool, cam_argv(root, checkpoint, out, '--ids',
                                   str(tmp_path / 'empty.txt'))) == 2
    assert 'empty.txt: the id list is empty' in last_error(capsys)
    (tmp_path / 'bad.pth').write_text('not a checkpoint')
    assert run_main(tool, cam_argv(root, str(tmp_path / 'bad.pth'), tmp_path / 'o2')) == 2
    assert 'bad.pth: checkpoint is not a PyTorch checkpoint' in last_error(capsys)
    import torch
    torch.save({'state_dict': {'backbone.other.weight': torch.zeros(1)}}, tmp_path / 'x.pth')
    assert run_main(tool, cam_argv(root, str(tmp_path / 'x.pth'), tmp_path / 'o3')) == 2
    assert "not a checkpoint of this config's CAMSegmentor" in last_error(capsys)


def test_label_values_out_of_range_name_the_png(voc_mini, tmp_path):
    pytest.importorskip('mmcv.ops')
    from mmengine.registry import init_default_scope

    import mmseg_sam_wsss.registration  # noqa: F401
    from mmseg.registry import TRANSFORMS
    init_default_scope('mmseg')
    label = read_label_png(osp.join(voc_mini, 'SegmentationClass', f'{IDS[0]}.png')).copy()
    label[5, 5] = 77
    path = str(tmp_path / f'{IDS[0]}.png')
    write_label_png(path, label)
    load = TRANSFORMS.build(dict(type='LoadAnnotations'))
    check = TRANSFORMS.build(dict(type='CheckLabelValues', num_classes=21))
    results = load(dict(seg_map_path=path, reduce_zero_label=False, seg_fields=[]))
    with pytest.raises(SamWsssError, match=rf'{IDS[0]}.png: label values \[77\]'):
        check(results)
    results['gt_seg_map'][5, 5] = 255
    assert check(results) is results
    with pytest.raises(SamWsssError, match='num_classes=300 is outside its range 2..255'):
        TRANSFORMS.build(dict(type='CheckLabelValues', num_classes=300))
