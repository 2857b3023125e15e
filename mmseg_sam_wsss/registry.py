"""The ``mmseg_sam_wsss`` registry scope: children of mmseg's registries that add nothing.

A config inherited by name, ``_base_ = ['mmseg_sam_wsss::...']``, gets ``_scope_='mmseg_sam_wsss'``
on its components (mmengine's rule for a base config of another package), and mmengine then
imports ``<scope>.registry`` and builds them in the registry of that scope. Our components live
in mmseg's registries (``mmseg_sam_wsss.registration``), so each registry here is an empty child
of mmseg's: a name resolves exactly as it does in the ``mmseg`` scope.
"""
import mmseg.registry as mmseg_registry
from mmengine.registry import Registry

# A component of ours built in this scope must be found even where the config's custom_imports
# were skipped (Config.fromfile(import_custom_modules=False)).
from . import registration  # noqa: F401

SCOPE = 'mmseg_sam_wsss'


def _child_of(parent: Registry) -> Registry:
    """Return an empty registry of ``SCOPE`` that resolves names through ``parent``.

    Args:
        parent (Registry): mmseg's registry of the same kind.

    Returns:
        Registry: The child. A child's lookup reads its parent's table without importing the
        parent's lazy ``locations``, so they are imported here.
    """
    parent.import_from_location()
    # A location is needed: without one, mmengine calls `<scope>.utils.register_all_modules`
    # for a scope it knows (and the scope hook makes ours known).
    return Registry(parent.name, parent=parent, scope=SCOPE,
                    locations=['mmseg_sam_wsss.registration'])


RUNNERS = _child_of(mmseg_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child_of(mmseg_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child_of(mmseg_registry.LOOPS)
HOOKS = _child_of(mmseg_registry.HOOKS)
DATASETS = _child_of(mmseg_registry.DATASETS)
DATA_SAMPLERS = _child_of(mmseg_registry.DATA_SAMPLERS)
TRANSFORMS = _child_of(mmseg_registry.TRANSFORMS)
MODELS = _child_of(mmseg_registry.MODELS)
MODEL_WRAPPERS = _child_of(mmseg_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child_of(mmseg_registry.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child_of(mmseg_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child_of(mmseg_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child_of(mmseg_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child_of(mmseg_registry.PARAM_SCHEDULERS)
METRICS = _child_of(mmseg_registry.METRICS)
EVALUATOR = _child_of(mmseg_registry.EVALUATOR)
TASK_UTILS = _child_of(mmseg_registry.TASK_UTILS)
VISUALIZERS = _child_of(mmseg_registry.VISUALIZERS)
VISBACKENDS = _child_of(mmseg_registry.VISBACKENDS)
LOG_PROCESSORS = _child_of(mmseg_registry.LOG_PROCESSORS)
INFERENCERS = _child_of(mmseg_registry.INFERENCERS)
