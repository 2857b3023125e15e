"""Real clicks against synthesised weak labels: SeSAM label quality on voc_mini, per rule.

    .venv/bin/python benchmarks/bench_real_clicks.py [--data-root ../shared/data/voc_mini]
        [--seeds 0] [--work-dir DIR] [--quick]

Weak labels: the real "What's the Point" clicks (object + background clicks, converted by
``tools/convert_weak_labels.py``, disks of radius 2) and points, scribbles and coarse masks
synthesised from the GT by ``tools/make_weak_labels.py --seed 0``. Sources (neither is SAM;
no SAM weights exist here):

* ``GT prompt oracle``: ``tools/sesam_pseudo_labels.py --source oracle``, the GT component
  under each skeleton prompt answers it (an upper bound of prompting and selection);
* ``imperfect-oracle masks``: ``tools/generate_sam_masks.py --source oracle
  --oracle-imperfect --seed S`` (GT components with simulated SAM errors), merged by
  ``tools/enhance_pseudo_labels.py --rule sesam_coverage --keep-ignore``;
* ``imperfect prompt oracle``: ``tools/sesam_pseudo_labels.py --source oracle-imperfect
  --seed S``, the prompted path with three candidates per prompt (a part, the object or a leak
  into a neighbour, everything touching) and random quality scores.

The tie-break rows compare the orders of :data:`~mmseg_sam_wsss.core.sesam_select.TIE_BREAKS`
on both paths (on oracle masks, which carry no quality score, only the area's direction
matters); SeSAM uses one of them, :data:`~mmseg_sam_wsss.core.sesam_select.TIE_BREAK`, for both.

Every rule is computed by the function the tool calls per image (``SeSAMLabeler``,
``enhance_pseudo_label``), so one mask store serves all rules. The table gives dataset mIoU
(one confusion matrix, unlabelled pixels count as misses) on the 110 train ids, the 116 val
ids and all 226. Nothing is tuned here: the rules are fixed before the run, and a rule is
only kept in the package if it helps on both id sets. ``--quick`` uses 20 ids of each split.
"""
import argparse
import importlib.util
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence

import numpy as np

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, BENCH_DIR)

from common import machine_description  # noqa: E402

from mmseg_sam_wsss.core.io import read_ids, read_label_png  # noqa: E402
from mmseg_sam_wsss.core.mask_store import open_mask_source  # noqa: E402
from mmseg_sam_wsss.core.merge import enhance_pseudo_label  # noqa: E402
from mmseg_sam_wsss.core.metrics import ConfusionMatrix  # noqa: E402
from mmseg_sam_wsss.core.rng import image_rng  # noqa: E402
from mmseg_sam_wsss.core.sesam_select import TIE_BREAK, TIE_BREAKS, SeSAMLabeler  # noqa: E402
from mmseg_sam_wsss.simulation.imperfect_prompt_oracle import \
    ImperfectPromptAnswerer  # noqa: E402
from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer  # noqa: E402

NUM_CLASSES = 21
WEAK_SETS = ('real clicks', 'synth. point', 'synth. scribble', 'synth. coarse')
#: Prompt-path rules with the GT prompt oracle (one candidate: no tie-break to choose).
PROMPT_RULES = {
    'ties: lower index wins': dict(tie_unlabelled=False),
    'ties unlabelled (default)': dict(tie_unlabelled=True),
}
#: Prompt-path rules with the imperfect prompt oracle: SeSAMLabeler keyword arguments.
IMPERFECT_PROMPT_RULES = {f'tie_break {tie_break}{" (default)" if tie_break == TIE_BREAK else ""}':
                          dict(tie_break=tie_break) for tie_break in TIE_BREAKS}
#: sesam_coverage options (``--rule-options``); the oracle masks have no quality score.
COVERAGE_RULES = {
    'smaller first, ties: first pixel': dict(tie_break='quality-smaller', tie_unlabelled=False),
    'smaller first, ties unlabelled': dict(tie_break='quality-smaller', tie_unlabelled=True),
    'larger first, ties: first pixel': dict(tie_break='quality-larger', tie_unlabelled=False),
    'larger first, ties unlabelled': dict(tie_break='quality-larger', tie_unlabelled=True),
}


