"""Heads, segmentors and losses registered into mmseg's MODELS."""
from .semi_loss import BalancedSemiLoss  # noqa: F401
from .semi_segmentor import SemiSupervisedSegmentor  # noqa: F401
