"""Set-up shared by the mmengine-based tools (train, test, generate_cams, predict_labels).

The same flags as mmseg's tools, ``Config.fromfile`` plus ``--cfg-options``, one checkpoint
loader, and checks that turn the usual first-run mistakes (unknown component, missing
``data_root``, missing checkpoint, a checkpoint of another model, unexpected config key, a
``--cfg-options`` item without ``=``) into one line naming the thing and the fix, instead of a
deep traceback.

``--cfg-options`` may name an item of a list of components by its ``type`` instead of its
position: ``train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root=DIR`` or
``param_scheduler.PolyLR.end=100`` stay right when a base config gains a step, where
``pipeline.2.mask_root`` would silently set the wrong one. mmengine is imported lazily, so
drivers can use :func:`schedule_options` without paying for it.
"""
import argparse
import os
import os.path as osp
import pickle
import re
from urllib.error import URLError
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..core.io import VOC_AUG_HELP, VOC_AUG_ID_LISTS
from ..errors import SamWsssError

if TYPE_CHECKING:
    import torch
    from mmengine.config import Config, ConfigDict

DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# A config that may train its backbone without pretrained weights without a warning (the demo's
# procedural shapes, the smoke configs) sets this top-level key to True.
FROM_SCRATCH_OK_KEY = 'from_scratch_ok'


