"""The SeSAM demo's rows over dataset seeds and training repeats: mean ± sd of each row.

    .venv/bin/python benchmarks/bench_sesam_demo.py [--seeds 0 1 2] [--repeats 2]
        [--rows ce semi ceiling ...] [--work-dir work_dirs/bench_sesam_demo]
    .venv/bin/python benchmarks/bench_sesam_demo.py --table work_dirs/bench_sesam_demo/results.json

The demo of ``make demo WEAK=point`` (``tools/run_pipeline.py demo --weak point``): procedural
shapes (``--seed`` s of ``tools/make_synthetic_dataset.py``), point labels synthesised from the
GT, SeSAM labels from the imperfect prompt oracle (GT objects with simulated SAM errors, NOT
SAM), and the demo's DeepLabV3 (``configs/demo/deeplabv3_r18_shapes.py``, 450 iterations)
trained ``--repeats`` times per dataset seed (``randomness.seed`` = the repeat) in each row:

* ``weak``: on the point labels alone (partial cross-entropy);
* ``ce``: on the round-1 SeSAM labels, plain cross-entropy;
* ``semi-<normalize>-<views>``: semi-supervised on the round-1 labels
  (``configs/demo/sesam_deeplabv3_r18_shapes.py``; ``normalize`` per_source | all_pixels of
  ``BalancedSemiLoss``; views ``two``: the teacher sees the clean crop, ``one``: the same
  distorted view, ``..._one_view.py``), each tested as student AND as EMA teacher; ``semi``
  selects all four;
* ``r2``: round 2, from the ``semi-all_pixels-two`` model's confident predictions: the
  defaults of ``tools/sesam_pseudo_labels.py`` (the refinement guards, round 1's labels kept
  and only its unlabelled pixels filled), the guards with ``--previous replace``, and neither
  (``--previous replace --pred-classes all --pred-min-area 1``): the labels' mIoU and the
  same semi-supervised model trained on each (``--r2-models``);
* ``ceiling``: on the full GT.

Labels are scored on the train ids against the GT (``tools/eval_pseudo_labels.py``), models on
val (``tools/test.py``). Every measurement is kept under ``--work-dir`` as it finishes, so a
rerun skips what is done and adds seeds, repeats or rows; ``results.json`` holds every value
and each row's mean ± sd over all of them. Nothing is tuned here.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, BENCH_DIR)

from common import machine_description  # noqa: E402

from mmseg_sam_wsss.core.io import atomic_write  # noqa: E402
from mmseg_sam_wsss.pipeline.common import latest_test_metrics, read_miou  # noqa: E402
from mmseg_sam_wsss.utils.mm_tools import schedule_options  # noqa: E402

SEG_CONFIG = 'configs/demo/deeplabv3_r18_shapes.py'
SEMI_CONFIGS = {'two': 'configs/demo/sesam_deeplabv3_r18_shapes.py',
                'one': 'configs/demo/sesam_deeplabv3_r18_shapes_one_view.py'}
NORMALIZE = ('per_source', 'all_pixels')
SEMI_VARIANTS = [f'semi-{normalize}-{views}' for normalize in NORMALIZE for views in ('one',
                                                                                    'two')]
ROUND_2_FROM = 'semi-all_pixels-two'
GROUPS = ('weak', 'ce') + tuple(SEMI_VARIANTS) + ('ceiling', 'r2')
NUM_CLASSES = 6
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: Round 2's variants: the defaults (guards, keep round 1's labels), and two that replace round
#: 1's labels with round 2's, with the guards and without them (the behaviour before both).
ROUND_2 = (('keep', []), ('guarded', ['--previous', 'replace']),
           ('unguarded', ['--previous', 'replace', '--pred-classes', 'all', '--pred-min-area',
                          '1']))
#: Round 2's variants, each of which may get a model trained on its labels (--r2-models).
ROUND_2_MODELS = tuple(variant for variant, _ in ROUND_2)


def row_titles(weak: str) -> Dict[str, str]:
    """Every row key -> its title, in table order."""
    titles = {'labels-weak': f'{weak} labels (train, vs GT)',
              'labels-r1': 'SeSAM labels, round 1 (train, vs GT)',
              'labels-r2-keep': 'SeSAM labels, round 2 (defaults: guards, round 1 kept) '
                                '(train, vs GT)',
              'labels-r2-guarded': 'SeSAM labels, round 2 with guards, replacing round 1 '
                                   '(train, vs GT)',
              'labels-r2-unguarded': 'SeSAM labels, round 2 without guards, replacing round 1 '
                                     '(train, vs GT)',
              'weak': f'model: {weak} labels alone (partial CE)',
              'ce': 'model: round-1 labels, plain CE'}
    for variant in SEMI_VARIANTS:
        _, normalize, views = variant.split('-')
        for who in ('student', 'teacher'):
            titles[f'{variant}-{who}'] = (f'model: round-1 labels, semi ({normalize}, '
                                          f'{views} view{"s" if views == "two" else ""}), '
                                          f'{who}')
    variants = dict(keep='defaults', guarded='with guards, replacing round 1',
                    unguarded='without guards, replacing round 1')
    for variant, words in variants.items():
        for who in ('student', 'teacher'):
            titles[f'r2-{variant}-{who}'] = (f'model: round-2 labels ({words}), semi '
                                             f'({ROUND_2_FROM[5:]}), {who}')
    titles['ceiling'] = 'model: full GT (ceiling)'
    return titles


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--table', metavar='RESULTS_JSON',
                        help='only print the Markdown table of a results.json and exit')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='dataset seeds (default: 0 1 2)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='trainings per dataset seed and row (default: 2)')
    parser.add_argument('--only-repeats', type=int, nargs='+', default=None, metavar='R',
                        help='run only these repeat indices (< --repeats), e.g. to split the '
                        'repeats over two processes sharing --work-dir (default: all)')
    parser.add_argument('--rows', nargs='+', default=['all'],
                        help=f'row groups, in the order to run them: {" ".join(GROUPS)}, semi '
                        '(all four semi variants) or all (default: all)')
    parser.add_argument('--weak', choices=('point', 'scribble'), default='point')
    parser.add_argument('--work-dir', default=osp.join(REPO_ROOT, 'work_dirs',
                                                       'bench_sesam_demo'))
    parser.add_argument('--iters', type=int, default=None,
                        help="training iterations (default: the demo config's 450)")
    parser.add_argument('--num-train', type=int, default=240, help='default: 240 (the demo)')
    parser.add_argument('--num-val', type=int, default=80, help='default: 80 (the demo)')
    parser.add_argument('--workers', type=int, default=1, help='per-image tool processes')
    parser.add_argument('--conf-thresh', type=float, default=0.95,
                        help='round 2: confidence of the predicted pixels (default: 0.95)')
    parser.add_argument('--r2-models', nargs='*', choices=ROUND_2_MODELS,
                        default=list(ROUND_2_MODELS),
                        help='round 2: the label variants a model is trained on (default: all)')
    parser.add_argument('--pred-min-areas', type=int, nargs='*', default=[],
                        help='round 2: also score the labels with these --pred-min-area values '
                        '(classes of the weak label only, replacing round 1; labels only, no '
                        'training), to choose the default')
    args = parser.parse_args(argv)
    groups: List[str] = []
    for name in args.rows:
        expanded = list(GROUPS) if name == 'all' else SEMI_VARIANTS if name == 'semi' else [
            name]
        for group in expanded:
            if group not in GROUPS:
                parser.error(f'--rows {name}: not one of {" ".join(GROUPS)}, semi, all')
            if group not in groups:
                groups.append(group)
    if 'r2' in groups and ROUND_2_FROM not in groups:
        groups.insert(groups.index('r2'), ROUND_2_FROM)
    args.groups = groups
    if args.only_repeats is not None and not all(0 <= r < args.repeats
                                                 for r in args.only_repeats):
        parser.error(f'--only-repeats: each must be in 0..{args.repeats - 1}')
    if args.repeats < 1 or (args.iters is not None and args.iters < 1):
        parser.error('--repeats and --iters must be >= 1')
    return args


class Bench:
    """Runs the tools for one dataset seed and keeps each finished value in a JSON file."""

    def __init__(self, args: argparse.Namespace, seed: int) -> None:
        self.args = args
        self.seed = seed
        self.root = osp.join(osp.abspath(args.work_dir), f'seed{seed}')
        self.data = osp.join(self.root, 'data')
        self.weak_dir = osp.join(self.root, 'weak')
        self.sesam_dir = osp.join(self.root, 'sesam')
        self.gt_dir = osp.join(self.data, 'SegmentationClass')
        self.train_ids = osp.join(self.data, 'ImageSets', 'Segmentation', 'train.txt')
        self.log = osp.join(self.root, 'commands.log')
        # Seconds spent training, added to the wall time of the values tested from it.
        self.train_s: Dict[str, float] = {}

    def run(self, command: List[str]) -> None:
        """Run ``command`` (a tool and its arguments) from the repository root; stop on error."""
        os.makedirs(self.root, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get(
            'PYTHONPATH', ''))
        with open(self.log, 'a', encoding='utf-8') as log:
            log.write('$ ' + ' '.join(command) + '\n')
            log.flush()
            result = subprocess.run([sys.executable] + command, cwd=REPO_ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        if result.returncode:
            raise SystemExit(f'{" ".join(command)} failed ({result.returncode}); see {self.log}')

    def value(self, key: str, repeat: Optional[int], compute) -> float:
        """The stored value of ``key`` (and ``repeat``), else ``compute()`` stored first."""
        name = key if repeat is None else f'{key}.rep{repeat}'
        path = osp.join(self.root, 'values', name + '.json')
        if osp.isfile(path):
            with open(path, encoding='utf-8') as handle:
                return json.load(handle)['mIoU']
        start = time.time()
        miou = float(compute())
        wall_s = round(time.time() - start + self.train_s.pop(name, 0.0), 1)
        with atomic_write(path, 'w') as handle:
            json.dump(dict(mIoU=miou, wall_s=wall_s), handle)
        print(f'  seed {self.seed} {name}: {miou:.2f} ({wall_s:.0f} s)', flush=True)
        return miou

    def options(self, repeat: int, labels: Optional[str] = None,
                weak: bool = False) -> List[str]:
        options = [f'{loader}.dataset.data_root={self.data}' for loader in LOADERS]
        options.append(f'randomness.seed={repeat}')
        if self.args.iters:
            options += schedule_options(self.args.iters)
        if labels:
            options.append(f'train_dataloader.dataset.data_prefix.seg_map_path={labels}')
        if weak:
            options.append(f'train_dataloader.dataset.data_prefix.weak_label_path='
                           f'{self.weak_dir}')
        return options

    def iters(self) -> int:
        if self.args.iters:
            return self.args.iters
        from mmseg_sam_wsss.pipeline.common import config_value
        return int(config_value(SEG_CONFIG, 'train_cfg.max_iters'))

    def eval_labels(self, key: str, labels: str, repeat: Optional[int] = None) -> float:
        def compute() -> float:
            out = osp.join(self.root, 'eval', f'{key}{"" if repeat is None else repeat}.json')
            self.run(['tools/eval_pseudo_labels.py', '--pred', labels, '--gt', self.gt_dir,
                      '--ids', self.train_ids, '--num-classes', str(NUM_CLASSES), '--out', out])
            return read_miou(out)
        return self.value(key, repeat, compute)

    def prepare(self) -> None:
        """The dataset, the weak labels, the round-1 SeSAM labels and their scores."""
        if not osp.isfile(osp.join(self.data, 'ImageSets', 'Segmentation', 'val.txt')):
            self.run(['tools/make_synthetic_dataset.py', '--out', self.data, '--num-train',
                      str(self.args.num_train), '--num-val', str(self.args.num_val), '--seed',
                      str(self.seed), '--workers', str(self.args.workers)])
        if not osp.isfile(osp.join(self.weak_dir, 'weak_meta.json')):
            self.run(['tools/make_weak_labels.py', '--gt', self.gt_dir, '--type',
                      self.args.weak, '--out', self.weak_dir, '--ids', self.train_ids,
                      '--seed', str(self.seed), '--num-classes', str(NUM_CLASSES),
                      '--workers', str(self.args.workers)])
        self.eval_labels('labels-weak', self.weak_dir)
        self.sesam(1)
        self.eval_labels('labels-r1', self.round_dir(1))

    def round_dir(self, round_index: int, name: str = '') -> str:
        return osp.join(self.sesam_dir + name, f'round_{round_index}')

    def sesam(self, round_index: int, name: str = '', extra: Sequence[str] = ()) -> None:
        if osp.isfile(osp.join(self.round_dir(round_index, name), '.provenance.json')) and \
                osp.isfile(osp.join(self.root, 'values', f'sesam{name}.done')):
            return
        self.run(['tools/sesam_pseudo_labels.py', '--img-dir', osp.join(self.data, 'JPEGImages'),
                  '--weak-dir', self.weak_dir, '--out', self.sesam_dir + name, '--round',
                  str(round_index), '--ids', self.train_ids, '--seed', str(self.seed),
                  '--num-classes', str(NUM_CLASSES), '--source', 'oracle-imperfect',
                  '--gt-dir', self.gt_dir, '--overwrite'] + list(extra))
        os.makedirs(osp.join(self.root, 'values'), exist_ok=True)
        open(osp.join(self.root, 'values', f'sesam{name}.done'), 'w').close()

    def train(self, key: str, repeat: int, config: str, options: List[str]) -> str:
        """Train ``config`` (resuming a killed run); the checkpoint's path."""
        work_dir = osp.join(self.root, f'rep{repeat}', key)
        checkpoint = osp.join(work_dir, f'iter_{self.iters()}.pth')
        if not osp.isfile(checkpoint):
            start = time.time()
            self.run(['tools/train.py', config, '--work-dir', work_dir, '--resume',
                      '--cfg-options'] + options)
            seconds = time.time() - start
            for name in (key, f'{key}-student', f'{key}-teacher'):
                self.train_s[f'{name}.rep{repeat}'] = seconds
        return checkpoint

    def test(self, key: str, repeat: int, config: str, checkpoint: str,
             options: List[str]) -> float:
        def compute() -> float:
            work_dir = osp.join(self.root, f'rep{repeat}', 'test', key)
            self.run(['tools/test.py', config, checkpoint, '--work-dir', work_dir,
                      '--cfg-options'] + options)
            return float(latest_test_metrics(work_dir)['mIoU'])
        return self.value(key, repeat, compute)

    def done(self, keys: Sequence[str], repeat: int) -> bool:
        return all(osp.isfile(osp.join(self.root, 'values', f'{key}.rep{repeat}.json'))
                   for key in keys)

    def plain(self, key: str, repeat: int, labels: str) -> None:
        if self.done([key], repeat):
            return
        options = self.options(repeat, labels)
        checkpoint = self.train(key, repeat, SEG_CONFIG, options)
        self.test(key, repeat, SEG_CONFIG, checkpoint, self.options(repeat))

    def semi(self, key: str, repeat: int, labels: str, config: str,
             normalize: str) -> Optional[str]:
        """Train one semi-supervised variant and test it as student and teacher."""
        keys = [f'{key}-student', f'{key}-teacher']
        work_dir = osp.join(self.root, f'rep{repeat}', key)
        checkpoint = osp.join(work_dir, f'iter_{self.iters()}.pth')
        if self.done(keys, repeat) and osp.isfile(checkpoint):
            return checkpoint
        options = self.options(repeat, labels, weak=True) + [
            f'model.semi_loss.normalize={normalize}']
        checkpoint = self.train(key, repeat, config, options)
        for who in ('student', 'teacher'):
            self.test(f'{key}-{who}', repeat, config, checkpoint,
                      self.options(repeat) + [f'model.predict_on={who}'])
        return checkpoint

    def round_2(self, repeat: int) -> None:
        """Round 2 from the default semi model's predictions, with and without the guards."""
        _, normalize, views = ROUND_2_FROM.split('-')
        checkpoint = self.semi(ROUND_2_FROM, repeat, self.round_dir(1), SEMI_CONFIGS[views],
                               normalize)
        predictions = osp.join(self.root, f'rep{repeat}', 'predictions_r1')
        if not osp.isfile(osp.join(predictions, 'predict_meta.json')):
            self.run(['tools/predict_labels.py', SEMI_CONFIGS[views], checkpoint, '--img-dir',
                      osp.join(self.data, 'JPEGImages'), '--ids', self.train_ids, '--out',
                      predictions, '--cfg-options'] + self.options(repeat))
        round_2 = ['--pred-dir', predictions, '--conf-thresh', str(self.args.conf_thresh)]
        for area in self.args.pred_min_areas:
            name = f'_r2_area{area}_rep{repeat}'
            self.sesam(2, name, round_2 + ['--previous', 'replace', '--pred-min-area', str(area)])
            self.eval_labels(f'labels-r2-area{area}', self.round_dir(2, name), repeat)
        for variant, extra in ROUND_2:
            name = f'_r2_{variant}_rep{repeat}'
            # Round 2 writes its own folder, so --previous keep is told where round 1 is.
            previous = [] if '--previous' in extra else ['--prev-dir', self.round_dir(1)]
            self.sesam(2, name, round_2 + previous + extra)
            labels = self.round_dir(2, name)
            self.eval_labels(f'labels-r2-{variant}', labels, repeat)
        for variant in self.args.r2_models:
            labels = self.round_dir(2, f'_r2_{variant}_rep{repeat}')
            self.semi(f'r2-{variant}', repeat, labels, SEMI_CONFIGS[views], normalize)

    def run_group(self, group: str, repeat: int) -> None:
        if group == 'weak':
            self.plain('weak', repeat, self.weak_dir)
        elif group == 'ce':
            self.plain('ce', repeat, self.round_dir(1))
        elif group == 'ceiling':
            self.plain('ceiling', repeat, self.gt_dir)
        elif group == 'r2':
            self.round_2(repeat)
        else:
            _, normalize, views = group.split('-')
            self.semi(group, repeat, self.round_dir(1), SEMI_CONFIGS[views], normalize)


