"""The config files as composed: smoke versions that shrink only sizes, ``--cfg-options`` that
name pipeline steps by type, schedule lengths, and the rule for warning about missing weights.

Configs are parsed with mmengine only (no Runner, no training), so these tests take seconds.
"""
import argparse
import copy
import functools
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.mm_tools import (from_scratch_warning, load_config, resolve_type_keys,
                                           schedule_options)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO_ROOT, 'configs')
SMOKE_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, 'smoke', '*_smoke.py')))
# The full configs (real datasets): ImageNet ResNet-50 weights as shipped, a smoke version each.
FULL_CONFIGS = sorted(path for folder in ('sam_wsss', 'baselines', 'sesam')
                      for path in glob.glob(osp.join(CONFIGS, folder, '*.py'))
                      if not osp.basename(path).startswith('_'))
DEMO_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, 'demo', '*.py')))
# What a smoke config may change in the full config it shrinks: the model's widths, depth,
# norm and weights, the crop and resize sizes, the dataloaders' batch and workers, the
# schedule's length, the SeSAM confidence ramp, and its own new names.
SMOKE_MAY_CHANGE = re.compile(r'''^(
      smoke_\w+(\..*)? | from_scratch_ok | scale | crop_size
    | model\.(segmentor\.)?(
          pretrained | data_preprocessor\.size
        | backbone\.(depth|stem_channels|base_channels)
        | (backbone|decode_head|auxiliary_head)\.norm_cfg\.type
        | (decode_head|auxiliary_head)\.(in_channels|channels))
    | (train|val|test)_dataloader\.(batch_size|num_workers|persistent_workers)
    | ((train|val|test)_dataloader\.dataset\.|train_|test_)pipeline\.\d+\.(scale|crop_size)
    | train_cfg\.(max_iters|val_interval) | param_scheduler\.\d+\.end
    | default_hooks\.(checkpoint|logger)\.interval
    | custom_hooks\.\d+\.conf_ramp_iters
)$''', re.X)


@functools.lru_cache(maxsize=None)
def _parsed(path: str) -> Config:
    return Config.fromfile(path, import_custom_modules=False)


def parse(path: str) -> Config:
    """A config file parsed once per session; each call gets its own copy to change."""
    return copy.deepcopy(_parsed(path))


