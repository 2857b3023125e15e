"""Set-up shared by the mmengine-based tools (train, test, generate_cams).

The same flags as mmseg's tools, ``Config.fromfile`` plus ``--cfg-options``, and checks that turn
the usual first-run mistakes (unknown component, missing ``data_root``, missing checkpoint,
unexpected config key) into one line naming the thing and the fix, instead of a deep traceback.
"""
import argparse
import os
import os.path as osp
import re
from typing import Iterator, Optional, Tuple

from mmengine.config import Config, ConfigDict, DictAction

from ..errors import SamWsssError

DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """The flags every mmseg tool shares: ``config``, ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--local-rank``."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, as key=value pairs (mmseg syntax), e.g. '
        'train_dataloader.dataset.data_root=../data train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def set_local_rank(args: argparse.Namespace) -> None:
    """torch.distributed.launch passes ``--local-rank``; torchrun sets ``LOCAL_RANK``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config``, merge ``--cfg-options`` and settle ``work_dir`` as mmseg's tools do."""
    if not osp.isfile(args.config):
        raise SamWsssError(f'{args.config}: config file not found; pass a path such as '
                           'configs/sam_wsss/deeplabv3_voc.py')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def iter_datasets(cfg: Config, keys: Tuple[str, ...] = DATALOADER_KEYS
                  ) -> Iterator[Tuple[str, ConfigDict]]:
    """Yield ``(where, dataset_cfg)`` for every dataset of the given dataloaders, wrappers unfolded."""
    for key in keys:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        stack = [(f'{key}.dataset', loader['dataset'])]
        while stack:
            where, dataset = stack.pop()
            if 'dataset' in dataset:
                stack.append((f'{where}.dataset', dataset['dataset']))
            for index, child in enumerate(dataset.get('datasets', []) or []):
                stack.append((f'{where}.datasets.{index}', child))
            if 'data_root' in dataset or 'ann_file' in dataset:
                yield where, dataset


def check_data_roots(cfg: Config, keys: Tuple[str, ...] = DATALOADER_KEYS) -> None:
    """Raise one clear error when a dataset's ``data_root`` (or its ann_file) does not exist."""
    for where, dataset in iter_datasets(cfg, keys):
        data_root = dataset.get('data_root', '') or ''
        if data_root and not osp.isdir(data_root):
            raise SamWsssError(
                f'{where}.data_root = {data_root!r} does not exist; put the dataset there (see '
                f'README, "Data") or pass --cfg-options {where}.data_root=/path/to/VOC2012')
        ann_file = dataset.get('ann_file', '') or ''
        if ann_file:
            path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
            if not osp.isfile(path):
                raise SamWsssError(
                    f'{where}.ann_file: {path} not found; check data_root or pass '
                    f'--cfg-options {where}.ann_file=...')


def check_checkpoint(path: Optional[str]) -> None:
    """Raise one clear error when a checkpoint file to load does not exist."""
    if path and not osp.isfile(path) and not re.match(r'^[a-z]+://', path):
        raise SamWsssError(f'{path}: checkpoint not found; pass the .pth written by '
                           'tools/train.py (e.g. work_dirs/<config>/iter_<N>.pth)')


def explain_build_error(error: Exception) -> Optional[str]:
    """One line for the registry and constructor errors that a config typo causes, else None."""
    message = str(error)
    if isinstance(error, KeyError):  # KeyError's str() adds quotes around the message
        message = message[1:-1] if message[:1] in '"\'' else message
    unknown = re.search(r'(\S+) is not in the (\S+) registry', message)
    if isinstance(error, KeyError) and unknown:
        name, registry = unknown.groups()
        return (f'the config names an unknown component {name!r} ({registry} registry); check '
                'its spelling, or add the package that registers it to custom_imports '
                "(ours: custom_imports=dict(imports=['mmseg_sam_wsss.registration']))")
    if isinstance(error, TypeError) and 'unexpected keyword argument' in message:
        return (f'{message.splitlines()[0]}; remove that key from the config or '
                '--cfg-options, or check its spelling')
    return None


def build_and_run(cfg: Config, stage: str) -> None:
    """Build the Runner from ``cfg`` and run ``stage`` ('train' or 'test'), explaining config errors."""
    from mmengine.runner import Runner

    from mmseg.registry import RUNNERS
    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        getattr(runner, stage)()
    except (KeyError, TypeError) as error:
        explanation = explain_build_error(error)
        if explanation is None:
            raise
        raise SamWsssError(explanation) from error
