"""Every tool's --help shows its real defaults, and a tool's error names the pipeline's flags
when the pipeline runs it (FLAG_NAMES_ENV)."""
import json

import pytest
from helpers import load_tool

from mmseg_sam_wsss.utils.cli import FLAG_NAMES_ENV, pipeline_flag_names


@pytest.mark.parametrize('tool, expected', [
    ('generate_sam_masks', ['--img-suffix IMG_SUFFIX\n                        (default: .jpg)',
                            '(default: 32) (range: 1..128)', '(default: 0.88)',
                            '(default: 0.95)', '(default: sam)']),
    ('sesam_pseudo_labels', ['(default: 3) (range: 1..100)', '(default: 64)']),
    ('eval_pseudo_labels', ['(default: 21, VOC)']),
    ('mask_store', []),
])
def test_help_shows_defaults(repo_root, tool, expected, capsys):
    module = load_tool(repo_root, tool)
    with pytest.raises(SystemExit):
        module.build_parser().parse_args(['--help'])
    text = capsys.readouterr().out
    for item in expected:
        assert item in text, item
    assert '(default: None)' not in text and '(default: False)' not in text


def test_pipeline_help_shows_defaults(repo_root, capsys):
    module = load_tool(repo_root, 'run_pipeline')
    with pytest.raises(SystemExit):
        module.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert '--sam-args "ARGS"' in text and 'report picture rows (default: 4)' in text


def test_pipeline_flag_names(monkeypatch):
    message = 'x.pth: does not fit SAM vit_h; pass --model-type vit_b (--sam-model-type kept)'
    assert pipeline_flag_names(message) == message
    monkeypatch.setenv(FLAG_NAMES_ENV, json.dumps({'--model-type': '--sam-model-type/X'}))
    assert pipeline_flag_names(message) == ('x.pth: does not fit SAM vit_h; pass '
                                            '--sam-model-type/X vit_b (--sam-model-type kept)')
    monkeypatch.setenv(FLAG_NAMES_ENV, 'not json')
    assert pipeline_flag_names(message) == message