def load_tool(name: str):
    """``tools/<name>.py`` as a module, to run its ``main`` in this process."""
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, 'tools',
                                                                 name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, argv: List[str]) -> None:
    """Run a tool quietly (its progress bar goes to stderr); stop on a non-zero exit."""
    code = load_tool(name).main(argv)
    if code:
        raise SystemExit(f'tools/{name}.py {" ".join(argv)} exited with {code}')


def prepare(data_root: str, work_dir: str, ids_file: str, seeds: Sequence[int]) -> Dict:
    """Convert the real clicks, synthesise weak labels, generate imperfect-oracle masks."""
    annotations = osp.join(data_root, 'annotations')
    gt_dir, img_dir = osp.join(data_root, 'SegmentationClass'), osp.join(data_root, 'JPEGImages')
    weak_dirs = {'real clicks': osp.join(work_dir, 'weak', 'real_point')}
    run_tool('convert_weak_labels', [
        '--format', 'whats-the-point', osp.join(annotations, 'whats_the_point.json'),
        '--bg', osp.join(annotations, 'whats_the_point_bg.json'), '--img-dir', img_dir,
        '--out', weak_dirs['real clicks'], '--ids', ids_file])
    for weak_type in ('point', 'scribble', 'coarse'):
        weak_dirs[f'synth. {weak_type}'] = osp.join(work_dir, 'weak', weak_type)
        run_tool('make_weak_labels', ['--gt', gt_dir, '--type', weak_type, '--seed', '0',
                                      '--out', weak_dirs[f'synth. {weak_type}'],
                                      '--ids', ids_file])
    stores = {}
    for seed in seeds:
        stores[seed] = osp.join(work_dir, f'masks_imperfect_seed{seed}')
        run_tool('generate_sam_masks', ['--img-dir', img_dir, '--source', 'oracle', '--gt-dir',
                                        gt_dir, '--oracle-imperfect', '--seed', str(seed),
                                        '--out', stores[seed], '--ids', ids_file])
    return dict(weak_dirs=weak_dirs, stores=stores, gt_dir=gt_dir)


def evaluate(label_of: Callable[[str], np.ndarray], splits: Dict[str, List[str]],
             gt_of: Callable[[str], np.ndarray]) -> Dict[str, float]:
    """Dataset mIoU (percent) of ``label_of(id)`` on each split and on all ids together."""
    matrices = {name: ConfusionMatrix(NUM_CLASSES) for name in list(splits) + ['all']}
    for name, ids in splits.items():
        for image_id in ids:
            pseudo_label, gt_label = label_of(image_id), gt_of(image_id)
            matrices[name].update(pseudo_label, gt_label, image_id)
            matrices['all'].update(pseudo_label, gt_label, image_id)
    return {name: 100 * matrix.summary()['miou'] for name, matrix in matrices.items()}


