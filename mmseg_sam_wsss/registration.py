"""Importing this module registers the plugin into mmseg's registries (the config line
``custom_imports = dict(imports=['mmseg_sam_wsss.registration'])`` does exactly that).

It also allow-lists mmengine's checkpoint types for ``torch.load(weights_only=True)``, so
``--resume`` works under torch >= 2.6. This is the only module that pulls in torch, mmcv,
mmengine and mmseg for registration; nothing in the core imports it.
"""
import importlib

from .engine.checkpoint_safety import allow_mmengine_checkpoint_globals

# Each module registers its components with ``@TRANSFORMS/DATASETS/MODELS/HOOKS.register_module``.
GLUE_MODULES = (
    'mmseg_sam_wsss.datasets',
    'mmseg_sam_wsss.models',
    'mmseg_sam_wsss.engine',
)


def register_all_modules() -> None:
    """Register every component of the plugin and allow mmengine's checkpoint types in torch.load."""
    allow_mmengine_checkpoint_globals()
    for name in GLUE_MODULES:
        importlib.import_module(name)


register_all_modules()