def flatten(value, prefix: str = '') -> dict:
    """``{dotted path: leaf}`` of a config; lists of dicts are walked by index."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)) and value and all(isinstance(item, dict)
                                                           for item in value):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat = {}
    for key, item in items:
        if key == '_scope_':  # mmengine's mark on dicts from 'mmseg::' bases, not a setting
            continue
        flat.update(flatten(item, f'{prefix}.{key}' if prefix else str(key)))
    return flat


def full_config_of(smoke_path: str) -> str:
    name = osp.basename(smoke_path)[:-len('_smoke.py')] + '.py'
    matches = [path for path in FULL_CONFIGS if osp.basename(path) == name]
    assert len(matches) == 1, f'{smoke_path}: no single full config named {name}'
    return matches[0]


def test_every_full_config_has_a_smoke_version():
    """tools/run_pipeline.py voc --quick 1 swaps each config for configs/smoke/<name>_smoke.py."""
    assert len(FULL_CONFIGS) >= 6
    assert sorted(osp.basename(full_config_of(path)) for path in SMOKE_CONFIGS) == \
        sorted(osp.basename(path) for path in FULL_CONFIGS)


@pytest.mark.parametrize('smoke', SMOKE_CONFIGS, ids=osp.basename)
def test_smoke_config_shrinks_only_sizes_and_schedule(smoke):
    full = full_config_of(smoke)
    smoke_flat = flatten(parse(smoke).to_dict())
    full_flat = flatten(parse(full).to_dict())
    changed = sorted(key for key in smoke_flat.keys() | full_flat.keys()
                     if smoke_flat.get(key, '<absent>') != full_flat.get(key, '<absent>'))
    assert [key for key in changed if not SMOKE_MAY_CHANGE.match(key)] == [], \
        f'{smoke} changes more of {full} than sizes and schedule'
    # ... and it does shrink: a small model without weights, small crops, 20 iterations.
    cfg = parse(smoke)
    model = cfg.model.get('segmentor', cfg.model)
    assert model.backbone.depth == 18 and model.backbone.base_channels == 32
    assert model.pretrained is None and cfg.from_scratch_ok is True
    assert model.data_preprocessor.size == (128, 128)
    train_steps = {step['type']: step for step in cfg.train_dataloader.dataset.pipeline}
    assert train_steps['RandomCrop']['crop_size'] == (128, 128)
    assert cfg.train_cfg.max_iters == 20 and cfg.param_scheduler[0].end == 20
    assert cfg.train_dataloader.num_workers == 0


def options_args(config: str, options: dict) -> argparse.Namespace:
    return argparse.Namespace(config=config, cfg_options=options, launcher='none',
                              work_dir=None)


def test_cfg_options_name_pipeline_steps_by_type():
    config = osp.join(CONFIGS, 'smoke', 'deeplabv3_voc_smoke.py')
    cfg = load_config(options_args(config, {
        'train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root': '/masks',
        'train_dataloader.dataset.pipeline.RandomCrop.crop_size': (64, 64),
        'val_dataloader.dataset.pipeline.1.scale': (96, 48),  # positions still work
        'param_scheduler.PolyLR.end': 7}))
    steps = cfg.train_dataloader.dataset.pipeline
    assert [step['type'] for step in steps][2:6] == [
        'LoadSAMMasks', 'SAMEnhancePseudoLabel', 'RandomResize', 'RandomCrop']
    assert steps[2]['mask_root'] == '/masks' and steps[5]['crop_size'] == (64, 64)
    assert steps[4]['scale'] == (256, 128)  # untouched
    assert cfg.val_dataloader.dataset.pipeline[1]['scale'] == (96, 48)
    assert cfg.param_scheduler[0]['end'] == 7
    assert cfg.work_dir == './work_dirs/deeplabv3_voc_smoke'


def test_cfg_option_naming_a_missing_or_repeated_type_is_one_clear_line():
    cfg = parse(osp.join(CONFIGS, 'sam_wsss', 'deeplabv3_voc.py'))
    with pytest.raises(SamWsssError) as error:
        resolve_type_keys(cfg, {'train_dataloader.dataset.pipeline.LoadSAMMask.mask_root': 'x'})
    assert str(error.value) == (
        '--cfg-options train_dataloader.dataset.pipeline.LoadSAMMask.mask_root: '
        'train_dataloader.dataset.pipeline has no LoadSAMMask (it has: LoadImageFromFile, '
        'LoadAnnotations, LoadSAMMasks, SAMEnhancePseudoLabel, RandomResize, RandomCrop, '
        'RandomFlip, PhotoMetricDistortion, PackSegInputs); check the spelling')
    cfg.train_dataloader.dataset.pipeline.append(dict(type='RandomFlip', prob=0.5))
    with pytest.raises(SamWsssError, match=r'has 2 RandomFlip items \(at \[6, 9\]\); name one '
                       r'by its position'):
        resolve_type_keys(cfg, {'train_dataloader.dataset.pipeline.RandomFlip.prob': 1.0})
    # Keys that do not go through a list are left as they are, new keys included.
    assert resolve_type_keys(cfg, {'model.new_key.inner': 1}) == {'model.new_key.inner': 1}


@pytest.mark.parametrize('config', ['demo/cam_r18_shapes.py', 'smoke/deeplabv3_voc_point_smoke.py',
                                    'sam_wsss/deeplabv3_voc.py'])
def test_schedule_options_set_every_length(config):
    options = dict(option.split('=', 1) for option in schedule_options(7, checkpoint_interval=3))
    cfg = load_config(options_args(osp.join(CONFIGS, config),
                                   {key: int(value) for key, value in options.items()}))
    assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 7
    assert [scheduler['end'] for scheduler in cfg.param_scheduler] == [7]
    assert cfg.default_hooks.checkpoint.interval == 3
    assert cfg.default_hooks.logger.interval == 7


@pytest.mark.parametrize('config', FULL_CONFIGS, ids=osp.basename)
def test_full_configs_name_imagenet_weights_and_warn_without_them(config):
    cfg = parse(config)
    assert from_scratch_warning(cfg, config) is None
    sesam = cfg.model.type == 'SemiSupervisedSegmentor'
    model = cfg.model.segmentor if sesam else cfg.model
    assert model.pretrained == 'open-mmlab://resnet50_v1c'
    model.pretrained = None
    warning = from_scratch_warning(cfg, config)
    prefix = 'model.segmentor' if sesam else 'model'
    assert warning.startswith(f'{config} trains the backbone from scratch')
    assert f'--cfg-options {prefix}.pretrained=open-mmlab://resnet50_v1c' in warning
    assert 'from_scratch_ok = True' in warning
    # Weights given any other way silence it.
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint='/weights/r50.pth')
    assert from_scratch_warning(cfg, config) is None
    model.backbone.init_cfg = None
    cfg.load_from = '/work/iter_100.pth'
    assert from_scratch_warning(cfg, config) is None


@pytest.mark.parametrize('config', DEMO_CONFIGS + SMOKE_CONFIGS, ids=osp.basename)
def test_demo_and_smoke_configs_train_from_scratch_without_a_warning(config):
    cfg = parse(config)
    model = cfg.model.get('segmentor', cfg.model)
    assert model.pretrained is None and cfg.from_scratch_ok is True
    assert from_scratch_warning(cfg, config) is None
    cfg.from_scratch_ok = False
    assert 'trains the backbone from scratch' in from_scratch_warning(cfg, config)
