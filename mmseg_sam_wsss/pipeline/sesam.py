"""SeSAM's stages (Das et al. 2026): weak labels, SeSAM labels round after round, the
semi-supervised models between rounds, their predictions, tests, table and report."""
import argparse
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ..utils.stages import Stage
from .common import (REPO_ROOT, SAM_FLAG_NAMES, Paths, eval_stage, latest_test_metrics, read_miou,
                     report_stage, test_stage, tool, train_stage, write_table)


@dataclass
class SesamRun:
    """What the SeSAM stages need from the demo or voc set-up."""
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

    With ``run.baselines`` (the demo) three more models show what each step buys: one trained on
    the weak labels alone (partial cross-entropy: 255 is ignored), one trained on the round-1
    SeSAM labels with plain cross-entropy, and the ceiling, one trained on the full GT.
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
        stages += model('gt', 'on the full GT (the ceiling)', run.seg_config, run.gt_dir,
                        semi=False)
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
        command += list(args.sesam_tool_args)
        stages += [
            Stage(f'sesam_{round_index}', f'SeSAM labels, round {round_index}, from the {weak} '
                  f'labels ({source_name})', command,
                  [osp.join(label_dir(round_index), '.provenance.json')],
                  flag_names=SAM_FLAG_NAMES),
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
        if run.baselines:
            rows.append(model_row('gt', 'DeepLabV3 on the full GT (ceiling)'))
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
