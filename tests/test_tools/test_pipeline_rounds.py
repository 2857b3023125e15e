"""tools/run_pipeline.py --weak: the SeSAM stage list (demo and voc), round after round.

The stages are built, not run (the tools themselves are tested on their own, and a rerun's
resume comes from the stage runner's markers, tested in tests/test_utils/test_stages.py): each
round > 1 predicts with the previous round's model on the train ids and feeds those predictions,
with their confidence, to the next round's labels, which train the next model.
"""
import os.path as osp

from helpers import load_tool


def stage_map(repo_root, argv, tmp_path):
    pipeline = load_tool(repo_root, 'run_pipeline')
    args = pipeline.parse_args(argv + ['--work-dir', str(tmp_path / 'work')])
    paths = pipeline.Paths(args.work_dir)
    if args.mode == 'voc':
        args.data_root_abs = osp.join(repo_root, args.data_root)
        args.train_ids = paths('ids', 'train.txt')
        args.quick = True
    build = pipeline.demo_stages if args.mode == 'demo' else pipeline.voc_stages
    stages = build(args, paths)
    return args, {stage.key: stage for stage in stages}, [stage.key for stage in stages]


def argument(command, flag):
    return command[command.index(flag) + 1]


def test_demo_rounds_chain_predictions_into_the_next_labels(repo_root, tmp_path):
    args, stages, order = stage_map(repo_root, ['demo', '--weak', 'point', '--rounds', '3',
                                                '--conf-thresh', '0.9'], tmp_path)
    assert args.rounds == 3
    # the baselines first, then per round: (predictions,) labels, score, (plain CE,) model, test
    for key in ('weak', 'eval_weak', 'seg_weak', 'test_weak', 'sesam_1', 'seg_ce', 'test_ce',
                'seg_semi_1', 'predict_1', 'sesam_2', 'seg_semi_2', 'predict_2', 'sesam_3',
                'seg_semi_3', 'test_semi_3', 'table', 'report'):
        assert key in stages, key
    assert order.index('seg_semi_1') < order.index('predict_1') < order.index('sesam_2') \
        < order.index('seg_semi_2') < order.index('predict_2') < order.index('sesam_3')
    assert '--pred-dir' not in stages['sesam_1'].command
    for round_index in (2, 3):
        previous = round_index - 1
        predict = stages[f'predict_{previous}'].command
        labels = stages[f'sesam_{round_index}'].command
        # the previous round's semi-supervised checkpoint predicts the train ids ...
        assert f'seg_semi_{previous}' in predict[2] and predict[2].endswith('.pth')
        assert 'sesam_deeplabv3_r18_shapes.py' in predict[1]
        assert argument(predict, '--ids').endswith('train.txt')
        # ... and those predictions, above the threshold, make this round's labels
        assert argument(labels, '--pred-dir') == argument(predict, '--out')
        assert argument(labels, '--round') == str(round_index)
        assert argument(labels, '--conf-thresh') == '0.9'
        # which the next model trains on, beside the weak labels
        train = ' '.join(stages[f'seg_semi_{round_index}'].command)
        assert f'seg_map_path={osp.join(repo_root, argument(labels, "--out"))}' \
               f'/round_{round_index}' in train
        assert 'weak_label_path=' in train
    # without weights the prompts are answered by the imperfect GT oracle, never called SAM
    assert argument(stages['sesam_1'].command, '--source') == 'oracle-imperfect'
    assert 'not SAM' in stages['sesam_1'].title
    # the weak-only baseline trains the plain config on the weak labels (partial CE)
    weak_train = ' '.join(stages['seg_weak'].command)
    assert 'configs/demo/deeplabv3_r18_shapes.py' in weak_train
    assert f'seg_map_path={osp.join(repo_root, argument(stages["weak"].command, "--out"))}' \
        in weak_train
    # the ceiling: the same plain config on the full GT, tested on val like every model
    ceiling = ' '.join(stages['seg_gt'].command)
    assert 'configs/demo/deeplabv3_r18_shapes.py' in ceiling
    assert ceiling.rstrip().endswith('/SegmentationClass') and 'test_gt' in stages


def test_voc_rounds_use_the_sesam_config_and_no_baselines(repo_root, tmp_path, voc_mini):
    _, stages, _ = stage_map(repo_root, ['voc', '--data-root', voc_mini, '--weak', 'scribble',
                                         '--rounds', '2', '--prompt-oracle', 'perfect'],
                             tmp_path)
    assert 'seg_weak' not in stages and 'seg_ce' not in stages and 'seg_gt' not in stages
    assert 'configs/smoke/deeplabv3_voc_scribble_smoke.py' in stages['seg_semi_1'].command
    assert argument(stages['sesam_2'].command, '--source') == 'oracle'
    assert 'predict_1' in stages and 'test_semi_2' in stages