def collect(work_dir: str, weak: str) -> dict:
    """Every stored value under ``work_dir`` and each row's mean ± sd."""
    titles = row_titles(weak)
    values: Dict[str, List[dict]] = {key: [] for key in titles}
    for seed_dir in sorted(os.listdir(work_dir)):
        value_dir = osp.join(work_dir, seed_dir, 'values')
        if not seed_dir.startswith('seed') or not osp.isdir(value_dir):
            continue
        for name in sorted(os.listdir(value_dir)):
            if not name.endswith('.json'):
                continue
            key, _, repeat = name[:-len('.json')].partition('.rep')
            with open(osp.join(value_dir, name), encoding='utf-8') as handle:
                stored = json.load(handle)
            values.setdefault(key, []).append(dict(
                seed=int(seed_dir[len('seed'):]), repeat=int(repeat) if repeat else None,
                mIoU=stored['mIoU'], wall_s=stored.get('wall_s')))
    for key in sorted(values, key=lambda key: int(key[len('labels-r2-area'):])
                      if key.startswith('labels-r2-area') else 0):
        if key.startswith('labels-r2-area') and key not in titles:
            titles[key] = (f'SeSAM labels, round 2, weak classes, --pred-min-area '
                           f'{key[len("labels-r2-area"):]}, replacing round 1 (train, vs GT)')
    rows = []
    baseline = {(value['seed'], value['repeat']): value['mIoU'] for value in values.get('ce', [])}
    for key, title in titles.items():
        measured = [value['mIoU'] for value in values.get(key, [])]
        if not measured:
            continue
        row = dict(key=key, title=title, n=len(measured), mean=statistics.mean(measured),
                   sd=statistics.stdev(measured) if len(measured) > 1 else None,
                   seeds=sorted({value['seed'] for value in values[key]}), values=values[key])
        # Model rows minus plain CE of the same dataset seed and training repeat: the seed moves
        # every model together, so the paired difference is the like-with-like comparison.
        paired = [value['mIoU'] - baseline[(value['seed'], value['repeat'])]
                  for value in values[key] if value['repeat'] is not None and
                  (value['seed'], value['repeat']) in baseline]
        if key != 'ce' and not key.startswith('labels-') and paired:
            row['vs_ce'] = dict(n=len(paired), mean=statistics.mean(paired),
                                sd=statistics.stdev(paired) if len(paired) > 1 else None)
        rows.append(row)
    return dict(rows=rows)


