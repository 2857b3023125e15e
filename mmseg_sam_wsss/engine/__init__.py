"""Hooks registered into mmseg's HOOKS, and the checkpoint-loading fix."""
from .semi_hook import SemiSupervisedHook  # noqa: F401
from .label_source_hook import LabelSourceHook  # noqa: F401
