"""Cityscapes and ADE20K weak labels on synthetic trees in mmseg's layouts: the official coarse
annotations converted to train ids, points/scribbles from the fine GT (ids with city folders),
ADE20K scribbles brought to reduce_zero_label's ids, and the weak datasets on them (any suffix,
no background class)."""
import json
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image
from synthetic_trees import (ADE_IDS, CITYSCAPES_FRAMES, ade_raw_label, cityscapes_fine,
                             make_ade20k_tree, make_cityscapes_tree)

from mmseg_sam_wsss.core.ade20k import reduce_zero_label, reduced_value_map
from mmseg_sam_wsss.core.io import IGNORE_INDEX, read_ids, read_label_png

TRAIN = CITYSCAPES_FRAMES['train']


def run_main(tool, argv):
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    return exit_info.value.code


@pytest.fixture(scope='module')
def tools(repo_root):
    return {name: load_tool(repo_root, name) for name in
            ('convert_cityscapes', 'make_weak_labels', 'convert_weak_labels')}


@pytest.fixture()
def cityscapes_root(tmp_path):
    root = tmp_path / 'cityscapes'
    make_cityscapes_tree(str(root))
    return str(root)


def build_dataset(config):
    from mmengine.registry import init_default_scope

    import mmseg_sam_wsss.registration  # noqa: F401
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(config)


def test_coarse_labels_in_train_ids_with_city_folders(tools, cityscapes_root, tmp_path, capsys):
    out = str(tmp_path / 'weak' / 'coarse')
    argv = ['--root', cityscapes_root, '--split', 'train', '--out', out]
    assert run_main(tools['convert_cityscapes'], argv) == 0
    assert '2 written' in capsys.readouterr().out
    assert read_ids(osp.join(out, 'ids.txt')) == TRAIN
    for seed, frame in enumerate(TRAIN):
        fine = cityscapes_fine(seed)
        coarse = read_label_png(osp.join(out, frame + '.png'), num_classes=19)
        labelled = coarse != IGNORE_INDEX
        # every labelled pixel carries the fine GT's train id; the bands are unlabelled
        assert (coarse[labelled] == fine[labelled]).all() and not labelled[6:10].any()
        assert set(np.unique(coarse).tolist()) == {0, 2, 10, 13, 255}
    with open(osp.join(out, 'weak_meta.json'), encoding='utf-8') as handle:
        meta = json.load(handle)
    assert meta['weak_type'] == 'coarse' and meta['num_classes'] == 19
    assert run_main(tools['convert_cityscapes'], argv) == 0
    assert '0 written, 2 already done (skipped)' in capsys.readouterr().out
    # cityscapesscripts' names, for datasets that read them in place
    named = str(tmp_path / 'weak' / 'named')
    assert run_main(tools['convert_cityscapes'],
                    argv[:-1] + [named, '--out-suffix', '_gtCoarse_labelTrainIds.png']) == 0
    capsys.readouterr()
    assert osp.isfile(osp.join(named, TRAIN[0] + '_gtCoarse_labelTrainIds.png'))

    # WeakCityscapesDataset: any suffix, tags of a dataset without background (road 0 is one)
    for weak_dir, suffix in ((out, '.png'), (named, '_gtCoarse_labelTrainIds.png')):
        dataset = build_dataset(dict(
            type='WeakCityscapesDataset', weak_type='coarse', data_root=cityscapes_root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train',
                             weak_label_path=weak_dir),
            weak_label_suffix=suffix, pipeline=[]))
        assert len(dataset) == 2 and len(dataset.metainfo['classes']) == 19
        info = dataset.get_data_info(0)
        assert info['weak_label_path'] == osp.join(weak_dir, TRAIN[0] + suffix)
        assert info['image_tags'].tolist() == [0, 2, 10, 13]