def markdown_table(results: dict) -> str:
    """The README's table: one line per row, mean ± sd over every seed and repeat."""
    lines = ['| row | mIoU mean ± sd | n | − plain CE, paired: mean ± sd | seeds | '
             'values (seed.repeat: mIoU) |', '|---|---:|---:|---:|---|---|']

    def mean_sd(stats: dict, sign: str = '') -> str:
        spread = '' if stats['sd'] is None else f' ± {stats["sd"]:.2f}'
        return f'{stats["mean"]:{sign}.2f}{spread}'

    for row in results['rows']:
        detail = ', '.join(
            f'{value["seed"]}{"" if value["repeat"] is None else "." + str(value["repeat"])}: '
            f'{value["mIoU"]:.2f}' for value in row['values'])
        paired = mean_sd(row['vs_ce'], '+') if 'vs_ce' in row else ''
        lines.append(f'| {row["title"]} | {mean_sd(row)} | {row["n"]} | {paired} | '
                     f'{" ".join(map(str, row["seeds"]))} | {detail} |')
    settings = results.get('settings', {})
    if settings:
        lines.append('')
        lines.append(f'{settings.get("iters")} iterations, {settings.get("num_train")} train / '
                     f'{settings.get("num_val")} val images, {settings.get("weak")} labels, '
                     'SeSAM labels from the imperfect prompt oracle (not SAM); '
                     f'{results.get("machine", "")}')
    return '\n'.join(lines)


