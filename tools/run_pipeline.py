"""Run the whole SAM-enhanced WSSS pipeline by calling the project's tools, one stage each.

    # the demo: procedural shapes, CPU, no download (``make demo``)
    python tools/run_pipeline.py demo [--work-dir work_dirs/demo] [--num-train 240]
        [--num-val 80] [--cam-iters N] [--seg-iters N] [--seed 0]
        [--sam-checkpoint PATH [--sam-model-type vit_h] [--sam-args="--points-per-side 32 ..."]]
        [--weak point|scribble [--sesam-args="--points-per-component 5 ..."]]
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

SAM's settings: ``--sam-args`` (``SAM_ARGS``) passes options to ``tools/generate_sam_masks.py``
(points, thresholds, crop layers, ``--amp``, ``--image-batch-size``, ``--device``...) and
``--sesam-args`` (``SESAM_ARGS``) to ``tools/sesam_pseudo_labels.py``; both are checked with the
tools' own parsers before any stage runs, and recorded in ``WORK_DIR/run_settings.json`` and the
stages' commands. A tool's error names the pipeline's flags (``--sam-model-type``, not
``--model-type``).

Class-agnostic masks come from SAM with ``--sam-checkpoint``; without it from the imperfect GT
oracle of ``tools/generate_sam_masks.py --source oracle --oracle-imperfect`` (GT components
with simulated SAM errors, NOT SAM), and every table row, log line and report says which.
The run ends with ``WORK_DIR/results.json`` (the table), ``WORK_DIR/report/report.html`` with
``report_grid.png`` and ``report_curves.png``, and the table and stage times printed.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.pipeline.common import Paths, rel, resolve_quick  # noqa: E402
from mmseg_sam_wsss.pipeline.demo import demo_stages  # noqa: E402
from mmseg_sam_wsss.pipeline.tool_args import resolve_tool_args, shell_words  # noqa: E402
from mmseg_sam_wsss.pipeline.voc_coco import coco_stages, voc_stages  # noqa: E402
from mmseg_sam_wsss.core.io import atomic_write  # noqa: E402
from mmseg_sam_wsss.utils.cli import DefaultsHelpFormatter, run_tool  # noqa: E402
from mmseg_sam_wsss.utils.stages import StageRunner  # noqa: E402
from mmseg_sam_wsss.visualization.report import format_text_table  # noqa: E402

__all__ = ['parse_args', 'main', 'Paths', 'demo_stages', 'voc_stages', 'coco_stages']


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the pipeline (data, CAM, masks, enhanced labels, DeepLabV3, test, '
        'report) by calling the tools; finished stages are skipped on a rerun',
        formatter_class=DefaultsHelpFormatter)
    parser.add_argument('mode', choices=('demo', 'voc', 'coco'))
    parser.add_argument('--work-dir', help='outputs (default: work_dirs/<mode>[_sam]'
                        '[_<weak>])')
    parser.add_argument('--sam-checkpoint', default=os.environ.get('SAM_CHECKPOINT') or None,
                        help='SAM checkpoint: real SAM masks (default: $SAM_CHECKPOINT; '
                        'without it the imperfect GT oracle stands in, NOT SAM)')
    parser.add_argument('--sam-model-type', default=os.environ.get('SAM_MODEL_TYPE') or 'vit_h',
                        help='vit_h|vit_l|vit_b (default: $SAM_MODEL_TYPE or vit_h)')
    parser.add_argument('--sam-args', default=os.environ.get('SAM_ARGS', ''), metavar='"ARGS"',
                        help='options of SAM\'s mask generator (tools/generate_sam_masks.py), '
                        'one quoted string, e.g. --sam-args="--points-per-side 32 '
                        '--pred-iou-thresh 0.86 --stability-score-thresh 0.92 --crop-n-layers 1 '
                        '--min-mask-region-area 100 --amp bf16" (default: $SAM_ARGS; checked '
                        'before any stage runs)')
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
    sesam.add_argument('--sesam-args', default=os.environ.get('SESAM_ARGS', ''),
                       metavar='"ARGS"',
                       help='options of SeSAM\'s prompting (tools/sesam_pseudo_labels.py), one '
                       'quoted string, e.g. --sesam-args="--points-per-component 5 '
                       '--negative-points 2" (default: $SESAM_ARGS)')
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
    resolve_tool_args(args)  # --sam-args / --sesam-args: a bad option fails here, in one line
    return args


def write_settings(args: argparse.Namespace, paths: Paths, tool_args: dict) -> None:
    """``WORK_DIR/run_settings.json``: the mask source and the options passed to the SAM tools
    (each stage's exact command is in ``WORK_DIR/stages/<stage>.json``)."""
    settings = dict(mode=args.mode, weak=args.weak, sam_checkpoint=args.sam_checkpoint,
                    sam_model_type=args.sam_model_type if args.sam_checkpoint else None,
                    prompt_oracle=None if args.sam_checkpoint or not args.weak
                    else args.prompt_oracle, seed=args.seed, **tool_args)
    with atomic_write(paths('run_settings.json'), 'w') as handle:
        json.dump(settings, handle, indent=1)


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
    with open(paths('run_settings.json'), encoding='utf-8') as handle:
        settings = json.load(handle)
    if settings['sam_checkpoint']:
        print(f'\nSAM {settings["sam_model_type"]} ({settings["sam_checkpoint"]}); generator '
              f'options: {shell_words(settings["sam_args"])}; SeSAM prompting options: '
              f'{shell_words(settings["sesam_args"])} (all: {paths("run_settings.json")})')
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
    settings = {'sam_args': args.sam_tool_args, 'sesam_args': args.sesam_tool_args}
    if args.sam_checkpoint:
        if not osp.isfile(args.sam_checkpoint):
            from mmseg_sam_wsss.sam.builder import missing_checkpoint_message
            raise SamWsssError(missing_checkpoint_message(args.sam_model_type,
                                                          args.sam_checkpoint).replace(
                '--checkpoint', '--sam-checkpoint'))
        args.sam_checkpoint = osp.abspath(args.sam_checkpoint)
    os.chdir(REPO_ROOT)
    if args.mode != 'demo':
        args.data_root_abs = osp.join(REPO_ROOT, args.data_root)
        args.quick = resolve_quick(args.quick)
    if args.sam_checkpoint:
        options = (f'; prompting: {shell_words(args.sesam_tool_args)}' if args.weak else
                   f'; generator: {shell_words(args.sam_tool_args)}')
        print(f'masks: SAM {args.sam_model_type} from {args.sam_checkpoint}{options}',
              flush=True)
    if args.weak and args.sesam_tool_args and not args.sam_checkpoint:
        print(f'SeSAM prompting: {shell_words(args.sesam_tool_args)}', flush=True)
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
    write_settings(args, paths, settings)
    print_summary(pipeline, paths, time.monotonic() - start)
    return 0


if __name__ == '__main__':
    run_tool(main)
