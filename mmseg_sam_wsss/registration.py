"""Registry glue: importing the mmseg-facing modules registers them into mmseg's registries."""
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
