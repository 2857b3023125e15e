"""SAM-enhanced pseudo-labels for weakly supervised semantic segmentation, as an mmseg plugin.

Importing the package costs nothing: the method (:mod:`mmseg_sam_wsss.core`) and the SAM wrapper
(:mod:`mmseg_sam_wsss.sam`) import neither mmseg nor mmcv, so NumPy tools start at once. A config
registers the mmseg components (transforms, datasets, heads, losses, hooks) with one line::

    custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
"""
from .errors import SamWsssError
from .version import __version__

__all__ = ['SamWsssError', '__version__']
