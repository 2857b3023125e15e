"""VOC train_aug end to end on a small tree in mmseg's voc_aug layout (real voc_mini images;
3 ids with VOC GT, 3 with SBD-style GT only): the shipped configs as they are (only data_root
changed) train on ``trainaug.txt``, ``tools/generate_cams.py --split trainaug`` labels every id,
``tools/make_weak_labels.py`` reads each id's GT from the folder that has it, and
``tools/run_pipeline.py voc`` runs the SEPL stages on train_aug while scoring on train.txt.
Smoke configs, 2 iterations, oracle masks (NOT SAM): the wiring is checked, not the numbers.
"""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from helpers import run_tool
from synthetic_trees import make_voc_aug_tree

from mmseg_sam_wsss.core.io import read_ids, read_label_png
from mmseg_sam_wsss.utils.mm_tools import schedule_options

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def voc_aug(voc_mini, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('voc_aug') / 'VOC2012')
    return dict(root=root, ids=make_voc_aug_tree(voc_mini, root))


@pytest.mark.slow
def test_cam_config_trains_and_labels_train_aug_as_shipped(repo_root, voc_aug, tmp_path):
    config = 'configs/smoke/cam_r50_voc_smoke.py'
    options = [f'{loader}.dataset.data_root={voc_aug["root"]}' for loader in LOADERS]
    work_dir = str(tmp_path / 'cam')
    trained = run_tool(repo_root, ['tools/train.py', config, '--work-dir', work_dir,
                                   '--cfg-options'] + options + schedule_options(2))
    log = trained.stdout + trained.stderr
    # the tags of all 6 train_aug ids: 3 from VOC's GT, 3 from SBD's
    assert re.search(r'VOCAugDataset: 6 labels of trainaug.txt: 3 from \S+SegmentationClass, '
                     r'3 from \S+SegmentationClassAug', log), log[-3000:]
    out = tmp_path / 'cams'
    generated = run_tool(repo_root, ['tools/generate_cams.py', config,
                                     osp.join(work_dir, 'iter_2.pth'), '--out', str(out),
                                     '--split', 'trainaug', '--scales', '1.0', '--no-flip',
                                     '--cfg-options'] + options)
    assert '6 written' in generated.stdout, generated.stdout
    for image_id in voc_aug['ids']['train'] + voc_aug['ids']['aug']:
        label = read_label_png(str(out / 'pseudo_labels' / f'{image_id}.png'))
        gt_folder = 'SegmentationClassAug' if image_id in voc_aug['ids']['aug'] \
            else 'SegmentationClass'
        gt = read_label_png(osp.join(voc_aug['root'], gt_folder, image_id + '.png'))
        assert label.shape == gt.shape
        # CAM labels hold only the image's tags (from that GT) and background
        assert set(np.unique(label).tolist()) <= set(np.unique(gt).tolist()) | {0, 255}


def test_weak_labels_read_each_ids_gt_where_it_is(repo_root, voc_aug, tmp_path):
    root, out = voc_aug['root'], tmp_path / 'weak'
    run_tool(repo_root, ['tools/make_weak_labels.py', '--gt',
                         osp.join(root, 'SegmentationClass'),
                         osp.join(root, 'SegmentationClassAug'), '--ids',
                         osp.join(root, 'ImageSets', 'Segmentation', 'trainaug.txt'),
                         '--type', 'scribble', '--out', str(out)])
    for image_id in voc_aug['ids']['train'] + voc_aug['ids']['aug']:
        gt_folder = 'SegmentationClassAug' if image_id in voc_aug['ids']['aug'] \
            else 'SegmentationClass'
        gt = read_label_png(osp.join(root, gt_folder, image_id + '.png'))
        weak = read_label_png(str(out / f'{image_id}.png'))
        labelled = weak != 255
        assert labelled.any() and np.array_equal(weak[labelled], gt[labelled])
    record = json.loads((out / '.provenance.json').read_text())
    assert len([name for name in record['inputs'] if name.startswith('--gt')]) == 2


@pytest.mark.slow
def test_run_pipeline_voc_on_train_aug(repo_root, voc_aug, tmp_path):
    work = tmp_path / 'work'
    result = run_tool(repo_root, ['tools/run_pipeline.py', 'voc', '--data-root', voc_aug['root'],
                                  '--work-dir', str(work), '--quick', '1', '--cam', 'train',
                                  '--cam-iters', '2', '--seg-iters', '2', '--grid-rows', '2'])
    ids = voc_aug['ids']
    assert read_ids(str(work / 'ids' / 'train.txt')) == ids['train'] + ids['aug']
    assert read_ids(str(work / 'ids' / 'score.txt')) == ids['train']  # VOC's own GT
    for image_id in ids['aug']:
        assert os.readlink(str(work / 'gt' / f'{image_id}.png')).endswith(
            osp.join('SegmentationClassAug', image_id + '.png'))
    for folder in ('cam_labels/pseudo_labels', 'enhanced'):
        written = {name[:-4] for name in os.listdir(work / folder) if name.endswith('.png')}
        assert written == set(ids['train'] + ids['aug']), folder
    rows = json.loads((work / 'results.json').read_text())
    assert [row['scored on'] for row in rows[:2]] == ['train, vs GT'] * 2
    assert 'not SAM' in rows[1]['what']
    # the CAM classifier's tags come from both GT folders; the CAM-label baseline trains on
    # the CAM labels alone (no GT fallback, so VOCAugDataset has nothing to report)
    assert re.search(r'VOCAugDataset: 6 labels of train.txt: 3 from \S+SegmentationClass, 3 from',
                     (work / 'logs' / 'cam_train.log').read_text())
    assert 'VOCAugDataset:' not in (work / 'logs' / 'seg_cam.log').read_text()
    assert 'pictures' in result.stdout and '(trainaug)' in result.stdout
