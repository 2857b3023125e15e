"""Each second benchmark end to end on a synthetic tree in its mmseg layout, with the CPU smoke
configs (tiny model, 2 iterations; the numbers mean nothing, the path is what is checked):

* COCO 2014 (SEPL): converter -> tools/run_pipeline.py coco (CAM training, CAMs, oracle masks
  (NOT SAM), SEPL merge, DeepLabV3 on the CAM labels and on them enhanced online, tests,
  report); superpixel masks (NOT SAM) read the greyscale JPEG;
* Cityscapes (SeSAM, coarse): converter -> SeSAM labels with the GT oracle answering the prompts
  (an upper bound, NOT SAM) -> semi-supervised training -> tools/test.py;
* ADE20K (SeSAM, scribbles, reduce_zero_label): Scribbles4All-style PNGs -> weak labels in
  reduced ids -> the sesam_coverage merge of superpixel masks (NOT SAM) -> semi-supervised
  training -> tools/test.py on the raw GT (reduced when loading).
"""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from helpers import load_tool, run_tool
from PIL import Image
from synthetic_trees import (ADE_IDS, CITYSCAPES_FRAMES, ade_raw_label, cityscapes_fine,
                             make_ade20k_tree, make_cityscapes_tree, make_coco_tree)

from mmseg_sam_wsss.core.ade20k import reduce_zero_label, reduced_value_map
from mmseg_sam_wsss.core.io import IGNORE_INDEX, read_ids, read_label_png
from mmseg_sam_wsss.utils.mm_tools import schedule_options

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def run_main(tool, argv):
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    return exit_info.value.code


def roots(root):
    return [f'{loader}.dataset.data_root={root}' for loader in LOADERS]


def recomputed_miou(prediction, gt_label, num_classes):
    """mmseg's IoUMetric by hand for one image: per-class IoU over the classes with a non-empty
    union (255 in the GT ignored), averaged; percent."""
    valid = gt_label != IGNORE_INDEX
    pred, gt = prediction[valid].astype(np.int64), gt_label[valid].astype(np.int64)
    intersect = np.bincount(pred[pred == gt], minlength=num_classes)
    union = (np.bincount(pred, minlength=num_classes) + np.bincount(gt, minlength=num_classes)
             - intersect)
    return 100 * float(np.mean(intersect[union > 0] / union[union > 0]))


def train_and_test(repo_root, config, work_dir, options, test_options, gt_label, num_classes,
                   saved_offset=0):
    """2 iterations of ``config``, then tools/test.py on its checkpoint, whose one val image's
    saved prediction (minus ``saved_offset``: mmseg adds 1 under reduce_zero_label) must give
    the mIoU it printed against ``gt_label``: the numbers are meaningless after 2 iterations,
    but the evaluation path (which GT, which ids, what is ignored) is checked exactly."""
    run_tool(repo_root, ['tools/train.py', config, '--work-dir', work_dir, '--cfg-options']
             + options + schedule_options(2, log_interval=1))
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint)
    out = osp.join(work_dir, 'preds')
    tested = run_tool(repo_root, ['tools/test.py', config, checkpoint, '--work-dir', work_dir,
                                  '--out', out, '--cfg-options'] + test_options)
    match = re.search(r'mIoU: ([0-9.]+)', tested.stdout + tested.stderr)
    assert match, (tested.stdout + tested.stderr)[-3000:]
    (saved, ) = os.listdir(out)
    prediction = np.asarray(Image.open(osp.join(out, saved))).astype(np.int64) - saved_offset
    assert prediction.shape == gt_label.shape
    assert float(match.group(1)) == pytest.approx(recomputed_miou(prediction, gt_label,
                                                                  num_classes), abs=0.006)
    return float(match.group(1))


@pytest.fixture(scope='module')
def coco(repo_root, tmp_path_factory):
    """A converted synthetic COCO 2014 tree (train and val labels, ids, tags)."""
    root = str(tmp_path_factory.mktemp('coco') / 'coco2014')
    annotations = make_coco_tree(root)
    tool = load_tool(repo_root, 'convert_coco')
    for split in ('train2014', 'val2014'):
        assert run_main(tool, ['--ann', annotations[split], '--img-dir', osp.join(root, split),
                               '--out', osp.join(root, 'labels', split)]) == 0
    tags = {split: osp.join(root, 'labels', split, 'cls_labels.json')
            for split in ('train2014', 'val2014')}
    return dict(root=root, tags=tags)