def evaluate_rules(labels_of: Callable[[str], Dict[str, np.ndarray]], rules: Sequence[str],
                   splits: Dict[str, List[str]], gt_of: Callable[[str], np.ndarray]
                   ) -> Dict[str, Dict[str, float]]:
    """:func:`evaluate` for several rules at once: ``labels_of(id)`` gives each rule's label."""
    matrices = {rule: {name: ConfusionMatrix(NUM_CLASSES) for name in list(splits) + ['all']}
                for rule in rules}
    for name, ids in splits.items():
        for image_id in ids:
            gt_label = gt_of(image_id)
            for rule, pseudo_label in labels_of(image_id).items():
                matrices[rule][name].update(pseudo_label, gt_label, image_id)
                matrices[rule]['all'].update(pseudo_label, gt_label, image_id)
    return {rule: {name: 100 * matrix.summary()['miou'] for name, matrix in split.items()}
            for rule, split in matrices.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=osp.join(REPO_ROOT, '..', 'shared', 'data',
                                                        'voc_mini'))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='imperfect-oracle seeds (default: 0)')
    parser.add_argument('--work-dir', help='keep the weak labels and mask stores here '
                        '(default: a temporary folder, removed at the end)')
    parser.add_argument('--quick', action='store_true', help='20 ids per split')
    args = parser.parse_args(argv)
    split_dir = osp.join(args.data_root, 'ImageSets', 'Segmentation')
    splits = {name: read_ids(osp.join(split_dir, f'{name}.txt')) for name in ('train', 'val')}
    if args.quick:
        splits = {name: ids[:20] for name, ids in splits.items()}
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='bench_real_clicks_')
    print(f'machine: {machine_description()}')
    print(f'data: {osp.abspath(args.data_root)}; ' + ', '.join(
        f'{len(ids)} {name} ids' for name, ids in splits.items()))
    try:
        os.makedirs(work_dir, exist_ok=True)
        ids_file = osp.join(work_dir, 'ids.txt')
        with open(ids_file, 'w', encoding='utf-8') as handle:
            handle.write('\n'.join(splits['train'] + splits['val']) + '\n')
        start = time.perf_counter()
        prepared = prepare(args.data_root, work_dir, ids_file, args.seeds)
        print(f'weak labels and masks prepared in {time.perf_counter() - start:.0f} s')
        gts: Dict[str, np.ndarray] = {}

        def gt_of(image_id: str) -> np.ndarray:
            if image_id not in gts:
                gts[image_id] = read_label_png(osp.join(prepared['gt_dir'], image_id + '.png'),
                                               num_classes=NUM_CLASSES)
            return gts[image_id]

        def weak_of(weak_set: str, image_id: str) -> np.ndarray:
            return read_label_png(osp.join(prepared['weak_dirs'][weak_set], image_id + '.png'),
                                  num_classes=NUM_CLASSES, shape=gt_of(image_id).shape)

        rows = []
        for weak_set in WEAK_SETS:
            for rule, options in PROMPT_RULES.items():
                labeler = SeSAMLabeler(**options)
                rows.append(('GT prompt oracle', rule, weak_set, evaluate(
                    lambda i: labeler(weak_of(weak_set, i), OraclePromptAnswerer(gt_of(i)),
                                      rng=image_rng(0, i)), splits, gt_of)))
                print_row(rows[-1])
            for seed in args.seeds:
                labelers = {rule: SeSAMLabeler(**options)
                            for rule, options in IMPERFECT_PROMPT_RULES.items()}

                def prompted(image_id: str) -> Dict[str, np.ndarray]:
                    answerer = ImperfectPromptAnswerer(gt_of(image_id), image_id, seed=seed)
                    weak_label = weak_of(weak_set, image_id)
                    return {rule: labeler(weak_label, answerer, rng=image_rng(seed, image_id))
                            for rule, labeler in labelers.items()}

                for rule, scores in evaluate_rules(prompted, list(labelers), splits,
                                                   gt_of).items():
                    rows.append((f'imperfect prompt oracle s{seed}', rule, weak_set, scores))
                    print_row(rows[-1])
            for seed, store in prepared['stores'].items():
                read_masks = open_mask_source(store)
                mask_sets = {}

                def masks_of(image_id: str):
                    if image_id not in mask_sets:
                        mask_sets[image_id] = read_masks(image_id)
                    return mask_sets[image_id]

                for rule, options in COVERAGE_RULES.items():
                    rows.append((f'imperfect-oracle masks s{seed}', f'sesam_coverage, {rule}',
                                 weak_set, evaluate(
                                     lambda i: enhance_pseudo_label(
                                         weak_of(weak_set, i), masks_of(i),
                                         rule='sesam_coverage', keep_ignore=True, **options),
                                     splits, gt_of)))
                    print_row(rows[-1])
        print('\nSeSAM label quality, dataset mIoU (%); sources are oracles, NOT SAM')
        print_table(rows)
    finally:
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def print_row(row) -> None:
    source, rule, weak_set, scores = row
    print(f'  {source} | {rule} | {weak_set}: ' + ', '.join(
        f'{name} {value:.2f}' for name, value in scores.items()), flush=True)


def print_table(rows) -> None:
    """The table, one line per source x rule x weak labels, as Markdown."""
    print('| source | rule | weak labels | train | val | all |')
    print('|---|---|---|---:|---:|---:|')
    for source, rule, weak_set, scores in sorted(rows, key=lambda row: (
            row[0], WEAK_SETS.index(row[2]))):
        print(f'| {source} | {rule} | {weak_set} | {scores["train"]:.2f} | '
              f'{scores["val"]:.2f} | {scores["all"]:.2f} |')


if __name__ == '__main__':
    sys.exit(main())