def write_results(args: argparse.Namespace, seconds: float) -> str:
    results = collect(osp.abspath(args.work_dir), args.weak)
    results['settings'] = dict(iters=args.iters or 450, num_train=args.num_train,
                               num_val=args.num_val, weak=args.weak, seeds=args.seeds,
                               repeats=args.repeats, rows=args.groups)
    results['machine'] = machine_description()
    results['wall_s_this_run'] = round(seconds, 1)
    path = osp.join(osp.abspath(args.work_dir), 'results.json')
    with atomic_write(path, 'w') as handle:
        json.dump(results, handle, indent=1)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        with open(args.table, encoding='utf-8') as handle:
            print(markdown_table(json.load(handle)))
        return 0
    print(f'machine: {machine_description()}', flush=True)
    print(f'rows: {" ".join(args.groups)}; seeds {args.seeds}; {args.repeats} repeat(s)',
          flush=True)
    start = time.time()
    benches = [Bench(args, seed) for seed in args.seeds]
    for bench in benches:
        bench.prepare()
    write_results(args, time.time() - start)
    # Row-major: every seed gets a row before the next row starts, so a cut-off run still
    # compares its first rows over all seeds.
    repeats = range(args.repeats) if args.only_repeats is None else args.only_repeats
    for repeat in repeats:
        for group in args.groups:
            for bench in benches:
                bench.run_group(group, repeat)
                write_results(args, time.time() - start)
    path = write_results(args, time.time() - start)
    with open(path, encoding='utf-8') as handle:
        print(markdown_table(json.load(handle)))
    print(f'results: {path} ({time.time() - start:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
