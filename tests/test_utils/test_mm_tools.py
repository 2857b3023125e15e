"""utils/mm_tools: one line, not a traceback, for a malformed ``--cfg-options`` item, a missing
VOC train_aug id list and a checkpoint that is not one of the model (the loader that
generate_cams.py and predict_labels.py share)."""
import re

import pytest
from helpers import run_tool

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.mm_tools import (cfg_option_error, check_data_roots,
                                           load_model_weights)

BASELINE = 'configs/smoke/deeplabv3_r50_voc_smoke.py'


@pytest.mark.parametrize('items, message', [
    (['model.pretrained'], "'model.pretrained' is not key=value; write e.g. "
                           'model.pretrained=VALUE'),
    (['train_cfg.max_iters=5', '=5'], "'=5' names no key; write key=value"),
])
def test_malformed_cfg_options_are_named(items, message):
    assert message in cfg_option_error(items)
    assert cfg_option_error(['a.b=1', 'c=', 'd=x=y']) is None  # '=' in a value is fine


def test_malformed_cfg_options_are_one_argparse_line(repo_root, tmp_path):
    result = run_tool(repo_root, ['tools/train.py', BASELINE, '--work-dir', str(tmp_path),
                                  '--cfg-options', 'train_cfg.max_iters=1', 'model.pretrained'],
                      check=False)
    assert result.returncode == 2  # argparse's exit code for a bad argument
    assert 'Traceback' not in result.stderr, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("train.py: error: argument --cfg-options: 'model.pretrained' is "
                            'not key=value'), result.stderr
    assert result.stderr.startswith('usage: train.py')  # argparse's usage, then the one line
    assert not list(tmp_path.iterdir())  # stopped before anything was built or written


def test_well_formed_cfg_options_still_parse():
    import argparse

    from mmseg_sam_wsss.utils.mm_tools import add_config_args
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    args = parser.parse_args(['c.py', '--cfg-options', 'a.b=1', 'c=[1,2]', 'd=x'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2], 'd': 'x'}


@pytest.mark.parametrize('ann_file, says_voc_aug', [
    ('ImageSets/Segmentation/trainaug.txt', True), ('ImageSets/Segmentation/aug.txt', True),
    ('ImageSets/Segmentation/train.txt', False)])
def test_missing_train_aug_list_says_where_it_comes_from(tmp_path, ann_file, says_voc_aug):
    from mmengine.config import Config
    cfg = Config(dict(train_dataloader=dict(dataset=dict(data_root=str(tmp_path),
                                                         ann_file=ann_file))))
    with pytest.raises(SamWsssError) as error:
        check_data_roots(cfg)
    message = str(error.value)
    assert '\n' not in message and message.startswith(
        f'train_dataloader.dataset.ann_file: {tmp_path}/{ann_file} not found')
    voc_aug = ("SBD annotations through mmseg's tools/dataset_converters/voc_aug.py",
               'README, "PASCAL VOC train_aug"', '--cfg-options train_dataloader.dataset.'
               'ann_file=ImageSets/Segmentation/train.txt', '1,464-image VOC train split')
    assert all((part in message) == says_voc_aug for part in voc_aug), message
    (tmp_path / ann_file).parent.mkdir(parents=True)
    (tmp_path / ann_file).write_text('2007_000032\n')
    check_data_roots(cfg)  # there now: no error


def tiny_model():
    """A two-layer torch model (weights and BatchNorm buffers) with fixed initial weights."""
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))


def test_load_model_weights_strips_module_and_sets_dataset_meta(tmp_path):
    import torch
    source, target = tiny_model(), tiny_model()
    with torch.no_grad():
        source[0].weight.add_(1.0)
    dataset_meta = dict(classes=('background', 'cat'), palette=[[0, 0, 0], [64, 0, 0]])
    wrapped = {f'module.{key}': value for key, value in source.state_dict().items()}
    torch.save(dict(meta=dict(dataset_meta=dataset_meta), state_dict=wrapped),
               tmp_path / 'ddp.pth')
    load_model_weights(target, str(tmp_path / 'ddp.pth'), 'the tiny model')
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    assert target.dataset_meta == dataset_meta
    bare = tiny_model()
    torch.save(source.state_dict(), tmp_path / 'bare.pth')  # no 'state_dict', no 'meta'
    load_model_weights(bare, str(tmp_path / 'bare.pth'), 'the tiny model')
    assert torch.equal(bare[0].weight, source[0].weight) and not hasattr(bare, 'dataset_meta')


def test_load_model_weights_refuses_other_files_in_one_line(tmp_path):
    import torch
    model = tiny_model()
    state_dict = model.state_dict()
    (tmp_path / 'text.pth').write_bytes(b'not a checkpoint at all')
    torch.save([1, 2, 3], tmp_path / 'list.pth')
    torch.save(dict(state_dict=dict(weight='a string')), tmp_path / 'strings.pth')
    torch.save(dict(state_dict={key: value for key, value in state_dict.items()
                                if key != '0.bias'}), tmp_path / 'missing.pth')
    torch.save(dict(state_dict=dict(state_dict, extra=torch.zeros(1))), tmp_path / 'extra.pth')
    torch.save(dict(state_dict=dict(state_dict, **{'0.weight': torch.zeros(8, 3, 1, 1)})),
               tmp_path / 'shape.pth')
    fix = 'pass the .pth that tools/train.py wrote for the tiny model'
    cases = (('text.pth', f'not a readable PyTorch checkpoint (.*); {fix}'),
             ('list.pth', f'holds no state_dict of tensors; {fix}'),
             ('strings.pth', 'holds no state_dict of tensors'),
             ('missing.pth', r'not a checkpoint of the tiny model: 1 weights missing '
                             rf'\(e.g. 0.bias\); {fix}'),
             ('extra.pth', r'not a checkpoint of the tiny model: 1 unexpected weights '
                           r'\(e.g. extra\)'),
             ('shape.pth', r'not a checkpoint of the tiny model: 1 weights of another shape '
                           r'\(e.g. 0.weight\)'))
    before = {key: value.clone() for key, value in state_dict.items()}
    for name, message in cases:
        with pytest.raises(SamWsssError,
                           match=f'^{re.escape(str(tmp_path / name))}: {message}') as error:
            load_model_weights(model, str(tmp_path / name), 'the tiny model')
        assert '\n' not in str(error.value)
    for key, value in model.state_dict().items():  # nothing was loaded from a refused file
        assert torch.equal(value, before[key]), key