def cfg_option_error(items: Sequence[str]) -> Optional[str]:
    """Why ``--cfg-options`` items are malformed (one has no ``=`` or no key), else None."""
    for item in items:
        key, sep, _ = item.partition('=')
        if not sep:
            return (f'{item!r} is not key=value; write e.g. {item}=VALUE (a dotted config key, '
                    "'=', the value: train_cfg.max_iters=100)")
        if not key.strip():
            return (f'{item!r} names no key; write key=value with a dotted config key, e.g. '
                    'train_cfg.max_iters=100')
    return None


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """The flags every mmseg tool shares: ``config``, ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--local-rank``.

    A malformed ``--cfg-options`` item is an argparse error (one line, exit 2), not mmengine's
    ``ValueError`` traceback.
    """
    from mmengine.config import DictAction

    class CfgOptionsAction(DictAction):
        """mmengine's ``DictAction`` that refuses an item without ``key=`` in argparse's way."""

        def __call__(self, parser, namespace, values, option_string=None) -> None:
            error = cfg_option_error(values or [])
            if error is not None:
                raise argparse.ArgumentError(self, error)
            super().__call__(parser, namespace, values, option_string)

    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings in the config, as key=value pairs (mmseg syntax), e.g. '
        'train_dataloader.dataset.data_root=../data train_cfg.max_iters=100; an item of a '
        'list of components may be named by its type: '
        'train_dataloader.dataset.pipeline.RandomCrop.crop_size="(256,256)"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def set_local_rank(args: argparse.Namespace) -> None:
    """torch.distributed.launch passes ``--local-rank``; torchrun sets ``LOCAL_RANK``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def resolve_type_keys(cfg: 'Config', options: Dict[str, Any]) -> Dict[str, Any]:
    """Rewrite ``--cfg-options`` keys that name a list item by its ``type`` into its index.

    ``train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root`` becomes
    ``train_dataloader.dataset.pipeline.2.mask_root`` when the config's pipeline has exactly one
    ``LoadSAMMasks``, at position 2. Digits stay positions; other keys are left alone.

    Args:
        cfg (Config): The loaded config the options will be merged into.
        options (dict): ``{dotted key: value}`` as ``DictAction`` parses ``--cfg-options``.

    Returns:
        dict: The same options with every type name replaced by its index.
    """
    resolved = {}
    for key, value in options.items():
        node: Any = cfg
        parts = []
        for part in key.split('.'):
            if isinstance(node, (list, tuple)) and not part.isdigit():
                where = '.'.join(parts) or key
                types = [str(item.get('type')) if isinstance(item, dict) else '?'
                         for item in node]
                matches = [index for index, name in enumerate(types) if name == part]
                if len(matches) != 1:
                    found = (f'{len(matches)} {part} items (at {matches}); name one by its '
                             'position' if matches else f'no {part} (it has: '
                             f'{", ".join(types)}); check the spelling')
                    raise SamWsssError(f'--cfg-options {key}: {where} has {found}')
                part = str(matches[0])
            parts.append(part)
            if isinstance(node, (list, tuple)):
                node = node[int(part)] if int(part) < len(node) else None
            elif hasattr(node, 'get'):  # a dict, a ConfigDict or the Config itself
                node = node.get(part)
            else:
                node = None
        resolved['.'.join(parts)] = value
    return resolved


def schedule_options(max_iters: int, checkpoint_interval: Optional[int] = None,
                     log_interval: int = 10) -> List[str]:
    """``--cfg-options`` that make an iteration-based config train ``max_iters`` iterations.

    Sets the loop's length and validation interval, the end of its ``PolyLR`` (every config of
    this repository has one), the checkpoint interval and the logging interval.

    Args:
        max_iters (int): Training iterations.
        checkpoint_interval (int, optional): Iterations between checkpoints; defaults to
            ``max_iters`` (the last iteration is always saved).
        log_interval (int): Iterations between log lines (at most ``max_iters``).

    Returns:
        list[str]: ``key=value`` strings for ``--cfg-options``.
    """
    return [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            f'param_scheduler.PolyLR.end={max_iters}',
            f'default_hooks.checkpoint.interval={checkpoint_interval or max_iters}',
            f'default_hooks.logger.interval={min(log_interval, max_iters)}']


def load_config(args: argparse.Namespace) -> 'Config':
    """Load ``args.config``, merge ``--cfg-options`` and settle ``work_dir`` as mmseg's tools do."""
    from mmengine.config import Config

    if not osp.isfile(args.config):
        raise SamWsssError(f'{args.config}: config file not found; pass a path such as '
                           'configs/sam_wsss/deeplabv3_voc.py')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(resolve_type_keys(cfg, args.cfg_options))
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def _has_pretrained_weights(node: Any) -> bool:
    """Whether a model config names weights: a ``pretrained`` path or a ``Pretrained`` init."""
    if isinstance(node, dict):
        if node.get('pretrained'):
            return True
        init_cfgs = node.get('init_cfg')
        init_cfgs = init_cfgs if isinstance(init_cfgs, (list, tuple)) else [init_cfgs]
        if any(isinstance(init, dict) and init.get('type') == 'Pretrained'
               and init.get('checkpoint') for init in init_cfgs):
            return True
        return any(_has_pretrained_weights(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return any(_has_pretrained_weights(value) for value in node)
    return False


def from_scratch_warning(cfg: 'Config', config: str) -> Optional[str]:
    """The warning for training without any pretrained weights, or None when weights are given.

    Weights are given by ``pretrained`` or an ``init_cfg=dict(type='Pretrained', ...)`` anywhere
    in ``model``, or by ``load_from``. A config that trains from scratch on purpose (the demo's
    procedural shapes, the smoke configs) sets ``from_scratch_ok = True``.

    Args:
        cfg (Config): The loaded config, ``--cfg-options`` merged.
        config (str): Its file, as named in the message.

    Returns:
        str or None: One line saying how to pass weights.
    """
    if cfg.get(FROM_SCRATCH_OK_KEY, False) or cfg.get('load_from'):
        return None
    if _has_pretrained_weights(cfg.get('model', {})):
        return None
    prefix = 'model.segmentor' if 'segmentor' in cfg.get('model', {}) else 'model'
    return (f'{config} trains the backbone from scratch (no {prefix}.pretrained, no '
            "init_cfg=dict(type='Pretrained'), no load_from): on real images expect a far "
            f'lower mIoU than with ImageNet weights; pass --cfg-options '
            f'{prefix}.pretrained=open-mmlab://resnet50_v1c (downloaded once) or '
            f'{prefix}.pretrained=/path/to/resnet50_v1c.pth, or set {FROM_SCRATCH_OK_KEY} = '
            'True in the config when that is intended')


def iter_datasets(cfg: 'Config', keys: Tuple[str, ...] = DATALOADER_KEYS
                  ) -> Iterator[Tuple[str, 'ConfigDict']]:
    """Yield ``(where, dataset_cfg)`` for every dataset of the given dataloaders (wrappers
    unfolded)."""
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


def check_data_roots(cfg: 'Config', keys: Tuple[str, ...] = DATALOADER_KEYS) -> None:
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
            if osp.isfile(path):
                continue
            if osp.basename(path) in VOC_AUG_ID_LISTS:
                raise SamWsssError(
                    f'{where}.ann_file: {path} not found; {VOC_AUG_HELP}; for the 1,464-image '
                    f'VOC train split pass --cfg-options '
                    f'{where}.ann_file=ImageSets/Segmentation/train.txt')
            raise SamWsssError(
                f'{where}.ann_file: {path} not found; check data_root or pass '
                f'--cfg-options {where}.ann_file=...')


def load_model_weights(model: 'torch.nn.Module', path: str, what: str) -> None:
    """Load the weights of an mmengine checkpoint into ``model``, strictly.

    Keys are stripped of a ``module.`` prefix (a checkpoint of a wrapped model), and
    ``model.dataset_meta`` is set from the checkpoint's ``meta.dataset_meta`` when it has one.

    Args:
        model (torch.nn.Module): The model built from the config.
        path (str): The ``.pth`` file (``tools/train.py`` writes them).
        what (str): The model in words, for the messages, e.g. ``"this config's
            CAMSegmentor (configs/sam_wsss/cam_r50_voc.py)"``.

    Raises:
        SamWsssError: One line when ``path`` cannot be unpickled, holds no state_dict of
            tensors, or its weights do not fit ``model`` (missing, unexpected or of another
            shape).
    """
    import torch
    from mmengine.runner import CheckpointLoader

    from ..engine.checkpoint_safety import allow_mmengine_checkpoint_globals

    fix = f'pass the .pth that tools/train.py wrote for {what}'
    try:
        if '://' in path:  # mmengine's loaders for URLs (torch >= 2.6: weights_only by default)
            checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        else:  # tensors, containers and mmengine's allow-listed types only, never code
            allow_mmengine_checkpoint_globals()
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            KeyError, IndexError, MemoryError,
            pickle.UnpicklingError) as error:  # what unpickling a wrong file raises
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SamWsssError(f'{path}: not a readable PyTorch checkpoint ({reason}); '
                           f'{fix}') from error
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) \
        else None
    if not isinstance(state_dict, dict) or not state_dict or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise SamWsssError(f'{path}: holds no state_dict of tensors; {fix}')
    state_dict = {key[len('module.'):] if key.startswith('module.') else key: value
                  for key, value in state_dict.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    resized = sorted(key for key in set(expected) & set(state_dict)
                     if tuple(state_dict[key].shape) != tuple(expected[key].shape))
    if missing or unexpected or resized:
        problems = [f'{len(found)} {kind} (e.g. {found[0]})'
                    for found, kind in ((missing, 'weights missing'),
                                        (unexpected, 'unexpected weights'),
                                        (resized, 'weights of another shape')) if found]
        raise SamWsssError(f'{path}: not a checkpoint of {what}: {", ".join(problems)}; '
                           f'{fix}')
    model.load_state_dict(state_dict, strict=True)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and meta.get('dataset_meta'):
        model.dataset_meta = meta['dataset_meta']


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


def _url_weights(node: Any, prefix: str) -> Iterator[Tuple[str, str]]:
    """``(dotted key, url)`` of every ``pretrained``/``checkpoint`` value in ``node`` that is
    downloaded (``open-mmlab://``, ``http(s)://``, ``torchvision://``...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f'{prefix}.{key}' if prefix else str(key)
            if key in ('pretrained', 'checkpoint') and isinstance(value, str) and '://' in value:
                yield where, value
            else:
                yield from _url_weights(value, where)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _url_weights(value, prefix)


def download_error_message(cfg: 'Config', error: Exception) -> str:
    """One line for a failed download of the pretrained weights a config names: which weights,
    and the ``--cfg-options`` to train without them or from a local file."""
    found = list(_url_weights(cfg.get('model', {}), 'model'))
    reason = str(getattr(error, 'reason', error))
    if not found:
        return (f'a download failed ({reason}); this machine cannot reach the internet: put the '
                'file the config names on disk and point the config at it')
    key, url = found[0]
    if key.endswith('.checkpoint'):  # an init_cfg=dict(type='Pretrained', checkpoint=...)
        init_cfg = key.rsplit('.', 1)[0]
        off = f'{init_cfg}=None'
    else:
        off = f'{key}=None'
    return (f'cannot download the pretrained (ImageNet) weights {url} ({key}; {reason}): this '
            f'machine cannot reach the internet; pass --cfg-options {off} to train from scratch, '
            f'or {key}=/path/to/a/local/copy.pth')


def build_and_run(cfg: 'Config', stage: str) -> None:
    """Build the Runner from ``cfg`` and run ``stage`` ('train' or 'test'), explaining config
    errors."""
    from mmengine.runner import Runner

    from mmseg.registry import RUNNERS
    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        getattr(runner, stage)()
    except URLError as error:  # a download of weights the config names, not the disk
        raise SamWsssError(download_error_message(cfg, error)) from error
    except (KeyError, TypeError) as error:
        explanation = explain_build_error(error)
        if explanation is None:
            raise
        raise SamWsssError(explanation) from error
