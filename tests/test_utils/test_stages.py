"""utils/stages: stages run once, reruns skip them, changed commands and missing outputs are
refused, a failing tool names its stage, and Runner logs drive the progress bar."""
import json
import sys

import pytest

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.stages import Stage, StageRunner, stream_runner_log


def write_stage(key, name, text='x'):
    """A stage whose tool writes ``text`` into ``out/<name>`` (relative to the runner's cwd)."""
    code = f'import pathlib; p = pathlib.Path("out/{name}"); p.parent.mkdir(exist_ok=True); ' \
           f'p.write_text("{text}")'
    return Stage(key, f'write {name}', ['-c', code], [f'out/{name}'])


def test_stages_run_once_then_skip(tmp_path, capsys):
    runner = StageRunner('work', cwd=str(tmp_path))
    calls = []
    stages = [write_stage('a', 'a.txt'),
              Stage('b', 'bookkeeping', action=lambda: calls.append(1), describe='count')]
    runner.run(stages)
    assert (tmp_path / 'out' / 'a.txt').read_text() == 'x'
    marker = json.loads((tmp_path / 'work' / 'stages' / 'a.json').read_text())
    assert marker['command'] == stages[0].command and marker['seconds'] >= 0
    printed = capsys.readouterr().out
    assert '[1/2] write a.txt' in printed and '$ ' in printed and '(count)' in printed

    again = StageRunner('work', cwd=str(tmp_path))
    again.run(stages)
    assert calls == [1]  # the action did not run again
    assert [result.skipped for result in again.results] == [True, True]
    assert capsys.readouterr().out.count('finished earlier, skipped') == 2


def test_stage_reruns_when_its_output_was_deleted(tmp_path):
    StageRunner('work', cwd=str(tmp_path)).run([write_stage('a', 'a.txt')])
    (tmp_path / 'out' / 'a.txt').unlink()
    runner = StageRunner('work', cwd=str(tmp_path))
    runner.run([write_stage('a', 'a.txt')])
    assert (tmp_path / 'out' / 'a.txt').is_file() and not runner.results[0].skipped


def test_changed_command_is_refused(tmp_path):
    StageRunner('work', cwd=str(tmp_path)).run([write_stage('a', 'a.txt')])
    with pytest.raises(SamWsssError, match=r'finished earlier with another command(.|\n)*'
                       r'stages/a\.json'):
        StageRunner('work', cwd=str(tmp_path)).run([write_stage('a', 'a.txt', text='y')])
    assert (tmp_path / 'out' / 'a.txt').read_text() == 'x'


def test_failures_name_the_stage_and_leave_no_marker(tmp_path):
    runner = StageRunner('work', cwd=str(tmp_path))
    with pytest.raises(SamWsssError, match=r'stage "boom" failed \(exit 3\)'):
        runner.run([Stage('boom', 'boom', ['-c', 'raise SystemExit(3)'], [])])
    with pytest.raises(SamWsssError, match='finished but left no out/never'):
        runner.run([Stage('lazy', 'lazy', ['-c', 'pass'], ['out/never'])])
    assert not (tmp_path / 'work' / 'stages').exists()


def test_runner_log_goes_to_file_and_tail_is_returned(tmp_path):
    lines = [f'Iter(train) [{i}/4]  lr: 0.1  loss: 0.{i}' for i in range(1, 5)]
    lines.append('Traceback: shown even when not verbose')
    code = f'print({chr(10).join(lines)!r}); raise SystemExit(1)'
    log = tmp_path / 'run.log'
    exit_code, tail = stream_runner_log([sys.executable, '-c', code], str(log), 'train',
                                        verbose=False, env={}, cwd=str(tmp_path))
    assert exit_code == 1
    assert log.read_text().splitlines() == lines
    assert [line.rstrip('\n') for line in tail] == lines
