"""What every stage list of ``tools/run_pipeline.py`` shares: paths, config values, the stage of
each tool (train, test, masks, scores, report), the id lists and the results table rows.

Commands are relative to the repository root (the runner's working directory): this package
drives the checkout's ``tools/`` and ``configs/``.
"""
import argparse
import functools
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..core.io import atomic_write, read_ids
from ..errors import SamWsssError
from ..utils.mm_tools import schedule_options
from ..utils.stages import Stage, relative_to
from ..visualization.report import mask_source_text

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SMOKE_CONFIG = 'configs/smoke/{}_smoke.py'  # the CPU smoke version of a config (--quick 1)
# How the SAM tools' errors name their flags under the pipeline (utils.cli.FLAG_NAMES_ENV).
SAM_FLAG_NAMES = {'--model-type': '--sam-model-type/SAM_MODEL_TYPE',
                  '--checkpoint': '--sam-checkpoint/SAM_CHECKPOINT'}
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
                    '--checkpoint', args.sam_checkpoint] + list(args.sam_tool_args)
        title = f'class-agnostic masks: SAM {args.sam_model_type}' + (
            f' ({" ".join(args.sam_tool_args)})' if args.sam_tool_args else '')
        return Stage('masks', title, command, [paths('masks', 'store.json')],
                     flag_names=SAM_FLAG_NAMES)
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