@pytest.mark.slow
def test_run_pipeline_coco(repo_root, coco, tmp_path):
    """``tools/run_pipeline.py coco`` (``make coco``) with the smoke configs: the CAM classifier
    (``configs/smoke/cam_r50_coco_smoke.py``) from the tags, CAMs of exactly the image's tags, oracle masks (NOT SAM), the SEPL merge,
    both DeepLabV3 (``configs/smoke/deeplabv3_r50_coco_smoke.py`` on the CAM labels,
    ``configs/smoke/deeplabv3_coco_smoke.py`` enhancing them online), tests, table and report."""
    work = tmp_path / 'work'
    result = run_tool(repo_root, ['tools/run_pipeline.py', 'coco', '--data-root', coco['root'],
                                  '--work-dir', str(work), '--quick', '1', '--cam-iters', '2',
                                  '--seg-iters', '2', '--grid-rows', '2'])
    names = read_ids(osp.join(coco['root'], 'labels', 'train2014', 'ids.txt'))
    assert read_ids(str(work / 'ids' / 'train.txt')) == names
    tags = {names[0]: {1, 17, 80}, names[1]: {1, 3}, names[2]: {16}}
    for name in names:  # CAM labels only use the image's tags
        label = read_label_png(str(work / 'cam_labels' / 'pseudo_labels' / f'{name}.png'),
                               num_classes=81)
        assert label.shape == (48, 64) and set(np.unique(label).tolist()) <= {0} | tags[name]
        with np.load(str(work / 'cam_labels' / 'cams' / f'{name}.npz')) as cams:
            assert set(cams['class_ids'].tolist()) == tags[name]
        enhanced = read_label_png(str(work / 'enhanced' / f'{name}.png'), num_classes=81)
        assert enhanced.shape == (48, 64)
    for key, config in (('cam', 'configs/smoke/cam_r50_coco_smoke.py'),
                        ('seg_cam', 'configs/smoke/deeplabv3_r50_coco_smoke.py'),
                        ('seg_enhanced', 'configs/smoke/deeplabv3_coco_smoke.py')):
        stage = 'cam_train' if key == 'cam' else key
        marker = json.loads((work / 'stages' / f'{stage}.json').read_text())
        assert marker['command'][1] == config and (work / key / 'iter_2.pth').is_file()
    rows = json.loads((work / 'results.json').read_text())
    assert [row['scored on'] for row in rows] == ['train2014, vs GT'] * 2 + \
        ['val, tools/test.py'] * 2
    # Each model row is the mIoU its tools/test.py run wrote (not a placeholder or a copy).
    from mmseg_sam_wsss.pipeline.common import latest_test_metrics
    assert [row['mIoU'] for row in rows[2:]] == [
        float(latest_test_metrics(str(work / f'test_{key}'))['mIoU'])
        for key in ('cam', 'enhanced')]
    assert 'not SAM' in rows[1]['what']
    assert (work / 'report' / 'report_grid.png').is_file()
    assert 'COCO 2014, 81 classes' in result.stdout


def test_coco_superpixel_masks_and_sepl_merge(repo_root, coco, tmp_path):
    """The greyscale JPEG through superpixel masks (NOT SAM) and the 81-class SEPL merge."""
    names_file = osp.join(coco['root'], 'labels', 'train2014', 'ids.txt')
    store = str(tmp_path / 'masks')
    masks_tool = load_tool(repo_root, 'generate_sam_masks')
    assert run_main(masks_tool, ['--img-dir', osp.join(coco['root'], 'train2014'), '--img-suffix',
                                 '.jpg', '--ids', names_file, '--source', 'superpixel', '--out',
                                 store]) == 0  # reads the greyscale JPEG too
    # The GT labels stand in for CAM labels here (run_pipeline above makes real ones).
    cam_labels = osp.join(coco['root'], 'labels', 'train2014')
    enhanced = str(tmp_path / 'enhanced')
    enhance_tool = load_tool(repo_root, 'enhance_pseudo_labels')
    assert run_main(enhance_tool, ['--pseudo-dir', cam_labels, '--masks', store, '--out',
                                   enhanced, '--num-classes', '81', '--ids', names_file]) == 0
    for name in read_ids(names_file):
        label = read_label_png(osp.join(enhanced, name + '.png'), num_classes=81)
        gt = read_label_png(osp.join(cam_labels, name + '.png'), num_classes=81)
        assert label.shape == (48, 64)
        assert set(np.unique(label).tolist()) <= set(np.unique(gt).tolist()) | {255}


