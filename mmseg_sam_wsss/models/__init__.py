"""Heads, segmentors and losses registered into mmseg's MODELS."""
from .semi_loss import BalancedSemiLoss  # noqa: F401
from .semi_segmentor import SemiSupervisedSegmentor  # noqa: F401
from .cam_head import CAMHead  # noqa: F401
from .cam_segmentor import CAMSegmentor  # noqa: F401
