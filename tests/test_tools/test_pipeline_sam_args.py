"""tools/run_pipeline.py passes SAM's generator options (--sam-args / SAM_ARGS) and SeSAM's
prompting options (--sesam-args / SESAM_ARGS) through to the tools, checks them with the tools'
own parsers before any stage runs, records them, and names its own flags in a tool's error."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from helpers import load_tool

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.builder import build_tiny_sam_checkpoint


@pytest.fixture(scope='module')
def pipeline(repo_root):
    return load_tool(repo_root, 'run_pipeline')


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_sam_checkpoint(str(tmp_path_factory.mktemp('sam') / 'tiny.pth'))


class Recorder:
    """Stands in for StageRunner: keeps the stages instead of running them."""
    stages = []

    def __init__(self, work_dir, cwd='.', verbose=False):
        self.work_dir = work_dir

    def run(self, stages):
        Recorder.stages = list(stages)


def voc_argv(voc_mini, work_dir, *extra):
    return ['voc', '--data-root', voc_mini, '--quick', '1', '--max-images', '2',
            '--work-dir', str(work_dir), *extra]


def test_options_reach_the_tools_and_the_record(pipeline, voc_mini, tiny_checkpoint,
                                                tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, 'StageRunner', Recorder)
    monkeypatch.setattr(pipeline, 'print_summary', lambda *args: None)
    work = tmp_path / 'sepl'
    sam_args = '--points-per-side 16 --pred-iou-thresh 0.86 --crop-n-layers 1 --amp bf16'
    assert pipeline.main(voc_argv(voc_mini, work, '--sam-checkpoint', tiny_checkpoint,
                                  '--sam-model-type', 'tiny', f'--sam-args={sam_args}')) == 0
    masks = next(stage for stage in Recorder.stages if stage.key == 'masks')
    assert masks.command[-8:] == sam_args.split()
    assert masks.flag_names['--model-type'].startswith('--sam-model-type')
    assert 'generator: --points-per-side 16' in capsys.readouterr().out
    with open(work / 'run_settings.json') as handle:
        settings = json.load(handle)
    assert settings['sam_args'] == sam_args.split() and settings['sam_model_type'] == 'tiny'
    # SeSAM: the prompting options reach every round's command
    work = tmp_path / 'sesam'
    argv = voc_argv(voc_mini, work, '--weak', 'point', '--rounds', '2',
                    '--sesam-args=--points-per-component 5 --negative-points 2')
    assert pipeline.main(argv) == 0
    rounds = [stage for stage in Recorder.stages if stage.key.startswith('sesam_')]
    expected = ['--points-per-component', '5', '--negative-points', '2']
    assert len(rounds) == 2 and all(stage.command[-4:] == expected for stage in rounds)


@pytest.mark.parametrize('extra, expected', [
    (['--sam-args=--points-per-side 0'], 'argument --points-per-side: 0 is outside its range'),
    (['--sam-args=--model-type vit_b'], '--model-type is set by the pipeline; use its '
     '--sam-model-type (SAM_MODEL_TYPE)'),
    (['--sam-args=--points-per-sid 8'], '--points-per-sid is not an option passed to'),
    (['--sam-args=--amp fp8'], "argument --amp: invalid choice: 'fp8'"),
    (['--weak', 'point', '--sesam-args=--penalty -1'], 'argument --penalty: -1.0 is outside'),
    (['--sesam-args=--negative-points 2'], 'SeSAM runs only with --weak'),
    (['--weak', 'point', '--sam-args=--points-per-side 8'], 'use --sesam-args'),
])
def test_bad_options_fail_before_any_stage(pipeline, voc_mini, tiny_checkpoint, tmp_path,
                                           extra, expected):
    work = tmp_path / 'work'
    with pytest.raises(SamWsssError) as error:
        pipeline.main(voc_argv(voc_mini, work, '--sam-checkpoint', tiny_checkpoint, *extra))
    assert expected in str(error.value) and '\n' not in str(error.value)
    assert not work.exists()


def test_sam_args_without_a_checkpoint_is_refused(pipeline, voc_mini, tmp_path):
    with pytest.raises(SamWsssError, match='runs only with --sam-checkpoint'):
        pipeline.main(voc_argv(voc_mini, tmp_path / 'work', '--sam-args=--crop-n-layers 1'))


def test_a_tools_error_names_the_pipelines_flags(repo_root, voc_mini, tiny_checkpoint,
                                                 tmp_path):
    """A tiny checkpoint given as vit_b: the generator's error says which type fits, in the
    pipeline's words (--sam-model-type, SAM_MODEL_TYPE), not the tool's (--model-type)."""
    result = subprocess.run(
        [sys.executable, 'tools/run_pipeline.py'] + voc_argv(
            voc_mini, tmp_path / 'work', '--sam-checkpoint', tiny_checkpoint,
            '--sam-model-type', 'vit_b', '--sam-args=--points-per-side 4'),
        cwd=repo_root, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'SAM_CHECKPOINT': '', 'SAM_ARGS': ''})
    assert result.returncode == 2
    assert '--points-per-side 4' in result.stdout  # the masks stage's printed command
    tool_error = [line for line in result.stderr.splitlines()
                  if line.startswith('error:') and 'does not fit SAM vit_b' in line]
    assert len(tool_error) == 1, result.stderr[-2000:]
    assert 'pass --sam-model-type/SAM_MODEL_TYPE tiny' in tool_error[0]
    assert ' --model-type' not in tool_error[0]
    assert osp.isfile(osp.join(tmp_path, 'work', 'ids', 'train.txt'))  # stage 1 ran