@pytest.mark.slow
def test_cityscapes_coarse_sesam(repo_root, tmp_path):
    root = str(tmp_path / 'cityscapes')
    make_cityscapes_tree(root)
    weak_dir = osp.join(root, 'weak_labels', 'coarse', 'train')
    assert run_main(load_tool(repo_root, 'convert_cityscapes'),
                    ['--root', root, '--out', weak_dir]) == 0
    sesam_dir = osp.join(root, 'sesam_labels', 'coarse', 'train')
    run_tool(repo_root, ['tools/sesam_pseudo_labels.py', '--img-dir',
                         osp.join(root, 'leftImg8bit', 'train'), '--img-suffix',
                         '_leftImg8bit.png', '--weak-dir', weak_dir, '--ids',
                         osp.join(weak_dir, 'ids.txt'), '--num-classes', '19', '--source',
                         'oracle', '--gt-dir', osp.join(root, 'gtFine', 'train'), '--gt-suffix',
                         '_gtFine_labelTrainIds.png', '--out', sesam_dir])
    for frame in CITYSCAPES_FRAMES['train']:
        sesam = read_label_png(osp.join(sesam_dir, frame + '.png'), num_classes=19)
        weak = read_label_png(osp.join(weak_dir, frame + '.png'))
        assert (sesam[weak != IGNORE_INDEX] == weak[weak != IGNORE_INDEX]).all()
    train_and_test(repo_root, 'configs/smoke/deeplabv3_cityscapes_coarse_smoke.py',
                   str(tmp_path / 'work'), roots(root), roots(root), cityscapes_fine(0), 19)


@pytest.mark.slow
def test_ade20k_scribble_sesam_in_reduced_ids(repo_root, tmp_path):
    root = str(tmp_path / 'ADEChallengeData2016')
    make_ade20k_tree(root)
    weak_dir = osp.join(root, 'weak_labels', 'scribble', 'training')
    assert run_main(load_tool(repo_root, 'convert_weak_labels'), [
        '--format', 'png', osp.join(root, 's4a_scribbles'), '--weak-type', 'scribble',
        '--ignore-value', '0', '--value-map', *reduced_value_map(), '--num-classes', '150',
        '--out', weak_dir]) == 0
    store = str(tmp_path / 'masks')
    assert run_main(load_tool(repo_root, 'generate_sam_masks'), [
        '--img-dir', osp.join(root, 'images', 'training'), '--img-suffix', '.jpg',
        '--source', 'superpixel', '--out', store]) == 0
    sesam_dir = osp.join(root, 'sesam_labels', 'scribble', 'training')
    assert run_main(load_tool(repo_root, 'enhance_pseudo_labels'), [
        '--pseudo-dir', weak_dir, '--masks', store, '--out', sesam_dir, '--num-classes', '150',
        '--rule', 'sesam_coverage', '--keep-ignore']) == 0
    # The training samples hold reduced ids, the ids validation reduces the raw GT to.
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmseg_sam_wsss.registration  # noqa: F401
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(osp.join(repo_root, 'configs/smoke/deeplabv3_ade20k_scribble_smoke.py'))
    cfg.train_dataloader.dataset.data_root = root
    init_default_scope('mmseg')
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    dataset_cfg.pipeline = dataset_cfg.pipeline[:3]  # load image, SeSAM label, weak label
    sample = DATASETS.build(dataset_cfg)[0]
    reduced_gt = reduce_zero_label(ade_raw_label(0))
    weak = sample['gt_weak_label']
    assert osp.basename(sample['img_path']) == ADE_IDS['training'][0] + '.jpg'
    assert (weak[weak != IGNORE_INDEX] == reduced_gt[weak != IGNORE_INDEX]).all()
    assert 149 in weak and sample['gt_seg_map'].max() in (149, IGNORE_INDEX)
    train_and_test(repo_root, 'configs/smoke/deeplabv3_ade20k_scribble_smoke.py',
                   str(tmp_path / 'work'), roots(root), roots(root),
                   reduce_zero_label(ade_raw_label(0)), 150, saved_offset=1)
