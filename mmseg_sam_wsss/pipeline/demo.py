"""The demo's stages: a procedural shape dataset, then SEPL from its image tags, or SeSAM from
weak labels synthesised from its GT (``--weak``)."""
import argparse
import os.path as osp
from typing import List

from ..core.io import read_ids
from ..utils.mm_tools import schedule_options
from ..utils.stages import Stage
from .common import (LOADERS, REPO_ROOT, Paths, config_value, data_root_options, eval_stage,
                     label_rows, mask_stage, model_rows, report_stage, test_stage, tool,
                     train_stage, write_lines, write_table)
from .sesam import SesamRun, sesam_stages

DEMO_CAM_CONFIG = 'configs/demo/cam_r18_shapes.py'
DEMO_SEG_CONFIG = 'configs/demo/deeplabv3_r18_shapes.py'
SESAM_DEMO_CONFIG = 'configs/demo/sesam_deeplabv3_r18_shapes.py'
DEMO_CLASSES = ('background', 'disc', 'square', 'triangle', 'ring', 'star')


def demo_data_stage(args: argparse.Namespace, data: str) -> Stage:
    """The procedural shape dataset (train and val, GT, tags) in VOC layout under ``data``."""
    return Stage('data', f'procedural shape dataset ({args.num_train} train, {args.num_val} val, '
                 '128 px)', [tool('make_synthetic_dataset.py'), '--out', data, '--num-train',
                             str(args.num_train), '--num-val', str(args.num_val), '--seed',
                             str(args.seed), '--workers', str(args.workers)],
                 [osp.join(data, 'cls_labels.json'),
                  osp.join(data, 'ImageSets', 'Segmentation', 'val.txt')])


def demo_sesam_stages(args: argparse.Namespace, paths: Paths, data: str,
                      seg_options: List[str], seg_iters: int) -> List[Stage]:
    """The SeSAM demo: synthesised weak labels, SeSAM labels from the imperfect prompt oracle
    (not SAM) or SAM, the weak-only and plain-CE baselines, and ``--rounds`` semi-supervised
    rounds; the report shows train images (the only ones with weak and SeSAM labels)."""
    train_ids = osp.join(data, 'ImageSets', 'Segmentation', 'train.txt')
    grid_ids = paths('ids', 'report.txt')

    def write_ids() -> None:
        write_lines(grid_ids, read_ids(train_ids)[:args.grid_rows])

    source = 'SAM' if args.sam_checkpoint else 'GT prompt oracle with simulated SAM errors, ' \
        'not SAM'
    return [
        demo_data_stage(args, data),
        Stage('ids', 'report rows (train ids)', action=write_ids,
              describe=f'write {grid_ids} (first {args.grid_rows} train ids)',
              outputs=[grid_ids]),
    ] + sesam_stages(args, paths, SesamRun(
        gt_dir=osp.join(data, 'SegmentationClass'),
        img_dir=osp.join(data, 'JPEGImages'), train_ids=train_ids, grid_ids=grid_ids,
        num_classes=len(DEMO_CLASSES), class_names=DEMO_CLASSES, seg_config=DEMO_SEG_CONFIG,
        semi_config=SESAM_DEMO_CONFIG, seg_options=seg_options, iters=seg_iters,
        baselines=True, classes_json=osp.join(data, 'classes.json'),
        title=f'Demo: SeSAM from {args.weak} labels on procedural shapes ({source}); '
        'pictures: train images'))