def test_points_from_fine_gt_and_bad_coarse_labels(tools, cityscapes_root, tmp_path, capsys):
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(TRAIN) + '\n')
    out = str(tmp_path / 'point')
    assert run_main(tools['make_weak_labels'], [
        '--gt', osp.join(cityscapes_root, 'gtFine', 'train'), '--gt-suffix',
        '_gtFine_labelTrainIds.png', '--ids', str(ids_file), '--num-classes', '19', '--type',
        'point', '--min-area', '1', '--out', out]) == 0
    capsys.readouterr()
    for seed, frame in enumerate(TRAIN):
        points = read_label_png(osp.join(out, frame + '.png'), num_classes=19)
        labelled = points != IGNORE_INDEX
        assert labelled.any() and (points[labelled] == cityscapes_fine(seed)[labelled]).all()
        assert 0 in points  # road is a class like any other
    # a coarse label of the wrong size, then a colour value: one line naming the file
    coarse = osp.join(cityscapes_root, 'gtCoarse', 'train', TRAIN[1] + '_gtCoarse_labelIds.png')
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(coarse)
    code = run_main(tools['convert_cityscapes'], ['--root', cityscapes_root, '--out',
                                                  str(tmp_path / 'bad')])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and f'{coarse}: label is 8x8 (HxW) but its image' in error
    Image.fromarray(np.full((32, 64), 77, np.uint8)).save(coarse)
    code = run_main(tools['convert_cityscapes'], ['--root', cityscapes_root, '--out',
                                                  str(tmp_path / 'bad2'), '--skip-bad'])
    captured = capsys.readouterr()
    assert code == 3 and '1 written, 0 already done (skipped), 1 bad' in captured.out
    assert f'{coarse}: values [77] are not Cityscapes label ids' in captured.err
    assert run_main(tools['convert_cityscapes'], ['--root', str(tmp_path), '--out',
                                                  str(tmp_path / 'x')]) == 2
    assert 'gtCoarse/train: not found' in capsys.readouterr().err


def test_ade20k_scribbles_in_reduced_ids(tools, tmp_path, capsys):
    root = str(tmp_path / 'ADEChallengeData2016')
    make_ade20k_tree(root)
    ids = ADE_IDS['training']
    # Scribbles4All-style PNGs (raw ids, 0 unlabelled) through the converter's png format
    converted = osp.join(root, 'weak_labels', 'scribble', 'training')
    assert run_main(tools['convert_weak_labels'], [
        '--format', 'png', osp.join(root, 's4a_scribbles'), '--weak-type', 'scribble',
        '--ignore-value', '0', '--value-map', *reduced_value_map(), '--num-classes', '150',
        '--img-dir', osp.join(root, 'images', 'training'), '--out', converted]) == 0
    # and synthesised from the raw GT with --reduce-zero-label
    synthesised = str(tmp_path / 'synth')
    assert run_main(tools['make_weak_labels'], [
        '--gt', osp.join(root, 'annotations', 'training'), '--reduce-zero-label',
        '--num-classes', '150', '--type', 'scribble', '--out', synthesised]) == 0
    capsys.readouterr()
    for seed, image_id in enumerate(ids):
        reduced_gt = reduce_zero_label(ade_raw_label(seed))
        for folder in (converted, synthesised):
            weak = read_label_png(osp.join(folder, image_id + '.png'), num_classes=150)
            labelled = weak != IGNORE_INDEX
            assert labelled.any() and (weak[labelled] == reduced_gt[labelled]).all()
        assert 149 in read_label_png(osp.join(converted, image_id + '.png'))  # flag, raw 150
    # without --reduce-zero-label the raw id 150 is no class id < 150: one line
    assert run_main(tools['make_weak_labels'], [
        '--gt', osp.join(root, 'annotations', 'training'), '--num-classes', '150', '--type',
        'scribble', '--out', str(tmp_path / 'raw')]) == 2
    assert 'label values [150]' in capsys.readouterr().err
    dataset = build_dataset(dict(
        type='WeakADE20KDataset', weak_type='scribble', data_root=root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training',
                         weak_label_path='weak_labels/scribble/training'), pipeline=[]))
    assert dataset.reduce_zero_label is False and len(dataset.metainfo['classes']) == 150
    assert dataset.get_data_info(0)['image_tags'].tolist() == [0, 2, 149]  # wall, sky, flag
    tags_from_gt = build_dataset(dict(
        type='WeakADE20KDataset', weak_type='image', reduce_zero_label=True, data_root=root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[]))
    assert tags_from_gt.get_data_info(1)['image_tags'].tolist() == [0, 2, 149]
