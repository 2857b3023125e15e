"""Run the whole SAM-enhanced WSSS pipeline by calling the project's tools, one stage each.

    # the demo: procedural shapes, CPU, no download (``make demo``)
    python tools/run_pipeline.py demo [--work-dir work_dirs/demo] [--num-train 240]
        [--num-val 80] [--cam-iters N] [--seg-iters N] [--seed 0]
        [--sam-checkpoint PATH [--sam-model-type vit_h]]
    # PASCAL VOC layout (``make voc``): CAM labels, masks, enhanced labels, two DeepLabV3 runs
    python tools/run_pipeline.py voc --data-root data/VOCdevkit/VOC2012 [--work-dir DIR]
        [--cam auto|train|DIR] [--quick auto|0|1] [--cam-iters N] [--seg-iters N]
        [--sam-checkpoint PATH [--sam-model-type vit_h]] [--weak point|scribble|coarse]

Every stage is one ordinary tool of ``tools/`` run as a subprocess with this Python from the
repository root; the driver prints the stage, the exact command and the stage's wall time.
Training and test logs go to ``WORK_DIR/logs/<stage>.log`` (a progress bar follows mmengine's
``Iter(...) [i/N]`` lines; ``--verbose`` shows the whole log); the per-image tools show their
own progress bars. A finished stage writes ``WORK_DIR/stages/<stage>.json`` (its command and
wall time), so a rerun skips it; a killed stage resumes (per-image tools skip finished images,
training resumes from its last checkpoint). A finished stage whose command has changed since is
refused with a message naming what to delete.

Class-agnostic masks come from SAM with ``--sam-checkpoint``; without it from the imperfect GT
oracle of ``tools/generate_sam_masks.py --source oracle --oracle-imperfect`` (GT components
with simulated SAM errors, NOT SAM), and every table row, log line and report says which.
The run ends with ``WORK_DIR/results.json`` (the table), ``WORK_DIR/report/report.html`` with
``report_grid.png`` and ``report_curves.png``, and the table and stage times printed.
"""
import argparse
import functools
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmseg_sam_wsss.core.io import atomic_write, read_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import run_tool  # noqa: E402
from mmseg_sam_wsss.visualization.report import format_text_table, mask_source_text  # noqa: E402
from mmseg_sam_wsss.utils.stages import Stage, StageRunner, relative_to  # noqa: E402

DEMO_CAM_CONFIG = 'configs/demo/cam_r18_shapes.py'
DEMO_SEG_CONFIG = 'configs/demo/deeplabv3_r18_shapes.py'
VOC_CAM_CONFIG = 'configs/sam_wsss/cam_r50_voc.py'
VOC_CAM_SEG_CONFIG = 'configs/baselines/deeplabv3_r50_voc.py'
VOC_SAM_SEG_CONFIG = 'configs/sam_wsss/deeplabv3_voc.py'
SESAM_CONFIG = 'configs/sesam/deeplabv3_voc_{}.py'
DEMO_CLASSES = ('background', 'disc', 'square', 'triangle', 'ring', 'star')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
QUICK_DEFAULT_ITERS = dict(cam=20, seg=20)


def rel(path: str) -> str:
    """``path`` relative to the repository root when inside it (commands run from there)."""
    return relative_to(path, REPO_ROOT)


@functools.lru_cache(maxsize=None)
def load_config(config: str):
    """A config file parsed once (the stage lists read the same few configs many times)."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO_ROOT, config), import_custom_modules=False)


def config_value(config: str, key: str):
    """A value of a config file (dotted key), read with mmengine without importing plugins."""
    value = load_config(config)
    for part in key.split('.'):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def pipeline_index(config: str, loader: str, transform: str) -> int:
    """Position of the first ``transform`` in a dataloader's pipeline of ``config``."""
    pipeline = config_value(config, f'{loader}.dataset.pipeline')
    for index, step in enumerate(pipeline):
        if step['type'] == transform:
            return index
    raise SamWsssError(f'{config}: {loader}.dataset.pipeline has no {transform}; '
                       'tools/run_pipeline.py cannot point it at the work dir')