def demo_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    data = paths('data')
    data_abs = osp.join(REPO_ROOT, data)
    gt_dir, img_dir = osp.join(data, 'SegmentationClass'), osp.join(data, 'JPEGImages')
    train_ids = osp.join(data, 'ImageSets', 'Segmentation', 'train.txt')
    val_ids = osp.join(data, 'ImageSets', 'Segmentation', 'val.txt')
    # CAMs, masks and enhanced labels are made for the train ids (scored, trained on) and for
    # the report's few val ids (pictures beside the val predictions only).
    all_ids, grid_ids = paths('ids', 'train_and_report.txt'), paths('ids', 'report.txt')
    cam_iters = args.cam_iters or config_value(DEMO_CAM_CONFIG, 'train_cfg.max_iters')
    seg_iters = args.seg_iters or config_value(DEMO_SEG_CONFIG, 'train_cfg.max_iters')
    cls_labels = osp.join(data_abs, 'cls_labels.json')
    cam_options = data_root_options(data_abs) + [
        f'{loader}.dataset.pipeline.LoadImageTags.cls_labels_file={cls_labels}'
        for loader in LOADERS]
    if args.cam_iters:
        cam_options += schedule_options(cam_iters)
    cam_options += args.cam_cfg_options
    seg_options = data_root_options(data_abs)
    if args.seg_iters:
        seg_options += schedule_options(seg_iters)
    seg_options += args.seg_cfg_options
    if args.weak:
        return demo_sesam_stages(args, paths, data, seg_options, seg_iters)
    cam_labels = paths('cam_labels', 'pseudo_labels')
    source_name = 'SAM' if args.sam_checkpoint else 'oracle-simulated masks, not SAM'

    def write_ids() -> None:
        grid = read_ids(val_ids)[:args.grid_rows]
        write_lines(all_ids, read_ids(train_ids) + grid)
        write_lines(grid_ids, grid)

    def make_table() -> None:
        write_table(paths('results.json'), label_rows(paths, 'CAM') + model_rows(paths, [
            ('cam', 'DeepLabV3 trained on CAM pseudo-labels'),
            ('enhanced', f'DeepLabV3 trained on enhanced pseudo-labels ({source_name})')]))

    stages = [
        demo_data_stage(args, data),
        Stage('ids', 'id lists: the report\'s val pictures, and train + those', action=write_ids,
              describe=f'write {grid_ids} (first {args.grid_rows} val ids) and {all_ids}',
              outputs=[all_ids, grid_ids]),
        train_stage('cam_train', f'train the CAM classifier from image tags ({cam_iters} '
                    'iterations)', DEMO_CAM_CONFIG, paths('cam'), cam_options, cam_iters),
        Stage('cams', 'CAMs and CAM pseudo-labels (multi-scale + flip)',
              [tool('generate_cams.py'), DEMO_CAM_CONFIG,
               paths('cam', f'iter_{cam_iters}.pth'), '--out', paths('cam_labels'), '--ids',
               all_ids, '--cfg-options'] + cam_options, [cam_labels]),
        mask_stage(args, paths, img_dir, gt_dir, all_ids, len(DEMO_CLASSES)),
        Stage('enhance', 'enhanced pseudo-labels: SEPL merge of the masks into the CAM labels',
              [tool('enhance_pseudo_labels.py'), '--pseudo-dir', cam_labels, '--masks',
               paths('masks'), '--out', paths('enhanced'), '--num-classes',
               str(len(DEMO_CLASSES)), '--ids', all_ids, '--workers', str(args.workers)],
              [osp.join(paths('enhanced'), 'enhance_meta.json')]),
        eval_stage('eval_cam', 'score the CAM pseudo-labels (train) against the GT', cam_labels,
                   gt_dir, train_ids, paths('eval', 'cam_labels.json'), len(DEMO_CLASSES),
                   DEMO_CLASSES),
        eval_stage('eval_enhanced', 'score the enhanced pseudo-labels (train) against the GT',
                   paths('enhanced'), gt_dir, train_ids, paths('eval', 'enhanced_labels.json'),
                   len(DEMO_CLASSES), DEMO_CLASSES),
    ]
    for key, labels, name in (('cam', cam_labels, 'CAM pseudo-labels'),
                              ('enhanced', paths('enhanced'),
                               f'enhanced pseudo-labels ({source_name})')):
        seg_dir = paths(f'seg_{key}')
        options = seg_options + [f'train_dataloader.dataset.data_prefix.seg_map_path='
                                 f'{osp.join(REPO_ROOT, labels)}']
        stages.append(train_stage(f'seg_{key}', f'train DeepLabV3 on the {name} '
                                  f'({seg_iters} iterations)', DEMO_SEG_CONFIG, seg_dir,
                                  options, seg_iters))
    for key in ('cam', 'enhanced'):
        stages.append(test_stage(
            f'test_{key}', f'test the DeepLabV3 trained on {key} labels on val',
            DEMO_SEG_CONFIG, paths(f'seg_{key}', f'iter_{seg_iters}.pth'), paths(f'test_{key}'),
            paths('preds', key), seg_options))
    stages += [
        Stage('table', 'results table', action=make_table,
              describe=f'collect the mIoUs into {paths("results.json")}',
              outputs=[paths('results.json')]),
        report_stage(args, paths, 'Demo: SAM-enhanced pseudo-labels on procedural shapes',
                     img_dir=img_dir, gt_dir=gt_dir, cam_dir=cam_labels,
                     enhanced_dir=paths('enhanced'), classes=osp.join(data, 'classes.json'),
                     preds=[('CAM-label model', paths('preds', 'cam')),
                            ('enhanced-label model', paths('preds', 'enhanced'))],
                     ids=grid_ids,
                     work_dirs=[('CAM classifier', paths('cam')),
                                ('DeepLabV3 on CAM labels', paths('seg_cam')),
                                ('DeepLabV3 on enhanced labels', paths('seg_enhanced'))]),
    ]
    return stages
