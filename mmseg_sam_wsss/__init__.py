"""SAM-enhanced pseudo-labels for weakly supervised semantic segmentation, as an mmseg plugin.

``custom_imports = dict(imports=['mmseg_sam_wsss'])`` in a config registers every component
(transforms, datasets, heads, losses, hooks) into mmseg's registries. The algorithms in
:mod:`mmseg_sam_wsss.core` and the SAM wrapper in :mod:`mmseg_sam_wsss.sam` import neither mmseg
nor mmcv; on a machine without mmseg, importing this package gives only those.
"""
import importlib.util

from .errors import SamWsssError
from .version import __version__

HAS_MMSEG = importlib.util.find_spec('mmseg') is not None

if HAS_MMSEG:
    from .registration import register_all_modules  # noqa: E402
    register_all_modules()

__all__ = ['SamWsssError', '__version__', 'HAS_MMSEG']
