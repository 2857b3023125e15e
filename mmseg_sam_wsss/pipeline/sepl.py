"""SEPL's stages (Chen et al. 2023): CAM labels, class-agnostic masks, the merge into enhanced
labels, their scores, DeepLabV3 on the CAM labels and on them enhanced online, tests, report."""
import argparse
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..utils.stages import Stage
from .common import (REPO_ROOT, Paths, config_iters, config_options, eval_stage, given_cam_dir,
                     label_rows, mask_stage, model_rows, quick_config, report_stage, test_stage,
                     tool, train_stage, write_table)


@dataclass
class SeplRun:
    """What the SEPL stages need from the voc or coco set-up."""
    img_dir: str
    gt_dir: str                    # GT of every training id: oracle masks, report pictures
    train_ids: str                 # the ids labels are made for and the models train on
    score_ids: str                 # the ids the labels are scored on (VOC: train.txt's)
    score_name: str                # how the table names them
    num_classes: int
    class_names: Optional[Sequence[str]]
    cam_config: str
    cam_seg_config: str            # DeepLabV3 on any label folder (the CAM-label baseline)
    sam_seg_config: str            # DeepLabV3 enhancing the CAM labels online
    cam_options: List[str]         # beyond config_options: e.g. COCO's tag files
    cam_seg_options: List[str]     # beyond the label folder: e.g. no GT fallback
    default_cam_dir: Optional[str]  # CAM labels ``--cam auto`` uses when present
    title: str
    grid_ids: str
    classes_json: Optional[str] = None  # names and palette for the report (default: VOC's)
    grid_options: Sequence[str] = ()    # the test dataset of the report's train images


def sepl_stages(args: argparse.Namespace, paths: Paths, run: SeplRun) -> List[Stage]:
    """CAM labels (given or trained), masks, enhanced labels and their scores, DeepLabV3 on
    the CAM labels and on the labels enhanced online, their tests, the table and the report."""
    stages: List[Stage] = []
    cam_dir = given_cam_dir(args, run.default_cam_dir)
    names = run.class_names
    if cam_dir is None:
        cam_config = quick_config(args, run.cam_config)
        cam_iters = config_iters(args, 'cam', cam_config)
        cam_options = config_options(args, cam_iters, cam=True) + run.cam_options
        cam_dir = paths('cam_labels', 'pseudo_labels')
        cam_name = 'CAM'
        stages += [
            train_stage('cam_train', f'train the CAM classifier from image tags ({cam_iters} '
                        'iterations)', cam_config, paths('cam'), cam_options, cam_iters),
            Stage('cams', 'CAMs and CAM pseudo-labels (multi-scale + flip), train ids',
                  [tool('generate_cams.py'), cam_config,
                   paths('cam', f'iter_{cam_iters}.pth'), '--out', paths('cam_labels'),
                   '--ids', run.train_ids, '--cfg-options'] + cam_options, [cam_dir]),
        ]
    else:
        cam_name = f'CAM ({osp.basename(cam_dir.rstrip("/"))}, given)'
        print(f'CAM pseudo-labels: using the existing {cam_dir} (no CAM training; pass '
              '--cam train to train one)', flush=True)
    source_name = 'SAM' if args.sam_checkpoint else 'oracle-simulated masks, not SAM'
    classes = ['--num-classes', str(run.num_classes)]
    stages += [
        mask_stage(args, paths, run.img_dir, run.gt_dir, run.train_ids, run.num_classes),
        Stage('enhance', 'enhanced pseudo-labels offline (for scoring and the report; '
              'training enhances online with LoadSAMMasks + SAMEnhancePseudoLabel)',
              [tool('enhance_pseudo_labels.py'), '--pseudo-dir', cam_dir, '--masks',
               paths('masks'), '--out', paths('enhanced'), '--ids', run.train_ids,
               '--workers', str(args.workers)] + classes,
              [osp.join(paths('enhanced'), 'enhance_meta.json')]),
        eval_stage('eval_cam', f'score the CAM pseudo-labels ({run.score_name}) against the GT',
                   cam_dir, run.gt_dir, run.score_ids, paths('eval', 'cam_labels.json'),
                   run.num_classes, names),
        eval_stage('eval_enhanced', f'score the enhanced pseudo-labels ({run.score_name}) '
                   'against the GT', paths('enhanced'), run.gt_dir, run.score_ids,
                   paths('eval', 'enhanced_labels.json'), run.num_classes, names),
    ]
    cam_abs = osp.join(REPO_ROOT, cam_dir)
    runs = []
    for key, full_config, name in (
            ('cam', run.cam_seg_config, 'CAM pseudo-labels'),
            ('enhanced', run.sam_seg_config, f'CAM labels enhanced online ({source_name})')):
        config = quick_config(args, full_config)
        iters = config_iters(args, 'seg', config)
        options = config_options(args, iters) + [
            f'train_dataloader.dataset.data_prefix.seg_map_path={cam_abs}']
        if key == 'cam':
            options += run.cam_seg_options
        else:
            options.append('train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root='
                           f'{osp.join(REPO_ROOT, paths("masks"))}')
        runs.append((key, config, name, iters, options))
        stages.append(train_stage(f'seg_{key}', f'train DeepLabV3 ({config}) on {name} '
                                  f'({iters} iterations)', config, paths(f'seg_{key}'),
                                  options, iters))
    grid_abs = osp.join(REPO_ROOT, run.grid_ids)
    for key, config, name, iters, options in runs:
        checkpoint = paths(f'seg_{key}', f'iter_{iters}.pth')
        test_options = config_options(args, iters)
        stages.append(test_stage(f'test_{key}', f'test the DeepLabV3 trained on {key} labels '
                                 'on val', config, checkpoint, paths(f'test_{key}'),
                                 paths('preds', key), test_options))
        stages.append(test_stage(
            f'grid_{key}', f'predictions of the {key}-label model on the report\'s train '
            'images', config, checkpoint, paths(f'test_grid_{key}'), paths('preds_grid', key),
            test_options + [f'test_dataloader.dataset.ann_file={grid_abs}',
                            'test_dataloader.dataset.indices=None', *run.grid_options]))

    def make_table() -> None:
        write_table(paths('results.json'), label_rows(paths, cam_name, run.score_name)
                    + model_rows(paths, [
                        ('cam', 'DeepLabV3 trained on CAM pseudo-labels'),
                        ('enhanced', f'DeepLabV3 trained on enhanced pseudo-labels '
                         f'({source_name})')]))

    stages += [
        Stage('table', 'results table', action=make_table,
              describe=f'collect the mIoUs into {paths("results.json")}',
              outputs=[paths('results.json')]),
        report_stage(args, paths, run.title, img_dir=run.img_dir, gt_dir=run.gt_dir,
                     cam_dir=cam_dir, enhanced_dir=paths('enhanced'),
                     classes=run.classes_json, ids=run.grid_ids,
                     preds=[('CAM-label model', paths('preds_grid', 'cam')),
                            ('enhanced-label model', paths('preds_grid', 'enhanced'))],
                     work_dirs=[('DeepLabV3 on CAM labels', paths('seg_cam')),
                                ('DeepLabV3 on enhanced labels', paths('seg_enhanced'))]),
    ]
    return stages
