"""``benchmarks/bench_sesam_demo.py``: the table's arithmetic on stored values, and every row
end to end on a tiny schedule (8 train / 4 val scenes, 2 iterations; the numbers mean nothing,
the rows, the resumption and the files are what is checked)."""
import importlib.util
import json
import os
import os.path as osp
import statistics

import pytest


def load_bench(repo_root: str):
    path = osp.join(repo_root, 'benchmarks', 'bench_sesam_demo.py')
    spec = importlib.util.spec_from_file_location('bench_sesam_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def store(root, seed, name, miou):
    os.makedirs(osp.join(root, f'seed{seed}', 'values'), exist_ok=True)
    with open(osp.join(root, f'seed{seed}', 'values', name + '.json'), 'w') as handle:
        json.dump(dict(mIoU=miou, wall_s=1.0), handle)


def test_rows_are_mean_and_sd_over_every_seed_and_repeat(repo_root, tmp_path, capsys):
    bench = load_bench(repo_root)
    values = {(0, 0): 60.0, (0, 1): 62.0, (1, 0): 70.0, (1, 1): 71.0}
    for (seed, repeat), miou in values.items():
        store(tmp_path, seed, f'ce.rep{repeat}', miou)
        store(tmp_path, seed, f'semi-all_pixels-two-teacher.rep{repeat}', miou + 1)
    store(tmp_path, 0, 'labels-r1', 75.0)
    store(tmp_path, 1, 'labels-r1', 77.0)
    results = bench.collect(str(tmp_path), 'point')
    rows = {row['key']: row for row in results['rows']}
    assert list(rows) == ['labels-r1', 'ce', 'semi-all_pixels-two-teacher']  # table order
    assert rows['ce']['n'] == 4 and rows['ce']['mean'] == pytest.approx(65.75)
    assert rows['ce']['sd'] == pytest.approx(statistics.stdev(values.values()))
    assert rows['labels-r1']['mean'] == 76.0 and rows['labels-r1']['seeds'] == [0, 1]
    with open(tmp_path / 'results.json', 'w') as handle:
        json.dump(results, handle)
    assert bench.main(['--table', str(tmp_path / 'results.json')]) == 0
    table = capsys.readouterr().out
    assert '| model: round-1 labels, plain CE | 65.75 ± 5.56 | 4 |  | 0 1 |' in table
    assert 'semi (all_pixels, two views), teacher | 66.75 ± 5.56 | 4 | +1.00 ± 0.00 |' in table
    # Paired with plain CE of the same seed and repeat; a value without its pair is left out.
    store(tmp_path, 0, 'weak.rep0', 50.0)
    store(tmp_path, 1, 'weak.rep0', 58.0)
    store(tmp_path, 2, 'weak.rep0', 99.0)
    rows = {row['key']: row for row in bench.collect(str(tmp_path), 'point')['rows']}
    assert rows['weak']['vs_ce']['n'] == 2
    assert rows['weak']['vs_ce']['mean'] == pytest.approx(-11.0)
    assert rows['weak']['vs_ce']['sd'] == pytest.approx(statistics.stdev([-10.0, -12.0]))
    assert 'vs_ce' not in rows['ce'] and 'vs_ce' not in rows['labels-r1']
    with pytest.raises(SystemExit):
        bench.parse_args(['--rows', 'nope'])
    with pytest.raises(SystemExit):  # repeat indices run from 0 to --repeats - 1
        bench.parse_args(['--repeats', '2', '--only-repeats', '2'])
    assert bench.parse_args(['--repeats', '2', '--only-repeats', '1']).only_repeats == [1]
    args = bench.parse_args(['--rows', 'r2', 'ce'])
    assert args.groups == ['semi-all_pixels-two', 'r2', 'ce']  # round 2 needs its model first


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_each_kind_of_row_on_a_tiny_schedule(repo_root, tmp_path, capsys):
    """A plain row (``ceiling``: weak and ce differ only in the label folder), a one-view semi
    row and round 2 (with its two-view semi model; the defaults, guards replacing round 1, no
    guards and a --pred-min-area sweep; a model on the defaults' labels): 4 trainings of 2
    iterations."""
    bench = load_bench(repo_root)
    work = tmp_path / 'bench'
    argv = ['--seeds', '0', '--repeats', '1', '--iters', '2', '--num-train', '8',
            '--num-val', '4', '--work-dir', str(work), '--conf-thresh', '0.2', '--rows',
            'ceiling', 'semi-per_source-one', 'r2', '--pred-min-areas', '1', '64',
            '--r2-models', 'keep']
    assert bench.main(argv) == 0
    results = json.loads((work / 'results.json').read_text())
    keys = {row['key'] for row in results['rows']}
    expected = {'labels-weak', 'labels-r1', 'labels-r2-keep', 'labels-r2-guarded',
                'labels-r2-unguarded', 'labels-r2-area1', 'labels-r2-area64', 'ceiling'}
    expected |= {f'{variant}-{who}' for variant in ('semi-per_source-one', 'semi-all_pixels-two')
                 for who in ('student', 'teacher')}
    expected |= {f'r2-keep-{who}' for who in ('student', 'teacher')}
    assert keys == expected
    assert all(row['n'] == 1 and 0.0 <= row['mean'] <= 100.0 for row in results['rows'])
    # The teacher and the student of one training are two different tests of one checkpoint.
    def commands():
        log = (work / 'seed0' / 'commands.log').read_text()
        return [line for line in log.splitlines() if line.startswith('$ ')]

    tests = [line for line in commands() if line.startswith('$ tools/test.py')]
    one_view = [line for line in tests if 'semi-per_source-one/iter_2.pth' in line]
    assert len(one_view) == 2 and 'sesam_deeplabv3_r18_shapes_one_view.py' in one_view[0]
    assert {'model.predict_on=student' in line for line in one_view} == {True, False}
    assert any('--previous replace --pred-classes all --pred-min-area 1' in line
               for line in commands())
    round_1 = str(work / 'seed0' / 'sesam' / 'round_1')
    assert any(f'--prev-dir {round_1}' in line and '_r2_keep_rep0' in line
               for line in commands())  # round 2 keeps round 1 from the folder it is in
    # A rerun finds every value and runs no tool.
    before = len(commands())
    assert bench.main(argv) == 0
    assert len(commands()) == before
