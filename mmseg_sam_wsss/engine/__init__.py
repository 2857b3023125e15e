"""Hooks registered into mmseg's HOOKS, and the checkpoint-loading fix."""
from .semi_hook import SemiSupervisedHook  # noqa: F401
