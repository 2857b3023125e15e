"""Log which labels (and which masks made them) a run trains on, keep that in its checkpoints,
and log it again when a checkpoint is loaded for testing."""
import os.path as osp
from typing import Dict, List

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmseg.registry import HOOKS

from ..core.mask_store import MaskStore
from ..utils.label_sources import folder_source, source_text
from ..utils.summaries import mask_count_summary, store_mask_counts

META_KEY = 'label_sources'  # under the checkpoint's ``meta``


def _unwrap(dataset):
    while hasattr(dataset, 'dataset') and not hasattr(dataset, 'data_prefix'):
        dataset = dataset.dataset
    return dataset


def training_label_folders(dataset) -> Dict[str, str]:
    """``{role: folder}`` a training dataset reads labels or masks from: its ``seg_map_path``,
    ``weak_label_path``, and every pipeline step's ``mask_root`` (``LoadSAMMasks``)."""
    dataset = _unwrap(dataset)
    folders = {}
    prefix = getattr(dataset, 'data_prefix', {}) or {}
    for key in ('seg_map_path', 'weak_label_path'):
        if prefix.get(key):
            folders[key] = prefix[key]
    for transform in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if getattr(transform, 'mask_root', None):
            folders[f'{type(transform).__name__}.mask_root'] = transform.mask_root
    return folders


@HOOKS.register_module()
class LabelSourceHook(Hook):
    """Log the training labels' folders with their makers and mask sources at train start,
    store them in every checkpoint's ``meta['label_sources']``, and log them when a
    checkpoint is loaded (``tools/test.py``). ``tools/train.py`` and ``tools/test.py`` add it.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.sources: List[dict] = []

    def before_train(self, runner: Runner) -> None:
        self.sources = []
        for role, folder in training_label_folders(runner.train_dataloader.dataset).items():
            info = dict(folder_source(folder), role=role)
            self.sources.append(info)
            runner.logger.info(f'training {role}: {source_text(info)}')
            if role.endswith('mask_root') and osp.isfile(osp.join(folder, 'store.json')):
                line, warning = mask_count_summary(
                    store_mask_counts(MaskStore(folder)).values(), f'mask store {folder}')
                runner.logger.info(line)
                if warning:
                    runner.logger.warning(warning)
        if not self.sources:
            runner.logger.info('training labels: no label folder found in the train dataset')

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        if self.sources:
            checkpoint.setdefault('meta', {})[META_KEY] = self.sources

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        sources = (checkpoint.get('meta') or {}).get(META_KEY)
        if not sources:
            runner.logger.info('the loaded checkpoint records no training labels (made before '
                               'LabelSourceHook, or by another tool)')
            return
        for info in sources:
            runner.logger.info(f'the loaded model was trained on {info.get("role")}: '
                               f'{source_text(info)}')


def add_label_source_hook(cfg) -> None:
    """Add :class:`LabelSourceHook` to ``cfg.custom_hooks`` unless the config has it."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(hook.get('type') in ('LabelSourceHook', LabelSourceHook) for hook in hooks):
        hooks.append(dict(type='LabelSourceHook'))
    cfg.custom_hooks = hooks