def schedule_options(iters: int, log_interval: int = 10) -> List[str]:
    """``--cfg-options`` setting an iteration-based schedule of ``iters`` iterations."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'param_scheduler.0.end={iters}', f'default_hooks.checkpoint.interval={iters}',
            f'default_hooks.logger.interval={min(log_interval, iters)}']


def data_root_options(data_root: str, loaders: Sequence[str] = LOADERS) -> List[str]:
    return [f'{loader}.dataset.data_root={data_root}' for loader in loaders]


def quick_options(config: str, model_prefix: str = 'model', crop: int = 256,
                  cam: bool = False) -> List[str]:
    """``--cfg-options`` making a VOC config a CPU smoke run (QUICK): half-width ResNet-18, BN,
    no pretrained weights, ``crop`` px crops, batch 4, no dataloader workers."""
    options = [f'{loader}.{key}' for loader in LOADERS
               for key in ('num_workers=0', 'persistent_workers=False')]
    options.append('train_dataloader.batch_size=4')
    resize = pipeline_index(config, 'train_dataloader', 'RandomResize')
    crop_index = pipeline_index(config, 'train_dataloader', 'RandomCrop')
    options += [f'train_dataloader.dataset.pipeline.{resize}.scale=({2 * crop},{crop})',
                f'train_dataloader.dataset.pipeline.{crop_index}.crop_size=({crop},{crop})']
    for loader in ('val_dataloader', 'test_dataloader'):
        index = pipeline_index(config, loader, 'Resize')
        options.append(f'{loader}.dataset.pipeline.{index}.scale=({2 * crop},{crop})')
    model = [f'data_preprocessor.size=({crop},{crop})', 'pretrained=None', 'backbone.depth=18',
             'backbone.stem_channels=32', 'backbone.base_channels=32',
             'backbone.norm_cfg.type=BN', 'decode_head.norm_cfg.type=BN']
    if cam:
        model += ['decode_head.in_channels=256', 'decode_head.channels=256']
    else:
        model += ['decode_head.in_channels=256', 'decode_head.channels=64',
                  'auxiliary_head.in_channels=128', 'auxiliary_head.channels=32',
                  'auxiliary_head.norm_cfg.type=BN']
    return options + [f'{model_prefix}.{item}' for item in model]


def tool(name: str) -> str:
    return f'tools/{name}'


def write_lines(path: str, lines: Sequence[str]) -> None:
    with atomic_write(path, 'w') as handle:
        handle.write(''.join(f'{line}\n' for line in lines))


def latest_test_metrics(test_work_dir: str) -> Dict[str, float]:
    """The metrics mmengine wrote after ``tools/test.py``: ``<work_dir>/<ts>/<ts>.json``."""
    root = test_work_dir
    candidates = sorted(
        osp.join(root, name, f'{name}.json') for name in os.listdir(root)
        if osp.isfile(osp.join(root, name, f'{name}.json')))
    for path in reversed(candidates):
        with open(path, encoding='utf-8') as handle:
            metrics = json.load(handle)
        if 'mIoU' in metrics:
            return metrics
    raise SamWsssError(f'{root}: no <timestamp>/<timestamp>.json with mIoU; did tools/test.py '
                       'finish? Delete the test stage\'s marker under stages/ and rerun')


def read_miou(eval_json: str) -> float:
    """Dataset mIoU (percent) from a ``tools/eval_pseudo_labels.py --out`` JSON."""
    with open(eval_json, encoding='utf-8') as handle:
        metrics = json.load(handle)
    value = metrics.get('metrics', {}).get('miou')
    if value is None:
        raise SamWsssError(f'{eval_json}: no metrics.miou; delete it and its stage marker '
                           'under stages/, then rerun')
    return 100.0 * value


def mask_store_source(store: str) -> str:
    with open(osp.join(store, 'store.json'), encoding='utf-8') as handle:
        return json.load(handle)['source']


class Paths:
    """Every path of a run, relative to the repository root where possible."""

    def __init__(self, work_dir: str) -> None:
        self.work = rel(work_dir)

    def __call__(self, *parts: str) -> str:
        return osp.join(self.work, *parts)


def mask_stage(args: argparse.Namespace, paths: Paths, img_dir: str, gt_dir: str, ids: str,
               num_classes: int) -> Stage:
    """Class-agnostic masks: SAM with --sam-checkpoint, else the imperfect GT oracle (not SAM)."""
    command = [tool('generate_sam_masks.py'), '--img-dir', img_dir, '--ids', ids,
               '--out', paths('masks')]
    if args.sam_checkpoint:
        command += ['--source', 'sam', '--model-type', args.sam_model_type,
                    '--checkpoint', args.sam_checkpoint]
        title = f'class-agnostic masks: SAM {args.sam_model_type}'
    else:
        command += ['--source', 'oracle', '--oracle-imperfect', '--gt-dir', gt_dir,
                    '--num-classes', str(num_classes), '--seed', str(args.seed),
                    '--workers', str(args.workers)]
        title = ('class-agnostic masks: imperfect GT oracle (simulated SAM errors, NOT SAM; '
                 'no --sam-checkpoint given)')
    return Stage('masks', title, command, [paths('masks', 'store.json')])


def label_rows(paths: Paths, cam_name: str) -> List[dict]:
    """Table rows of the CAM and enhanced pseudo-labels (train ids, against the GT)."""
    source = mask_source_text(mask_store_source(paths('masks')))
    cam = read_miou(paths('eval', 'cam_labels.json'))
    enhanced = read_miou(paths('eval', 'enhanced_labels.json'))
    return [
        {'what': f'{cam_name} pseudo-labels', 'scored on': 'train, vs GT', 'mIoU': cam,
         'vs CAM': None},
        {'what': f'enhanced pseudo-labels (masks: {source})', 'scored on': 'train, vs GT',
         'mIoU': enhanced, 'vs CAM': f'{enhanced - cam:+.2f}'},
    ]


def model_rows(paths: Paths, names: Sequence[str]) -> List[dict]:
    """Table rows of the trained models (val mIoU from tools/test.py)."""
    rows = []
    first = None
    for key, what in names:
        miou = float(latest_test_metrics(paths(f'test_{key}'))['mIoU'])
        rows.append({'what': what, 'scored on': 'val, tools/test.py', 'mIoU': miou,
                     'vs CAM': None if first is None else f'{miou - first:+.2f}'})
        first = miou if first is None else first
    return rows


def write_table(path: str, rows: List[dict]) -> None:
    with atomic_write(path, 'w') as handle:
        json.dump(rows, handle, indent=1)


def eval_stage(key: str, title: str, pred: str, gt: str, ids: str, out: str,
               num_classes: int, class_names: Optional[Sequence[str]] = None) -> Stage:
    command = [tool('eval_pseudo_labels.py'), '--pred', pred, '--gt', gt, '--ids', ids,
               '--num-classes', str(num_classes), '--out', out]
    if class_names:
        command += ['--class-names', ','.join(class_names)]
    return Stage(key, title, command, [out])


def train_stage(key: str, title: str, config: str, work_dir: str, options: List[str],
                iters: int) -> Stage:
    return Stage(key, title, [tool('train.py'), config, '--work-dir', work_dir, '--resume',
                              '--cfg-options'] + options,
                 [osp.join(work_dir, f'iter_{iters}.pth')], mmengine=True)


def test_stage(key: str, title: str, config: str, checkpoint: str, work_dir: str, out: str,
               options: List[str]) -> Stage:
    return Stage(key, title, [tool('test.py'), config, checkpoint, '--work-dir', work_dir,
                              '--out', out, '--cfg-options'] + options,
                 [out], mmengine=True)


# --------------------------------------------------------------------------------------------
# demo


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
        f'{loader}.dataset.pipeline.2.cls_labels_file={cls_labels}' for loader in LOADERS]
    if args.cam_iters:
        cam_options += schedule_options(cam_iters)
    cam_options += args.cam_cfg_options
    seg_options = data_root_options(data_abs)
    if args.seg_iters:
        seg_options += schedule_options(seg_iters)
    seg_options += args.seg_cfg_options
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
        Stage('data', f'procedural shape dataset ({args.num_train} train, {args.num_val} val, '
              '128 px)', [tool('make_synthetic_dataset.py'), '--out', data, '--num-train',
                          str(args.num_train), '--num-val', str(args.num_val), '--seed',
                          str(args.seed), '--workers', str(args.workers)],
              [osp.join(data, 'cls_labels.json'), val_ids]),
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


def report_stage(args: argparse.Namespace, paths: Paths, title: str, img_dir: str,
                 gt_dir: str, cam_dir: Optional[str], enhanced_dir: Optional[str],
                 classes: Optional[str], preds: Sequence, ids: str,
                 work_dirs: Sequence, masks: bool = True) -> Stage:
    command = [tool('make_report.py'), '--out', paths('report'), '--title', title, '--table',
               paths('results.json'), '--img-dir', img_dir, '--gt-dir', gt_dir, '--ids', ids]
    if classes:
        command += ['--classes', classes]
    if cam_dir:
        command += ['--cam-dir', cam_dir]
    if masks:
        command += ['--masks', paths('masks')]
    if enhanced_dir:
        command += ['--enhanced-dir', enhanced_dir]
    if preds:
        command += ['--pred-dirs'] + [f'{name}={directory}' for name, directory in preds]
    if work_dirs:
        command += ['--work-dirs'] + [f'{name}={directory}' for name, directory in work_dirs]
    return Stage('report', 'report: HTML, picture grid, training curves', command,
                 [paths('report', 'report.html')])


# --------------------------------------------------------------------------------------------
# voc


def resolve_quick(value: str) -> bool:
    if value in ('0', '1'):
        return value == '1'
    import torch
    quick = not torch.cuda.is_available()
    if quick:
        print('no GPU: QUICK run (half-width ResNet-18, no pretrained weights, 256 px crops, '
              'few iterations) so that it finishes on a CPU; pass --quick 0 (QUICK=0) for the '
              "configs' own models and schedules", flush=True)
    return quick


def voc_iters(args: argparse.Namespace, kind: str, config: str) -> int:
    explicit = args.cam_iters if kind == 'cam' else args.seg_iters
    if explicit:
        return explicit
    if args.quick:
        return QUICK_DEFAULT_ITERS[kind]
    return config_value(config, 'train_cfg.max_iters')


def voc_options(args: argparse.Namespace, config: str, iters: int, model_prefix: str = 'model',
                cam: bool = False) -> List[str]:
    options = data_root_options(args.data_root_abs)
    if args.quick:
        options += quick_options(config, model_prefix, cam=cam)
    if args.quick or args.cam_iters or args.seg_iters:
        options += schedule_options(iters, log_interval=5 if args.quick else 50)
    return options + (args.cam_cfg_options if cam else args.seg_cfg_options)


def voc_cam_dir(args: argparse.Namespace, paths: Paths) -> Optional[str]:
    """Existing CAM labels to use (``--cam DIR`` or ``pseudo_labels/transcam``), else None."""
    if args.cam == 'train':
        return None
    if args.cam != 'auto':
        if not osp.isdir(args.cam):
            raise SamWsssError(f'--cam {args.cam}: not a directory of CAM pseudo-label PNGs; '
                               'pass one, or --cam train to train a CAM classifier')
        return args.cam
    transcam = osp.join(args.data_root_abs, 'pseudo_labels', 'transcam')
    return rel(transcam) if osp.isdir(transcam) else None


def voc_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    root = args.data_root
    gt_dir, img_dir = osp.join(root, 'SegmentationClass'), osp.join(root, 'JPEGImages')
    train_ids = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    for needed in (gt_dir, img_dir, train_ids):
        if not osp.exists(needed):
            raise SamWsssError(f'--data-root {args.data_root}: {needed} not found; pass a VOC '
                               '2012 layout (JPEGImages, SegmentationClass, ImageSets/'
                               'Segmentation/{train,val}.txt)')
    grid_ids = paths('ids', 'report.txt')

    def write_ids() -> None:
        write_lines(grid_ids, read_ids(train_ids)[:args.grid_rows])

    stages = [Stage('ids', 'report rows (train ids)', action=write_ids,
                    describe=f'write {grid_ids} (first {args.grid_rows} train ids)',
                    outputs=[grid_ids])]
    if args.weak:
        return stages + sesam_stages(args, paths, root, gt_dir, img_dir, train_ids, grid_ids)
    cam_dir = voc_cam_dir(args, paths)
    if cam_dir is None:
        cam_iters = voc_iters(args, 'cam', VOC_CAM_CONFIG)
        cam_options = voc_options(args, VOC_CAM_CONFIG, cam_iters, cam=True)
        cam_dir = paths('cam_labels', 'pseudo_labels')
        cam_name = 'CAM'
        stages += [
            train_stage('cam_train', f'train the CAM classifier from image tags ({cam_iters} '
                        'iterations)', VOC_CAM_CONFIG, paths('cam'), cam_options, cam_iters),
            Stage('cams', 'CAMs and CAM pseudo-labels (multi-scale + flip), train ids',
                  [tool('generate_cams.py'), VOC_CAM_CONFIG,
                   paths('cam', f'iter_{cam_iters}.pth'), '--out', paths('cam_labels'),
                   '--split', 'train', '--cfg-options'] + cam_options, [cam_dir]),
        ]
    else:
        cam_name = f'CAM ({osp.basename(cam_dir.rstrip("/"))}, given)'
        print(f'CAM pseudo-labels: using the existing {cam_dir} (no CAM training; pass '
              '--cam train to train one)', flush=True)
    source_name = 'SAM' if args.sam_checkpoint else 'oracle-simulated masks, not SAM'
    stages += [
        mask_stage(args, paths, img_dir, gt_dir, train_ids, 21),
        Stage('enhance', 'enhanced pseudo-labels offline (for scoring and the report; '
              'training enhances online with LoadSAMMasks + SAMEnhancePseudoLabel)',
              [tool('enhance_pseudo_labels.py'), '--pseudo-dir', cam_dir, '--masks',
               paths('masks'), '--out', paths('enhanced'), '--ids', train_ids,
               '--workers', str(args.workers)],
              [osp.join(paths('enhanced'), 'enhance_meta.json')]),
        eval_stage('eval_cam', 'score the CAM pseudo-labels (train) against the GT', cam_dir,
                   gt_dir, train_ids, paths('eval', 'cam_labels.json'), 21),
        eval_stage('eval_enhanced', 'score the enhanced pseudo-labels (train) against the GT',
                   paths('enhanced'), gt_dir, train_ids, paths('eval', 'enhanced_labels.json'),
                   21),
    ]
    cam_abs = osp.join(REPO_ROOT, cam_dir)
    runs = []
    for key, config, name in (
            ('cam', VOC_CAM_SEG_CONFIG, 'CAM pseudo-labels'),
            ('enhanced', VOC_SAM_SEG_CONFIG, f'CAM labels enhanced online ({source_name})')):
        iters = voc_iters(args, 'seg', config)
        options = voc_options(args, config, iters) + [
            f'train_dataloader.dataset.data_prefix.seg_map_path={cam_abs}']
        if key == 'enhanced':
            index = pipeline_index(config, 'train_dataloader', 'LoadSAMMasks')
            options.append(f'train_dataloader.dataset.pipeline.{index}.mask_root='
                           f'{osp.join(REPO_ROOT, paths("masks"))}')
        runs.append((key, config, name, iters, options))
        stages.append(train_stage(f'seg_{key}', f'train DeepLabV3 ({config}) on {name} '
                                  f'({iters} iterations)', config, paths(f'seg_{key}'),
                                  options, iters))
    grid_abs = osp.join(REPO_ROOT, grid_ids)
    for key, config, name, iters, options in runs:
        checkpoint = paths(f'seg_{key}', f'iter_{iters}.pth')
        test_options = voc_options(args, config, iters)
        stages.append(test_stage(f'test_{key}', f'test the DeepLabV3 trained on {key} labels '
                                 'on val', config, checkpoint, paths(f'test_{key}'),
                                 paths('preds', key), test_options))
        stages.append(test_stage(
            f'grid_{key}', f'predictions of the {key}-label model on the report\'s train '
            'images', config, checkpoint, paths(f'test_grid_{key}'), paths('preds_grid', key),
            test_options + [f'test_dataloader.dataset.ann_file={grid_abs}']))

    def make_table() -> None:
        write_table(paths('results.json'), label_rows(paths, cam_name) + model_rows(paths, [
            ('cam', 'DeepLabV3 trained on CAM pseudo-labels'),
            ('enhanced', f'DeepLabV3 trained on enhanced pseudo-labels ({source_name})')]))

    quick = ' (QUICK smoke run: small model, few iterations; numbers not meaningful)' \
        if args.quick else ''
    stages += [
        Stage('table', 'results table', action=make_table,
              describe=f'collect the mIoUs into {paths("results.json")}',
              outputs=[paths('results.json')]),
        report_stage(args, paths, f'SAM-enhanced pseudo-labels on {root}{quick}; pictures: '
                     'train images',
                     img_dir=img_dir, gt_dir=gt_dir, cam_dir=cam_dir,
                     enhanced_dir=paths('enhanced'), classes=None,
                     preds=[('CAM-label model', paths('preds_grid', 'cam')),
                            ('enhanced-label model', paths('preds_grid', 'enhanced'))],
                     ids=grid_ids,
                     work_dirs=[('DeepLabV3 on CAM labels', paths('seg_cam')),
                                ('DeepLabV3 on enhanced labels', paths('seg_enhanced'))]),
    ]
    return stages


def sesam_stages(args: argparse.Namespace, paths: Paths, root: str, gt_dir: str, img_dir: str,
                 train_ids: str, grid_ids: str) -> List[Stage]:
    """SeSAM: weak labels -> SeSAM pseudo-labels -> semi-supervised DeepLabV3 -> test."""
    weak = args.weak
    config = SESAM_CONFIG.format(weak)
    weak_dir, sesam_dir = paths('weak_labels', weak), paths('sesam_labels', weak)
    command = [tool('sesam_pseudo_labels.py'), '--img-dir', img_dir, '--weak-dir', weak_dir,
               '--out', sesam_dir, '--ids', train_ids, '--seed', str(args.seed)]
    if args.sam_checkpoint:
        command += ['--source', 'sam', '--model-type', args.sam_model_type, '--checkpoint',
                    args.sam_checkpoint]
        source_name = f'SAM {args.sam_model_type}'
    else:
        command += ['--source', 'oracle', '--gt-dir', gt_dir]
        source_name = 'GT oracle answers the prompts, not SAM: an upper bound'
    iters = voc_iters(args, 'seg', config)
    options = voc_options(args, config, iters, model_prefix='model.segmentor') + [
        f'train_dataloader.dataset.data_prefix.seg_map_path={osp.join(REPO_ROOT, sesam_dir)}',
        f'train_dataloader.dataset.data_prefix.weak_label_path='
        f'{osp.join(REPO_ROOT, weak_dir)}']
    test_options = voc_options(args, config, iters, model_prefix='model.segmentor')
    checkpoint = paths('seg_sesam', f'iter_{iters}.pth')
    grid_abs = osp.join(REPO_ROOT, grid_ids)

    def make_table() -> None:
        labels = read_miou(paths('eval', 'sesam_labels.json'))
        model = float(latest_test_metrics(paths('test_sesam'))['mIoU'])
        write_table(paths('results.json'), [
            {'what': f'SeSAM pseudo-labels from {weak} labels ({source_name})',
             'scored on': 'train, vs GT', 'mIoU': labels},
            {'what': f'SeSAM DeepLabV3 (weak + SeSAM + teacher labels), {weak}',
             'scored on': 'val, tools/test.py', 'mIoU': model}])

    quick = ' (QUICK smoke run: small model, few iterations; numbers not meaningful)' \
        if args.quick else ''
    return [
        Stage('weak', f'synthesise {weak} labels from the train GT',
              [tool('make_weak_labels.py'), '--gt', gt_dir, '--type', weak, '--out', weak_dir,
               '--ids', train_ids, '--seed', str(args.seed)],
              [osp.join(weak_dir, 'weak_meta.json')]),
        Stage('sesam', f'SeSAM pseudo-labels from the {weak} labels ({source_name})', command,
              [osp.join(sesam_dir, 'sesam_meta.json')]),
        eval_stage('eval_sesam', 'score the SeSAM pseudo-labels (train) against the GT',
                   sesam_dir, gt_dir, train_ids, paths('eval', 'sesam_labels.json'), 21),
        train_stage('seg_sesam', f'train SeSAM DeepLabV3 ({config}, {iters} iterations)',
                    config, paths('seg_sesam'), options, iters),
        test_stage('test_sesam', 'test the SeSAM model on val', config, checkpoint,
                   paths('test_sesam'), paths('preds', 'sesam'), test_options),
        test_stage('grid_sesam', 'predictions of the SeSAM model on the report\'s train images',
                   config, checkpoint, paths('test_grid_sesam'), paths('preds_grid', 'sesam'),
                   test_options + [f'test_dataloader.dataset.ann_file={grid_abs}']),
        Stage('table', 'results table', action=make_table,
              describe=f'collect the mIoUs into {paths("results.json")}',
              outputs=[paths('results.json')]),
        report_stage(args, paths, f'SeSAM from {weak} labels on {root}{quick}; pictures: train '
                     'images', img_dir=img_dir,
                     gt_dir=gt_dir, cam_dir=None, enhanced_dir=None, classes=None,
                     preds=[('SeSAM model', paths('preds_grid', 'sesam'))],
                     ids=grid_ids, work_dirs=[('SeSAM DeepLabV3', paths('seg_sesam'))],
                     masks=False),
    ]


# --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the pipeline (data, CAM, masks, enhanced labels, DeepLabV3, test, '
        'report) by calling the tools; finished stages are skipped on a rerun')
    parser.add_argument('mode', choices=('demo', 'voc'))
    parser.add_argument('--work-dir', help='outputs (default: work_dirs/<mode>[_sam]'
                        '[_<weak>])')
    parser.add_argument('--sam-checkpoint', default=os.environ.get('SAM_CHECKPOINT') or None,
                        help='SAM checkpoint: real SAM masks (default: $SAM_CHECKPOINT; '
                        'without it the imperfect GT oracle stands in, NOT SAM)')
    parser.add_argument('--sam-model-type', default=os.environ.get('SAM_MODEL_TYPE') or 'vit_h',
                        help='vit_h|vit_l|vit_b (default: $SAM_MODEL_TYPE or vit_h)')
    parser.add_argument('--cam-iters', type=int, help='CAM training iterations (default: the '
                        'config\'s; voc QUICK: 20)')
    parser.add_argument('--seg-iters', type=int, help='DeepLabV3 iterations (default: the '
                        'config\'s; voc QUICK: 20)')
    parser.add_argument('--cam-cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='extra --cfg-options of the CAM training and CAM generation, '
                        'e.g. model.pretrained=open-mmlab://resnet50_v1c')
    parser.add_argument('--seg-cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='extra --cfg-options of the DeepLabV3 trainings and tests')
    parser.add_argument('--seed', type=int, default=0, help='dataset / oracle / weak-label '
                        'seed (default: 0)')
    parser.add_argument('--workers', type=int, default=2,
                        help='processes of the per-image tools (default: 2)')
    parser.add_argument('--grid-rows', type=int, default=4, help='report picture rows')
    parser.add_argument('--verbose', action='store_true',
                        help='show the whole training/test logs, not only a progress bar')
    demo = parser.add_argument_group('demo')
    demo.add_argument('--num-train', type=int, default=240, help='train images (default: 240)')
    demo.add_argument('--num-val', type=int, default=80, help='val images (default: 80)')
    voc = parser.add_argument_group('voc')
    voc.add_argument('--data-root', help='VOC 2012 layout (JPEGImages, SegmentationClass, '
                     'ImageSets/Segmentation/{train,val}.txt)')
    voc.add_argument('--cam', default='auto',
                     help='CAM pseudo-labels: auto (DATA_ROOT/pseudo_labels/transcam when '
                     'present, else train), train (cam_r50_voc.py), or a directory of PNGs')
    voc.add_argument('--quick', default='auto', choices=('auto', '0', '1'),
                     help='1: CPU smoke run (half-width ResNet-18, no pretrained weights, 256 px '
                     'crops, 20 iterations unless --*-iters); auto: 1 when there is no GPU')
    voc.add_argument('--weak', choices=('point', 'scribble', 'coarse'),
                     help='run the SeSAM path from synthesised weak labels instead')
    args = parser.parse_args(argv)
    if args.mode == 'voc' and not args.data_root:
        parser.error('voc needs --data-root (a VOC 2012 layout)')
    for name in ('cam_iters', 'seg_iters'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.grid_rows < 1 or args.workers < 1:
        parser.error('--grid-rows and --workers must be >= 1')
    if args.work_dir is None:
        args.work_dir = osp.join('work_dirs', args.mode + ('_sam' if args.sam_checkpoint else '')
                                 + (f'_{args.weak}' if args.mode == 'voc' and args.weak else ''))
    return args


def print_summary(pipeline: StageRunner, paths: Paths, wall: float) -> None:
    with open(paths('results.json'), encoding='utf-8') as handle:
        rows = json.load(handle)
    print('\n' + '=' * 100)
    print(format_text_table(rows))
    print('\nstage times (this run; CPU = user + system time of the tool\'s processes):')
    width = max(len(result.title) for result in pipeline.results)
    for number, result in enumerate(pipeline.results, 1):
        took = 'skipped (finished earlier)' if result.skipped else \
            f'{result.seconds:7.1f} s  (CPU {result.cpu_seconds:7.1f} s)'
        print(f'  {number:2d}. {result.title.ljust(width)}  {took}')
    cpu = sum(result.cpu_seconds for result in pipeline.results)
    print(f'  total wall time: {wall:.1f} s ({wall / 60:.1f} min); tools\' CPU time {cpu:.1f} s')
    print(f'\nreport: {paths("report", "report.html")} (pictures: '
          f'{paths("report", "report_grid.png")}, curves: {paths("report", "report_curves.png")})')


def main(argv=None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    # Every path relative to the repository root (or absolute); the tools run from there.
    paths = Paths(args.work_dir)
    if args.mode == 'voc':
        args.data_root = rel(args.data_root)
        if args.cam not in ('auto', 'train'):
            args.cam = rel(args.cam)
    if args.sam_checkpoint:
        if not osp.isfile(args.sam_checkpoint):
            raise SamWsssError(f'--sam-checkpoint {args.sam_checkpoint}: file not found; pass '
                               'the .pth of segment-anything (e.g. sam_vit_h_4b8939.pth)')
        args.sam_checkpoint = osp.abspath(args.sam_checkpoint)
    os.chdir(REPO_ROOT)
    if args.mode == 'voc':
        args.data_root_abs = osp.join(REPO_ROOT, args.data_root)
        args.quick = resolve_quick(args.quick)
    if args.sam_checkpoint:
        print(f'masks: SAM {args.sam_model_type} from {args.sam_checkpoint}', flush=True)
    elif args.mode == 'voc' and args.weak:
        print('SeSAM prompts: no SAM checkpoint given (SAM_CHECKPOINT=...), so the GT oracle '
              'answers them, NOT SAM', flush=True)
    else:
        print('masks: no SAM checkpoint given (SAM_CHECKPOINT=...), so the imperfect GT oracle '
              'stands in: GT components with simulated SAM errors, NOT SAM', flush=True)
    print(f'work dir: {paths.work} (commands run from {REPO_ROOT})', flush=True)
    stages = demo_stages(args, paths) if args.mode == 'demo' else voc_stages(args, paths)
    pipeline = StageRunner(paths.work, cwd=REPO_ROOT, verbose=args.verbose)
    pipeline.run(stages)
    print_summary(pipeline, paths, time.monotonic() - start)
    return 0


if __name__ == '__main__':
    run_tool(main)
