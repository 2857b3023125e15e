"""Run the whole SAM-enhanced WSSS pipeline by calling the project's tools, one stage each.

    # the demo: procedural shapes, CPU, no download (``make demo``)
    python tools/run_pipeline.py demo [--work-dir work_dirs/demo] [--num-train 240]
        [--num-val 80] [--cam-iters N] [--seg-iters N] [--seed 0]
        [--sam-checkpoint PATH [--sam-model-type vit_h]]
    # PASCAL VOC layout (``make voc``): CAM labels, masks, enhanced labels, two DeepLabV3 runs
    python tools/run_pipeline.py voc --data-root data/VOCdevkit/VOC2012 [--work-dir DIR]
        [--train-split auto|train|trainaug] [--max-images N] [--cam auto|train|DIR]
        [--quick auto|0|1] [--cam-iters N] [--seg-iters N]
        [--sam-checkpoint PATH [--sam-model-type vit_h]] [--weak point|scribble|coarse]
    # MS-COCO 2014, 81 classes (``make coco``), after tools/convert_coco.py: the same stages
    python tools/run_pipeline.py coco --data-root data/coco2014 [--max-images N] [...]

The driver only orders stages: the models and schedules are the config files' own
(``configs/demo/*``; for voc and coco ``configs/sam_wsss``, ``configs/baselines``,
``configs/sesam``, or with ``--quick 1`` their CPU smoke versions
``configs/smoke/<name>_smoke.py``). Its ``--cfg-options`` only point the configs at the data,
the training ids (``WORK_DIR/ids/train.txt``: VOC's train_aug or train split, COCO's train2014,
or their first ``--max-images``) and the work dir (naming pipeline steps by type, e.g.
``pipeline.LoadSAMMasks.mask_root``) and, with ``--cam-iters``/``--seg-iters``, set the
schedule's length. On VOC train_aug every training id's GT (``SegmentationClass``, else SBD's
``SegmentationClassAug``) is linked into ``WORK_DIR/gt`` for the oracles and the report; the
labels are scored on the ids of ``train.txt``, VOC's own GT, as WSSS papers do.

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
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmseg_sam_wsss.core.io import VOC_AUG_HELP, atomic_write, read_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import run_tool  # noqa: E402
from mmseg_sam_wsss.utils.mm_tools import schedule_options  # noqa: E402
from mmseg_sam_wsss.visualization.report import format_text_table, mask_source_text  # noqa: E402
from mmseg_sam_wsss.utils.stages import Stage, StageRunner, relative_to  # noqa: E402

DEMO_CAM_CONFIG = 'configs/demo/cam_r18_shapes.py'
DEMO_SEG_CONFIG = 'configs/demo/deeplabv3_r18_shapes.py'
VOC_CAM_CONFIG = 'configs/sam_wsss/cam_r50_voc.py'
VOC_CAM_SEG_CONFIG = 'configs/baselines/deeplabv3_r50_voc.py'
VOC_SAM_SEG_CONFIG = 'configs/sam_wsss/deeplabv3_voc.py'
COCO_CAM_CONFIG = 'configs/sam_wsss/cam_r50_coco.py'
COCO_CAM_SEG_CONFIG = 'configs/baselines/deeplabv3_r50_coco.py'
COCO_SAM_SEG_CONFIG = 'configs/sam_wsss/deeplabv3_coco.py'
SESAM_CONFIG = 'configs/sesam/deeplabv3_voc_{}.py'
SESAM_DEMO_CONFIG = 'configs/demo/sesam_deeplabv3_r18_shapes.py'
SMOKE_CONFIG = 'configs/smoke/{}_smoke.py'  # the CPU smoke version of a VOC config (--quick 1)
DEMO_CLASSES = ('background', 'disc', 'square', 'triangle', 'ring', 'star')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


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


def data_root_options(data_root: str, loaders: Sequence[str] = LOADERS) -> List[str]:
    return [f'{loader}.dataset.data_root={data_root}' for loader in loaders]


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


def label_rows(paths: Paths, cam_name: str, split: str = 'train') -> List[dict]:
    """Table rows of the CAM and enhanced pseudo-labels (``split`` ids, against the GT)."""
    source = mask_source_text(mask_store_source(paths('masks')))
    cam = read_miou(paths('eval', 'cam_labels.json'))
    enhanced = read_miou(paths('eval', 'enhanced_labels.json'))
    return [
        {'what': f'{cam_name} pseudo-labels', 'scored on': f'{split}, vs GT', 'mIoU': cam,
         'vs CAM': None},
        {'what': f'enhanced pseudo-labels (masks: {source})', 'scored on': f'{split}, vs GT',
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
        root=data, gt_dir=osp.join(data, 'SegmentationClass'),
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


def report_stage(args: argparse.Namespace, paths: Paths, title: str, img_dir: str,
                 gt_dir: str, cam_dir: Optional[str], enhanced_dir: Optional[str],
                 classes: Optional[str], preds: Sequence, ids: str,
                 work_dirs: Sequence, masks: bool = True,
                 labels: Sequence[Tuple[str, str]] = ()) -> Stage:
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
    if labels:
        command += ['--label-dirs'] + [f'{name}={directory}' for name, directory in labels]
    if preds:
        command += ['--pred-dirs'] + [f'{name}={directory}' for name, directory in preds]
    if work_dirs:
        command += ['--work-dirs'] + [f'{name}={directory}' for name, directory in work_dirs]
    return Stage('report', 'report: HTML, picture grid, training curves', command,
                 [paths('report', 'report.html')])


# --------------------------------------------------------------------------------------------
# voc and coco (SEPL from CAM labels, or SeSAM with --weak on voc)


def resolve_quick(value: str) -> bool:
    if value in ('0', '1'):
        return value == '1'
    import torch
    quick = not torch.cuda.is_available()
    if quick:
        print('no GPU: QUICK run with the smoke configs (configs/smoke/*_smoke.py: half-width '
              'ResNet-18, no pretrained weights, 128 px crops, 20 iterations) so that it '
              "finishes on a CPU; pass --quick 0 (QUICK=0) for the configs' own models and "
              'schedules', flush=True)
    return quick


def quick_config(args: argparse.Namespace, config: str) -> str:
    """``config``, or with ``--quick 1`` its smoke version ``configs/smoke/<name>_smoke.py``."""
    if not args.quick:
        return config
    return SMOKE_CONFIG.format(osp.splitext(osp.basename(config))[0])


def config_iters(args: argparse.Namespace, kind: str, config: str) -> int:
    explicit = args.cam_iters if kind == 'cam' else args.seg_iters
    return explicit or config_value(config, 'train_cfg.max_iters')


def config_options(args: argparse.Namespace, iters: int, cam: bool = False) -> List[str]:
    """Data root, the training ids, the schedule's length when ``--cam-iters``/``--seg-iters``
    set it, the val/test subset of ``--max-images``, and the user's extra
    ``--cam-cfg-options``/``--seg-cfg-options``."""
    options = data_root_options(args.data_root_abs) + [
        f'train_dataloader.dataset.ann_file={osp.join(REPO_ROOT, args.train_ids)}']
    if args.max_images:
        options += [f'{loader}.dataset.indices={args.max_images}'
                    for loader in ('val_dataloader', 'test_dataloader')]
    if args.cam_iters if cam else args.seg_iters:
        options += schedule_options(iters, log_interval=5 if args.quick else 50)
    return options + (args.cam_cfg_options if cam else args.seg_cfg_options)


def given_cam_dir(args: argparse.Namespace, default: Optional[str]) -> Optional[str]:
    """Existing CAM labels to use (``--cam DIR``, or ``default`` with ``--cam auto``), else
    None (train a CAM classifier)."""
    if args.cam == 'train':
        return None
    if args.cam != 'auto':
        if not osp.isdir(args.cam):
            raise SamWsssError(f'--cam {args.cam}: not a directory of CAM pseudo-label PNGs; '
                               'pass one, or --cam train to train a CAM classifier')
        return args.cam
    return rel(default) if default and osp.isdir(default) else None


@dataclass
class SeplRun:
    """What the SEPL stages need from the voc or coco set-up."""
    root: str                      # the dataset (relative to the repository root)
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


def quick_title(args: argparse.Namespace) -> str:
    return ' (QUICK smoke run: small model, few iterations; numbers not meaningful)' \
        if args.quick else ''


def ids_stage(args: argparse.Namespace, paths: Paths, split_ids: str,
              extra: Optional[Callable[[List[str]], List[str]]] = None,
              extra_outputs: Sequence[str] = ()) -> Stage:
    """Write the training ids (``split_ids``, or its first ``--max-images``) and the report's
    rows; ``extra`` gets the training ids for more bookkeeping (VOC's GT links), leaves
    ``extra_outputs`` and returns the ids the report's rows come from (VOC: those with VOC GT,
    which the seg configs' test datasets read)."""
    def write_ids() -> None:
        ids = read_ids(split_ids)
        if args.max_images:
            ids = ids[:args.max_images]
        write_lines(args.train_ids, ids)
        rows = extra(ids) if extra is not None else ids
        write_lines(paths('ids', 'report.txt'), rows[:args.grid_rows])

    subset = f'first {args.max_images} of ' if args.max_images else ''
    return Stage('ids', f'id lists: training ids ({subset}{rel(split_ids)}) and report rows',
                 action=write_ids, describe=f'write {args.train_ids} ({subset}{split_ids}) and '
                 f'{paths("ids", "report.txt")} (first {args.grid_rows})',
                 outputs=[args.train_ids, paths('ids', 'report.txt'), *extra_outputs])


def voc_train_split(args: argparse.Namespace, root: str) -> str:
    """The id list of ``--train-split``; auto: trainaug.txt when present, else train.txt."""
    split_dir = osp.join(root, 'ImageSets', 'Segmentation')
    split = args.train_split
    if split == 'auto':
        split = 'trainaug' if osp.isfile(osp.join(split_dir, 'trainaug.txt')) else 'train'
        if split == 'train':
            print(f'{split_dir}/trainaug.txt not found: training on train.txt (VOC 2012: 1,464 '
                  'images; WSSS papers use train_aug, 10,582, from mmseg\'s '
                  'tools/dataset_converters/voc_aug.py; README, "PASCAL VOC train_aug")',
                  flush=True)
    path = osp.join(split_dir, f'{split}.txt')
    if not osp.isfile(path):
        raise SamWsssError(f'--train-split {split}: {path} not found; '
                           + (VOC_AUG_HELP if split == 'trainaug' else 'pass a VOC 2012 layout'))
    return path


def voc_gt_links(root: str, gt_dir: str) -> Callable[[List[str]], None]:
    """Link each training id's GT (``SegmentationClass``, else SBD's ``SegmentationClassAug``)
    into ``gt_dir``: one folder the oracles, weak labels and report read for train_aug."""
    def link(ids: List[str]) -> None:
        os.makedirs(gt_dir, exist_ok=True)
        for image_id in ids:
            target = osp.join(gt_dir, image_id + '.png')
            if osp.lexists(target):
                continue
            sources = [osp.join(root, folder, image_id + '.png')
                       for folder in ('SegmentationClass', 'SegmentationClassAug')]
            source = next((path for path in sources if osp.isfile(path)), None)
            if source is None:
                raise SamWsssError(f'{image_id}: no GT label ({" nor ".join(sources)}); '
                                   f'{VOC_AUG_HELP}')
            os.symlink(osp.abspath(source), target)
    return link


def voc_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    root = args.data_root
    voc_gt, img_dir = osp.join(root, 'SegmentationClass'), osp.join(root, 'JPEGImages')
    train_txt = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    for needed in (voc_gt, img_dir, train_txt):
        if not osp.exists(needed):
            raise SamWsssError(f'--data-root {args.data_root}: {needed} not found; pass a VOC '
                               '2012 layout (JPEGImages, SegmentationClass, ImageSets/'
                               'Segmentation/{train,val}.txt)')
    split_ids = voc_train_split(args, root)
    gt_dir = paths('gt')  # links to SegmentationClass / SegmentationClassAug
    score_ids = paths('ids', 'score.txt')
    link = voc_gt_links(root, osp.join(REPO_ROOT, gt_dir))

    def links_and_score_ids(ids: List[str]) -> List[str]:
        link(ids)
        voc_train = set(read_ids(train_txt))  # scored where VOC's own GT is: train.txt's ids
        scored = [image_id for image_id in ids if image_id in voc_train]
        write_lines(score_ids, scored)
        return scored

    stages = [ids_stage(args, paths, split_ids, links_and_score_ids, [score_ids])]
    split = osp.splitext(osp.basename(split_ids))[0]
    if args.weak:
        semi_config = quick_config(args, SESAM_CONFIG.format(args.weak))
        iters = config_iters(args, 'seg', semi_config)
        return stages + sesam_stages(args, paths, SesamRun(
            root=root, gt_dir=gt_dir, img_dir=img_dir, train_ids=args.train_ids,
            grid_ids=paths('ids', 'report.txt'), num_classes=21, class_names=None,
            seg_config=quick_config(args, VOC_CAM_SEG_CONFIG), semi_config=semi_config,
            seg_options=config_options(args, iters), iters=iters, baselines=False,
            title=f'SeSAM from {args.weak} labels on {root} ({split}){quick_title(args)}; '
            'pictures: train images'))
    return stages + sepl_stages(args, paths, SeplRun(
        root=root, img_dir=img_dir, gt_dir=gt_dir, train_ids=args.train_ids,
        score_ids=score_ids, score_name='train', num_classes=21, class_names=None,
        cam_config=VOC_CAM_CONFIG, cam_seg_config=VOC_CAM_SEG_CONFIG,
        sam_seg_config=VOC_SAM_SEG_CONFIG, cam_options=[],
        cam_seg_options=['train_dataloader.dataset.fallback_seg_map_path=None'],
        default_cam_dir=osp.join(args.data_root_abs, 'pseudo_labels', 'transcam'),
        title=f'SAM-enhanced pseudo-labels on {root} ({split}){quick_title(args)}; pictures: '
        'train images', grid_ids=paths('ids', 'report.txt')))


def coco_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    """COCO 2014 (81 classes) after ``tools/convert_coco.py``: the SEPL stages on train2014."""
    from mmseg_sam_wsss.core.coco import COCO_CLASSES

    root = args.data_root
    labels = osp.join(root, 'labels', '{}')
    for needed in (osp.join(root, 'train2014'), osp.join(root, 'val2014'),
                   osp.join(labels.format('train2014'), 'ids.txt'),
                   osp.join(labels.format('train2014'), 'cls_labels.json'),
                   osp.join(labels.format('val2014'), 'ids.txt')):
        if not osp.exists(needed):
            raise SamWsssError(f'--data-root {args.data_root}: {needed} not found; pass a COCO '
                               '2014 tree (train2014/, val2014/) converted with '
                               'tools/convert_coco.py into labels/{train2014,val2014}/ '
                               '(README, "COCO")')
    tags = osp.join(args.data_root_abs, 'labels', '{}', 'cls_labels.json')
    cam_options = [f'{loader}.dataset.pipeline.LoadImageTags.cls_labels_file='
                   + tags.format('val2014' if loader == 'val_dataloader' else 'train2014')
                   for loader in LOADERS]
    gt_dir = labels.format('train2014')
    return [ids_stage(args, paths, osp.join(gt_dir, 'ids.txt'))] + sepl_stages(
        args, paths, SeplRun(
            root=root, img_dir=osp.join(root, 'train2014'), gt_dir=gt_dir,
            train_ids=args.train_ids, score_ids=args.train_ids, score_name='train2014',
            num_classes=len(COCO_CLASSES), class_names=COCO_CLASSES,
            cam_config=COCO_CAM_CONFIG, cam_seg_config=COCO_CAM_SEG_CONFIG,
            sam_seg_config=COCO_SAM_SEG_CONFIG, cam_options=cam_options, cam_seg_options=[],
            default_cam_dir=osp.join(args.data_root_abs, 'pseudo_labels', 'cam'),
            title=f'SAM-enhanced pseudo-labels on {root} (COCO 2014, 81 classes)'
            f'{quick_title(args)}; pictures: train images', grid_ids=paths('ids', 'report.txt'),
            classes_json=osp.join(gt_dir, 'coco_meta.json'),
            grid_options=['test_dataloader.dataset.data_prefix.img_path=train2014',
                          'test_dataloader.dataset.data_prefix.seg_map_path=labels/train2014']))


# --------------------------------------------------------------------------------------------
# SeSAM (demo and voc)


@dataclass
class SesamRun:
    """What the SeSAM stages need from the demo or voc set-up."""
    root: str                      # the dataset (relative to the repository root)
    gt_dir: str
    img_dir: str
    train_ids: str
    grid_ids: str
    num_classes: int
    class_names: Optional[Sequence[str]]
    seg_config: str                # plain cross-entropy DeepLabV3 (the baselines)
    semi_config: str               # SemiSupervisedSegmentor on weak + SeSAM + teacher labels
    seg_options: List[str]         # data root, schedule, the user's --seg-cfg-options
    iters: int
    baselines: bool                # also train on the weak labels alone and with plain CE
    title: str
    classes_json: Optional[str] = None


def prompt_source(args: argparse.Namespace) -> Tuple[List[str], str]:
    """``sesam_pseudo_labels.py`` source flags and the source's name for the table."""
    if args.sam_checkpoint:
        return (['--source', 'sam', '--model-type', args.sam_model_type, '--checkpoint',
                 args.sam_checkpoint], f'SAM {args.sam_model_type}')
    if args.prompt_oracle == 'perfect':
        return ['--source', 'oracle'], 'GT oracle answers the prompts: an upper bound, not SAM'
    return (['--source', 'oracle-imperfect'],
            'imperfect GT oracle: GT objects with simulated SAM errors, not SAM')


def sesam_stages(args: argparse.Namespace, paths: Paths, run: SesamRun) -> List[Stage]:
    """SeSAM from weak labels, ``--rounds R`` times: labels -> semi-supervised training ->
    predictions with confidence on the train ids -> the next round's labels -> ...

    With ``run.baselines`` (the demo) two more models show what each step buys: one trained on
    the weak labels alone (partial cross-entropy: 255 is ignored) and one trained on the round-1
    SeSAM labels with plain cross-entropy.
    """
    weak, rounds = args.weak, args.rounds
    weak_dir, sesam_dir = paths('weak_labels', weak), paths('sesam_labels', weak)
    source_flags, source_name = prompt_source(args)
    if not args.sam_checkpoint:
        source_flags = source_flags + ['--gt-dir', run.gt_dir]
    classes = ['--num-classes', str(run.num_classes)]
    names = run.class_names

    def label_dir(round_index: int) -> str:
        return osp.join(sesam_dir, f'round_{round_index}')

    def training_options(labels: str, weak_labels: bool) -> List[str]:
        options = run.seg_options + [
            f'train_dataloader.dataset.data_prefix.seg_map_path={osp.join(REPO_ROOT, labels)}']
        if weak_labels:
            options.append('train_dataloader.dataset.data_prefix.weak_label_path='
                           f'{osp.join(REPO_ROOT, weak_dir)}')
        return options

    def model(key: str, title: str, config: str, labels: str, semi: bool) -> List[Stage]:
        checkpoint = paths(f'seg_{key}', f'iter_{run.iters}.pth')
        return [train_stage(f'seg_{key}', f'train DeepLabV3 {title} ({run.iters} iterations)',
                            config, paths(f'seg_{key}'), training_options(labels, semi),
                            run.iters),
                test_stage(f'test_{key}', f'test the DeepLabV3 {title} on val', config,
                           checkpoint, paths(f'test_{key}'), paths('preds', key),
                           run.seg_options)]

    stages = [
        Stage('weak', f'synthesise {weak} labels from the train GT',
              [tool('make_weak_labels.py'), '--gt', run.gt_dir, '--type', weak, '--out',
               weak_dir, '--ids', run.train_ids, '--seed', str(args.seed),
               '--workers', str(args.workers)] + classes,
              [osp.join(weak_dir, 'weak_meta.json')]),
        eval_stage('eval_weak', f'score the {weak} labels (train) against the GT', weak_dir,
                   run.gt_dir, run.train_ids, paths('eval', 'weak_labels.json'),
                   run.num_classes, names),
    ]
    if run.baselines:
        stages += model('weak', f'on the {weak} labels alone (partial cross-entropy)',
                        run.seg_config, weak_dir, semi=False)
    for round_index in range(1, rounds + 1):
        command = [tool('sesam_pseudo_labels.py'), '--img-dir', run.img_dir, '--weak-dir',
                   weak_dir, '--out', sesam_dir, '--round', str(round_index), '--ids',
                   run.train_ids, '--seed', str(args.seed)] + classes + source_flags
        if round_index > 1:
            previous = round_index - 1
            predictions = paths('predictions', f'round_{previous}')
            stages.append(Stage(
                f'predict_{previous}', f'predictions with confidence of the round-{previous} '
                'model on the train ids',
                [tool('predict_labels.py'), run.semi_config,
                 paths(f'seg_semi_{previous}', f'iter_{run.iters}.pth'), '--img-dir',
                 run.img_dir, '--ids', run.train_ids, '--out', predictions, '--cfg-options']
                + run.seg_options, [osp.join(predictions, 'predict_meta.json')],
                mmengine=True))
            command += ['--pred-dir', predictions, '--conf-thresh', str(args.conf_thresh)]
        stages += [
            Stage(f'sesam_{round_index}', f'SeSAM labels, round {round_index}, from the {weak} '
                  f'labels ({source_name})', command,
                  [osp.join(label_dir(round_index), '.provenance.json')]),
            eval_stage(f'eval_sesam_{round_index}', f'score the round-{round_index} SeSAM labels '
                       '(train) against the GT', label_dir(round_index), run.gt_dir,
                       run.train_ids, paths('eval', f'sesam_round_{round_index}.json'),
                       run.num_classes, names),
        ]
        if round_index == 1 and run.baselines:
            stages += model('ce', 'on the round-1 SeSAM labels (plain cross-entropy)',
                            run.seg_config, label_dir(1), semi=False)
        stages += model(f'semi_{round_index}', f'semi-supervised, round {round_index} (weak + '
                        'SeSAM + EMA-teacher labels)', run.semi_config, label_dir(round_index),
                        semi=True)

    def make_table() -> None:
        weak_miou = read_miou(paths('eval', 'weak_labels.json'))
        rows = [{'what': f'{weak} labels (synthesised from GT)', 'scored on': 'train, vs GT',
                 'mIoU': weak_miou, 'vs weak': None}]
        baseline = None
        if run.baselines:
            baseline = float(latest_test_metrics(paths('test_weak'))['mIoU'])
            rows.append({'what': f'DeepLabV3 on the {weak} labels alone (partial CE)',
                         'scored on': 'val, tools/test.py', 'mIoU': baseline, 'vs weak': None})

        def model_row(key: str, what: str) -> dict:
            miou = float(latest_test_metrics(paths(f'test_{key}'))['mIoU'])
            gain = None if baseline is None else f'{miou - baseline:+.2f}'
            return {'what': what, 'scored on': 'val, tools/test.py', 'mIoU': miou,
                    'vs weak': gain}

        for round_index in range(1, rounds + 1):
            labels = read_miou(paths('eval', f'sesam_round_{round_index}.json'))
            extra = '' if round_index == 1 else f' + confident predictions >= {args.conf_thresh}'
            rows.append({'what': f'SeSAM labels, round {round_index} ({weak}{extra}; '
                         f'{source_name})', 'scored on': 'train, vs GT', 'mIoU': labels,
                         'vs weak': f'{labels - weak_miou:+.2f}'})
            if round_index == 1 and run.baselines:
                rows.append(model_row('ce', 'DeepLabV3 on round-1 SeSAM labels (plain CE)'))
            rows.append(model_row(f'semi_{round_index}', f'DeepLabV3 semi-supervised, round '
                                  f'{round_index} (weak + SeSAM + EMA-teacher labels)'))
        write_table(paths('results.json'), rows)

    last = rounds
    preds = [(f'semi round {last}', paths('preds_grid', f'semi_{last}'))]
    if run.baselines:
        preds.insert(0, ('weak-label model', paths('preds_grid', 'weak')))
    grid_abs = osp.join(REPO_ROOT, run.grid_ids)
    for name, directory in preds:
        key = directory.rsplit('/', 1)[-1]
        config = run.seg_config if key == 'weak' else run.semi_config
        stages.append(test_stage(
            f'grid_{key}', f'predictions of the {name} model on the report\'s images', config,
            paths(f'seg_{key}', f'iter_{run.iters}.pth'), paths(f'test_grid_{key}'), directory,
            run.seg_options + [f'test_dataloader.dataset.ann_file={grid_abs}']))
    stages += [
        Stage('table', 'results table', action=make_table,
              describe=f'collect the mIoUs into {paths("results.json")}',
              outputs=[paths('results.json')]),
        report_stage(args, paths, run.title, img_dir=run.img_dir, gt_dir=run.gt_dir,
                     cam_dir=None, enhanced_dir=None, classes=run.classes_json, preds=preds,
                     ids=run.grid_ids, masks=False,
                     labels=[(f'{weak} label', weak_dir)] + [
                         (f'SeSAM round {r}', label_dir(r)) for r in range(1, rounds + 1)],
                     work_dirs=[(f'semi round {r}', paths(f'seg_semi_{r}'))
                                for r in range(1, rounds + 1)]),
    ]
    return stages


# --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the pipeline (data, CAM, masks, enhanced labels, DeepLabV3, test, '
        'report) by calling the tools; finished stages are skipped on a rerun')
    parser.add_argument('mode', choices=('demo', 'voc', 'coco'))
    parser.add_argument('--work-dir', help='outputs (default: work_dirs/<mode>[_sam]'
                        '[_<weak>])')
    parser.add_argument('--sam-checkpoint', default=os.environ.get('SAM_CHECKPOINT') or None,
                        help='SAM checkpoint: real SAM masks (default: $SAM_CHECKPOINT; '
                        'without it the imperfect GT oracle stands in, NOT SAM)')
    parser.add_argument('--sam-model-type', default=os.environ.get('SAM_MODEL_TYPE') or 'vit_h',
                        help='vit_h|vit_l|vit_b (default: $SAM_MODEL_TYPE or vit_h)')
    parser.add_argument('--cam-iters', type=int, help='CAM training iterations (default: the '
                        'config\'s; voc QUICK: the smoke config\'s 20)')
    parser.add_argument('--seg-iters', type=int, help='DeepLabV3 iterations (default: the '
                        'config\'s; voc QUICK: the smoke config\'s 20)')
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
    sesam = parser.add_argument_group('SeSAM (demo and voc)')
    sesam.add_argument('--weak', choices=('point', 'scribble', 'coarse'),
                       help='run the SeSAM path from synthesised weak labels instead of SEPL')
    sesam.add_argument('--rounds', type=int, default=None,
                       help='SeSAM refinement rounds: labels, semi-supervised training, '
                       'predictions with confidence on the train ids, the next labels, ... '
                       '(default: 2 for demo, 1 for voc)')
    sesam.add_argument('--conf-thresh', type=float, default=0.95,
                       help='rounds > 1 use predicted pixels whose max softmax is at least '
                       'this (default: 0.95)')
    sesam.add_argument('--prompt-oracle', choices=('imperfect', 'perfect'), default='imperfect',
                       help='without --sam-checkpoint, the GT oracle that answers the prompts: '
                       'imperfect (GT objects with simulated SAM errors, default) or perfect '
                       '(an upper bound); neither is SAM')
    demo = parser.add_argument_group('demo')
    demo.add_argument('--num-train', type=int, default=240, help='train images (default: 240)')
    demo.add_argument('--num-val', type=int, default=80, help='val images (default: 80)')
    voc = parser.add_argument_group('voc and coco')
    voc.add_argument('--data-root', help='voc: a VOC 2012 layout (JPEGImages, '
                     'SegmentationClass, ImageSets/Segmentation/{train,val}.txt; for train_aug '
                     'also SegmentationClassAug and trainaug.txt); coco: a COCO 2014 tree '
                     '(train2014/, val2014/) with tools/convert_coco.py\'s labels/')
    voc.add_argument('--train-split', default='auto', choices=('auto', 'train', 'trainaug'),
                     help='voc: the training ids, ImageSets/Segmentation/<split>.txt; auto: '
                     'trainaug (10,582, the WSSS protocol) when present, else train (1,464)')
    voc.add_argument('--max-images', type=int, default=None,
                     help='only the first N training ids and N val images (a look at a large '
                     'dataset on a small machine; default: all)')
    voc.add_argument('--cam', default='auto',
                     help='CAM pseudo-labels: auto (voc: DATA_ROOT/pseudo_labels/transcam, '
                     'coco: DATA_ROOT/pseudo_labels/cam, when present; else train), train '
                     '(the cam_r50 config), or a directory of PNGs')
    voc.add_argument('--quick', default='auto', choices=('auto', '0', '1'),
                     help='1: CPU smoke run with the configs\' smoke versions '
                     '(configs/smoke/*_smoke.py: half-width ResNet-18, no pretrained weights, '
                     '128 px crops, 20 iterations unless --*-iters); auto: 1 when there is no GPU')
    args = parser.parse_args(argv)
    if args.mode != 'demo' and not args.data_root:
        parser.error(f'{args.mode} needs --data-root (a VOC 2012 layout, or a converted COCO '
                     '2014 tree)')
    if args.mode == 'coco' and args.weak:
        parser.error('--weak runs SeSAM on demo or voc; coco runs SEPL (from image tags)')
    if args.max_images is not None and args.max_images < 1:
        parser.error('--max-images must be >= 1')
    for name in ('cam_iters', 'seg_iters'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.grid_rows < 1 or args.workers < 1:
        parser.error('--grid-rows and --workers must be >= 1')
    if args.rounds is None:
        args.rounds = 2 if args.mode == 'demo' else 1
    if args.rounds < 1 or not 0.0 <= args.conf_thresh <= 1.0:
        parser.error('--rounds must be >= 1 and --conf-thresh in [0, 1]')
    if args.work_dir is None:
        args.work_dir = osp.join('work_dirs', args.mode + ('_sam' if args.sam_checkpoint else '')
                                 + (f'_{args.weak}' if args.weak else ''))
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
    if args.mode != 'demo':
        args.data_root = rel(args.data_root)
        args.train_ids = paths('ids', 'train.txt')
        if args.cam not in ('auto', 'train'):
            args.cam = rel(args.cam)
    if args.sam_checkpoint:
        if not osp.isfile(args.sam_checkpoint):
            raise SamWsssError(f'--sam-checkpoint {args.sam_checkpoint}: file not found; pass '
                               'the .pth of segment-anything (e.g. sam_vit_h_4b8939.pth)')
        args.sam_checkpoint = osp.abspath(args.sam_checkpoint)
    os.chdir(REPO_ROOT)
    if args.mode != 'demo':
        args.data_root_abs = osp.join(REPO_ROOT, args.data_root)
        args.quick = resolve_quick(args.quick)
    if args.sam_checkpoint:
        print(f'masks: SAM {args.sam_model_type} from {args.sam_checkpoint}', flush=True)
    elif args.weak:
        print(f'SeSAM prompts: no SAM checkpoint given (SAM_CHECKPOINT=...), so the '
              f'{args.prompt_oracle} GT oracle answers them, NOT SAM', flush=True)
    else:
        print('masks: no SAM checkpoint given (SAM_CHECKPOINT=...), so the imperfect GT oracle '
              'stands in: GT components with simulated SAM errors, NOT SAM', flush=True)
    print(f'work dir: {paths.work} (commands run from {REPO_ROOT})', flush=True)
    stages = {'demo': demo_stages, 'voc': voc_stages, 'coco': coco_stages}[args.mode](args, paths)
    pipeline = StageRunner(paths.work, cwd=REPO_ROOT, verbose=args.verbose)
    pipeline.run(stages)
    print_summary(pipeline, paths, time.monotonic() - start)
    return 0


if __name__ == '__main__':
    run_tool(main)
