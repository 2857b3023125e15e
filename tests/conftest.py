"""Shared fixtures: the repo root, and the real VOC subset at ../shared/data/voc_mini.

Tests that need voc_mini skip with a reason when it is absent. Point ``VOC_MINI`` elsewhere to
use another copy. The data is read-only: tests write only under ``tmp_path``.
"""
import os
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VOC_MINI = os.environ.get('VOC_MINI', osp.join(REPO_ROOT, '..', 'shared', 'data', 'voc_mini'))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def voc_mini() -> str:
    """Path of the real VOC 2012 subset; skips the test when it is not there."""
    if not osp.isfile(osp.join(VOC_MINI, 'ImageSets', 'Segmentation', 'train.txt')):
        pytest.skip(f'voc_mini not found at {VOC_MINI} (set VOC_MINI=... to run this test)')
    return osp.abspath(VOC_MINI)


def small_deeplabv3_options(data_root: str, max_iters: int = 4, val_images: int = 4,
                            model_prefix: str = 'model', checkpoint_interval: int = 2,
                            resize_index: int = 2) -> list:
    """``--cfg-options`` that make mmseg's DeepLabV3-R50 VOC config a CPU smoke run on ``data_root``.

    ResNetV1c-18 with BN (not SyncBN), no pretrained weights, 128 px crops, batch 2, ``max_iters``
    iterations, checkpoints every ``checkpoint_interval`` iterations, validation on the first
    ``val_images`` images. ``model_prefix`` is where the segmentor sits ('model.segmentor' inside
    SemiSupervisedSegmentor). ``resize_index`` is the train pipeline's RandomResize position
    (RandomCrop follows it).
    """
    options = [f'{loader}.dataset.data_root={data_root}'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    for loader in ('val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.indices={val_images}',
                    f'{loader}.dataset.pipeline.1.scale=(256,128)']
    options += [
        'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.pipeline.{resize_index}.scale=(256,128)',
        f'train_dataloader.dataset.pipeline.{resize_index + 1}.crop_size=(128,128)',
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
        f'default_hooks.checkpoint.interval={checkpoint_interval}',
        'default_hooks.logger.interval=1',
    ]
    options += [f'{model_prefix}.{key}' for key in (
        'data_preprocessor.size=(128,128)', 'pretrained=None', 'backbone.depth=18', 'backbone.norm_cfg.type=BN',
        'decode_head.in_channels=512', 'decode_head.channels=32', 'decode_head.norm_cfg.type=BN',
        'auxiliary_head.in_channels=256', 'auxiliary_head.channels=16',
        'auxiliary_head.norm_cfg.type=BN')]
    return options


@pytest.fixture(scope='session')
def small_options():
    """The :func:`small_deeplabv3_options` builder, for tests in any folder."""
    return small_deeplabv3_options
