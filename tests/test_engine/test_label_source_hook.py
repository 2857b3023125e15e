"""LabelSourceHook logs the training labels' folders with their makers and mask sources, keeps
them in the checkpoint and logs them when the checkpoint is loaded; a failed download of the
pretrained weights is explained as such, with the --cfg-options to use."""
import json
from types import SimpleNamespace
from urllib.error import URLError

import numpy as np
import pytest
from mmengine.config import Config

from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore
from mmseg_sam_wsss.engine.label_source_hook import LabelSourceHook, add_label_source_hook
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils import mm_tools

SOURCE = 'sam-tiny test model (not SAM)'


class LoadSAMMasks:
    def __init__(self, mask_root):
        self.mask_root = mask_root


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)

    def warning(self, line):
        self.lines.append('WARNING ' + line)


def test_sources_are_logged_checkpointed_and_logged_at_load(tmp_path):
    labels = tmp_path / 'enhanced'
    labels.mkdir()
    (labels / '.provenance.json').write_text(json.dumps(
        {'tool': 'enhance_pseudo_labels', 'settings': {'mask_source': SOURCE}}))
    store = MaskStore(str(tmp_path / 'store'), create=True, source=SOURCE)
    store.write('a', MaskSet.from_masks(np.zeros((0, 4, 4), bool), SOURCE))
    dataset = SimpleNamespace(
        data_prefix={'img_path': 'x', 'seg_map_path': str(labels)},
        pipeline=SimpleNamespace(transforms=[LoadSAMMasks(store.root)]))
    runner = SimpleNamespace(logger=Logger(),
                             train_dataloader=SimpleNamespace(dataset=SimpleNamespace(
                                 dataset=dataset)))  # a wrapper around the dataset
    hook = LabelSourceHook()
    hook.before_train(runner)
    lines = runner.logger.lines
    assert lines[0] == (f'training seg_map_path: {labels} (made by enhance_pseudo_labels; '
                        f'masks: {SOURCE})')
    assert lines[1].startswith('training LoadSAMMasks.mask_root:') and SOURCE in lines[1]
    assert any(line.startswith('WARNING') and 'holds 0 masks' in line for line in lines)
    checkpoint = {'meta': {}}
    hook.before_save_checkpoint(runner, checkpoint)
    test_runner = SimpleNamespace(logger=Logger())
    LabelSourceHook().after_load_checkpoint(test_runner, checkpoint)
    assert test_runner.logger.lines[0] == (
        f'the loaded model was trained on seg_map_path: {labels} (made by '
        f'enhance_pseudo_labels; masks: {SOURCE})')
    cfg = Config(dict(custom_hooks=[dict(type='SemiSupervisedHook')]))
    add_label_source_hook(cfg)
    add_label_source_hook(cfg)
    assert [hook['type'] for hook in cfg.custom_hooks] == ['SemiSupervisedHook',
                                                           'LabelSourceHook']


@pytest.mark.parametrize('model, expected', [
    (dict(pretrained='open-mmlab://resnet50_v1c', backbone=dict(type='ResNetV1c')),
     '--cfg-options model.pretrained=None to train from scratch, or '
     'model.pretrained=/path/to/a/local/copy.pth'),
    (dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'))),
     '--cfg-options model.backbone.init_cfg=None to train from scratch, or '
     'model.backbone.init_cfg.checkpoint=/path/to/a/local/copy.pth'),
])
def test_failed_download_names_the_weights_and_the_override(monkeypatch, model, expected):
    def offline(cfg):
        raise URLError('[Errno -3] Temporary failure in name resolution')

    from mmengine.runner import Runner
    monkeypatch.setattr(Runner, 'from_cfg', staticmethod(offline))
    with pytest.raises(SamWsssError) as error:
        mm_tools.build_and_run(Config(dict(model=model)), 'train')
    message = str(error.value)
    assert 'cannot download the pretrained (ImageNet) weights' in message
    assert expected in message and 'free disk space' not in message
